"""Attribution: which channels a conversion's credit goes to.

``journeys.py`` (journeys from touch and conversion rows, their aggregate into paths),
``pathfile.py`` (paths read from an aggregated path file), ``heuristics.py`` (first, last,
last non-direct, linear, time decay, position-based), ``markov.py`` (the Markov chain model,
solved exactly), ``shapley.py`` (the Shapley value over channel sets, exact),
``credit.py`` (a model's answer), ``models.py`` (the models by name; ``attribute``),
``roi.py`` (spend beside credit). See docs/attribution.md.
"""

from kenning.attribution.credit import Credit
from kenning.attribution.journeys import Journeys, Paths, build_journeys, paths_from_lists
from kenning.attribution.models import MODELS, attribute, register_model
from kenning.attribution.pathfile import PathFileError, read_path_file

__all__ = [
    "MODELS",
    "Credit",
    "Journeys",
    "PathFileError",
    "Paths",
    "attribute",
    "build_journeys",
    "paths_from_lists",
    "read_path_file",
    "register_model",
]
