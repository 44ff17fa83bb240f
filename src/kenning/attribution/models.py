"""The attribution models by name, and ``attribute``: several models over the same data.

A model is a function from journeys or paths (``Sequences``) to a ``Credit``, whose
keyword-only parameters are its options. Kenning's own models are registered here with
``register_model``, exactly as another package would add one::

    from kenning.attribution.models import register_model
    register_model("my_model", my_model, needs="paths")

``needs`` says what the model reads: ``"paths"`` (it gives the same answer on journeys and on
their aggregate, so ``attribute`` may hand it the aggregate) or ``"journeys"`` (it reads
something paths lack, such as ages, and gets the data as given). ``faster_on_paths``: whether
aggregating first pays for itself even for this model alone (the Markov chain is built per
touch, and 1M journeys have about a fifth as many touches once aggregated).
"""

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kenning.attribution import heuristics, markov, shapley
from kenning.attribution.credit import Credit
from kenning.attribution.journeys import Journeys, Paths, Sequences
from kenning.errors import FieldError

Needs = Literal["paths", "journeys"]
ModelFunction = Callable[..., Credit]


@dataclass(frozen=True)
class Model:
    name: str
    function: ModelFunction
    needs: Needs
    options: tuple[str, ...]
    description: str
    faster_on_paths: bool = False


MODELS: dict[str, Model] = {}


def register_model(
    name: str, function: ModelFunction, *, needs: Needs = "paths", faster_on_paths: bool = False
) -> Model:
    """Add a model under ``name`` (replacing one of that name); its options are the
    function's keyword-only parameters, its description the first paragraph of its
    docstring."""
    parameters = inspect.signature(function).parameters.values()
    options = tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)
    description = (inspect.getdoc(function) or "").split("\n\n")[0].replace("\n", " ")
    model = Model(name, function, needs, options, description, faster_on_paths)
    MODELS[name] = model
    return model


register_model("first_touch", heuristics.first_touch)
register_model("last_touch", heuristics.last_touch)
register_model("last_non_direct", heuristics.last_non_direct)
register_model("linear", heuristics.linear)
register_model("time_decay", heuristics.time_decay, needs="journeys")
register_model("position_based", heuristics.position_based)
register_model("markov", markov.markov, faster_on_paths=True)
register_model("shapley", shapley.shapley)


def attribute(
    data: Journeys | Paths,
    models: Iterable[str] | None = None,
    **options: Any,
) -> dict[str, Credit]:
    """Each named model's credit over ``data``, by model name, in the order asked; by
    default every registered model the data allows (time decay needs journeys with ages).

    ``options`` go to the models that take them (``order=2`` to markov,
    ``half_life_days=3`` to time_decay, ``direct="direct"`` to last_non_direct, ...); an
    option no chosen model takes is refused, as is an unknown model. Journeys are aggregated
    once, for the models that read paths, when more than one of them runs or one is faster
    on paths. Every credit is checked to sum to the data's total conversions and value.

    >>> from kenning.attribution.journeys import paths_from_lists
    >>> paths = paths_from_lists([["search", "email"], ["email"]], [2, 1], values=[20, 5])
    >>> attribute(paths, ["first_touch"])["first_touch"].by_channel()
    {'email': (1.0, 5.0), 'search': (2.0, 20.0)}
    """
    if models is None:
        models = [name for name, model in MODELS.items() if _allows(data, model)]
    chosen = [_model(name) for name in models]
    taken = {option for model in chosen for option in model.options}
    unknown = sorted(set(options) - taken)
    if unknown:
        raise FieldError(
            f"no chosen model takes the option {unknown[0]!r}",
            unknown[0],
        )
    on_paths = [model for model in chosen if model.needs == "paths"]
    aggregate_first = isinstance(data, Journeys) and (
        len(on_paths) > 1 or any(model.faster_on_paths for model in on_paths)
    )
    aggregate: Paths | None = None
    credits: dict[str, Credit] = {}
    for model in chosen:
        source: Sequences = data
        if model.needs == "paths" and aggregate_first and isinstance(data, Journeys):
            aggregate = aggregate or data.aggregate()
            source = aggregate
        credit = model.function(source, **_options_for(model, options))
        if not credit.balanced():
            raise AssertionError(
                f"model {model.name} credits {credit.conversions.sum()} conversions and "
                f"{credit.values.sum()} value of {credit.total_conversions} and "
                f"{credit.total_value}"
            )
        credits[model.name] = credit
    return credits


def _model(name: str) -> Model:
    model = MODELS.get(name)
    if model is None:
        raise FieldError(f"unknown model {name!r} (known: {', '.join(MODELS)})", "models")
    return model


def _allows(data: Sequences, model: Model) -> bool:
    return model.needs == "paths" or (isinstance(data, Journeys) and data.ages is not None)


def _options_for(model: Model, options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if key in model.options}
