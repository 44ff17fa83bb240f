import numpy as np

from kenning.attribution.credit import Credit
from kenning.attribution.journeys import paths_from_lists
from kenning.attribution.models import attribute


def _credit(conversions: list[float], values: list[float]) -> Credit:
    return Credit("m", ("a", "b"), np.array(conversions), np.array(values), 3.0, 30.0)


def test_balanced_means_both_sums_meet_their_totals() -> None:
    assert _credit([1.0, 2.0], [10.0, 20.0]).balanced()
    assert _credit([1.0, 2.0 + 1e-12], [10.0, 20.0]).balanced()  # rounding, not loss
    assert not _credit([1.0, 1.9], [10.0, 20.0]).balanced()
    assert not _credit([1.0, 2.0], [10.0, 19.0]).balanced()


def test_credit_reads_by_channel_and_as_a_dict() -> None:
    paths = paths_from_lists([["a", "b"]], [2], nulls=[2], values=[8])
    credit = attribute(paths, ["markov"])["markov"]
    assert credit.by_channel() == {"a": (1.0, 4.0), "b": (1.0, 4.0)}
    assert credit.to_dict() == {
        "model": "markov",
        "total_conversions": 2.0,
        "total_value": 8.0,
        "channels": [
            {
                "channel": name,
                "conversions": 1.0,
                "value": 4.0,
                "removal_effect": 1.0,
                "value_removal_effect": 1.0,
            }
            for name in ("a", "b")
        ],
    }
