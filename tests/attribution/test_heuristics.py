import numpy as np
import pytest
from hypothesis import given, settings

from kenning.attribution import heuristics
from kenning.attribution.journeys import paths_from_lists
from kenning.errors import FieldError
from tests.attribution.reference import (
    Journey,
    heuristic_reference,
    journey_lists,
    to_journeys,
)

MODELS = {
    "first_touch": heuristics.first_touch,
    "last_touch": heuristics.last_touch,
    "last_non_direct": heuristics.last_non_direct,
    "linear": heuristics.linear,
    "position_based": heuristics.position_based,
    "time_decay": heuristics.time_decay,
}


def _assert_credit_equal(
    got: dict[str, tuple[float, float]], want: dict[str, tuple[float, float]]
) -> None:
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-9, abs=1e-9), name


@pytest.mark.parametrize("model", sorted(MODELS))
@settings(max_examples=60, deadline=None)
@given(data=journey_lists())
def test_each_heuristic_matches_the_per_journey_reference(
    model: str, data: tuple[list[Journey], tuple[str, ...]]
) -> None:
    journeys, names = data
    # Make the last channel "direct" so last non-direct has something to skip.
    names = (*names[:-1], "direct")
    credit = MODELS[model](to_journeys(journeys, names))
    _assert_credit_equal(credit.by_channel(), heuristic_reference(model, journeys, names))


@pytest.mark.parametrize("model", sorted(set(MODELS) - {"time_decay"}))
@settings(max_examples=30, deadline=None)
@given(data=journey_lists())
def test_heuristics_give_the_same_credit_on_journeys_and_their_aggregate(
    model: str, data: tuple[list[Journey], tuple[str, ...]]
) -> None:
    journeys = to_journeys(*data)
    _assert_credit_equal(
        MODELS[model](journeys.aggregate()).by_channel(), MODELS[model](journeys).by_channel()
    )


def test_last_non_direct_skips_direct_and_keeps_an_all_direct_journey() -> None:
    paths = paths_from_lists(
        [["email", "direct", "direct"], ["direct", "direct"], ["direct", "search"]],
        [1, 2, 4],
        values=[10, 20, 40],
    )
    credit = heuristics.last_non_direct(paths).by_channel()
    assert credit == {"direct": (2.0, 20.0), "email": (1.0, 10.0), "search": (4.0, 40.0)}


def test_last_non_direct_is_last_touch_when_no_channel_is_direct() -> None:
    paths = paths_from_lists([["email", "search"], ["search", "email"]], [1, 3])
    assert heuristics.last_non_direct(paths).by_channel() == {
        "email": (3.0, 0.0),
        "search": (1.0, 0.0),
    }


def test_position_based_for_one_two_and_many_touches() -> None:
    one = heuristics.position_based(paths_from_lists([["a"]], [1])).by_channel()
    assert one == {"a": (1.0, 0.0)}
    two = heuristics.position_based(paths_from_lists([["a", "b"]], [1])).by_channel()
    assert two == {"a": (0.5, 0.0), "b": (0.5, 0.0)}
    many = heuristics.position_based(paths_from_lists([["a", "b", "c", "d"]], [1]))
    assert many.conversions.tolist() == pytest.approx([0.4, 0.1, 0.1, 0.4])
    uneven = heuristics.position_based(paths_from_lists([["a", "b"]], [1]), first=0.6, last=0.2)
    assert uneven.conversions.tolist() == pytest.approx([0.75, 0.25])


def test_a_channel_touched_twice_gets_both_shares() -> None:
    credit = heuristics.linear(paths_from_lists([["a", "b", "a"]], [3]))
    assert credit.conversions.tolist() == pytest.approx([2.0, 1.0])


def test_time_decay_halves_a_touch_one_half_life_older() -> None:
    week = 7 * 86_400.0
    journeys = to_journeys([Journey([0, 1], 1.0, 30.0, [week, 0.0])], ("old", "new"))
    credit = heuristics.time_decay(journeys)
    assert credit.conversions.tolist() == pytest.approx([1 / 3, 2 / 3])
    assert credit.values.tolist() == pytest.approx([10.0, 20.0])
    halved = heuristics.time_decay(journeys, half_life_days=3.5)
    assert halved.conversions.tolist() == pytest.approx([1 / 5, 4 / 5])


def test_time_decay_of_very_old_touches_still_shares_everything() -> None:
    ancient = 10_000 * 86_400.0  # 2 ** (-age / half-life) underflows to 0 for each
    journeys = to_journeys([Journey([0, 1], 1.0, 0.0, [ancient, ancient])], ("a", "b"))
    assert heuristics.time_decay(journeys).conversions.tolist() == pytest.approx([0.5, 0.5])


def test_time_decay_refuses_paths_without_ages() -> None:
    with pytest.raises(FieldError, match="time decay needs each touch's time"):
        heuristics.time_decay(paths_from_lists([["a"]], [1]))


def test_time_decay_refuses_a_half_life_that_is_not_positive() -> None:
    journeys = to_journeys([Journey([0], 1.0, 0.0, [0.0])], ("a",))
    with pytest.raises(FieldError) as raised:
        heuristics.time_decay(journeys, half_life_days=0)
    assert raised.value.field == "half_life_days"


def test_position_based_refuses_shares_over_one() -> None:
    with pytest.raises(FieldError):
        heuristics.position_based(paths_from_lists([["a"]], [1]), first=0.7, last=0.5)


def test_empty_data_credits_nothing() -> None:
    empty = paths_from_lists([], [])
    for model, function in MODELS.items():
        if model == "time_decay":
            continue
        credit = function(empty)
        assert credit.conversions.sum() == 0 and credit.balanced()
    assert np.array_equal(heuristics.first_touch(empty).values, np.zeros(0))
