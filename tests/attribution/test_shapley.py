import random

import numpy as np
import pytest
from hypothesis import given, settings

from kenning.attribution.journeys import Journeys, paths_from_lists
from kenning.attribution.shapley import MAX_CHANNELS, channel_sets, shapley
from kenning.errors import FieldError
from tests.attribution.reference import (
    Journey,
    journey_lists,
    names_for,
    random_journeys,
    shapley_by_enumeration,
    to_journeys,
)


@settings(max_examples=60, deadline=None)
@given(data=journey_lists(max_channels=6))
def test_shapley_matches_full_enumeration_of_coalitions(
    data: tuple[list[Journey], tuple[str, ...]],
) -> None:
    journeys, names = data
    credit = shapley(to_journeys(journeys, names))
    expected = shapley_by_enumeration(journeys, len(names))
    assert credit.conversions.tolist() == pytest.approx([c for c, _ in expected], abs=1e-9)
    assert credit.values.tolist() == pytest.approx([v for _, v in expected], abs=1e-7)


@pytest.mark.parametrize("channels", [8, 10])
def test_shapley_matches_full_enumeration_for_up_to_ten_channels(channels: int) -> None:
    journeys = random_journeys(random.Random(channels), 300, channels, max_length=8)
    credit = shapley(to_journeys(journeys, names_for(channels)))
    expected = shapley_by_enumeration(journeys, channels)
    assert credit.conversions.tolist() == pytest.approx([c for c, _ in expected], abs=1e-9)
    assert credit.values.tolist() == pytest.approx([v for _, v in expected], abs=1e-7)


def test_order_and_repeats_within_a_journey_do_not_matter() -> None:
    a = shapley(paths_from_lists([["x", "y", "x", "z"]], [1], values=[9]))
    b = shapley(paths_from_lists([["z", "y", "x"]], [1], values=[9]))
    assert a.conversions.tolist() == b.conversions.tolist() == pytest.approx([1 / 3] * 3)
    assert a.values.tolist() == pytest.approx([3.0, 3.0, 3.0])


def test_channel_sets_are_bitmasks_up_to_64_channels() -> None:
    names = names_for(MAX_CHANNELS)
    journeys = Journeys(
        offsets=np.array([0, 2, 3], dtype=np.int64),
        channels=np.array([63, 0, 5], dtype=np.int16),
        conversions=np.array([1.0, 1.0]),
        values=np.zeros(2),
        names=names,
    )
    assert channel_sets(journeys).tolist() == [(1 << 63) | 1, 1 << 5]
    assert shapley(journeys).conversions[[0, 5, 63]].tolist() == [0.5, 1.0, 0.5]


def test_more_than_64_channels_are_refused() -> None:
    journeys = Journeys(
        offsets=np.array([0, 1], dtype=np.int64),
        channels=np.array([0], dtype=np.int16),
        conversions=np.ones(1),
        values=np.zeros(1),
        names=names_for(MAX_CHANNELS + 1),
    )
    with pytest.raises(FieldError, match="at most 64 channels"):
        shapley(journeys)


def test_twenty_channels_are_exact() -> None:
    # Too many coalitions (2^20) to enumerate in a test, but each journey's share is known:
    # its conversions split evenly among its distinct channels.
    journeys = random_journeys(random.Random(20), 2_000, 20, max_length=12)
    credit = shapley(to_journeys(journeys, names_for(20)))
    expected = [0.0] * 20
    for journey in journeys:
        for channel in set(journey.channels):
            expected[channel] += journey.conversions / len(set(journey.channels))
    assert credit.conversions.tolist() == pytest.approx(expected, abs=1e-9)
