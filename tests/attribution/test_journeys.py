import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.attribution.journeys import Journeys, Paths, build_journeys, paths_from_lists

SECOND = 1_000_000
DAY = 86_400 * SECOND
NAMES = ("a", "b", "c", "d")
Expected = list[tuple[list[int], float, float, list[float]]]


def _reference(
    touches: list[tuple[int, int, int]],
    conversions: list[tuple[int, int, float]],
    lookback: int,
) -> tuple[Expected, float]:
    """One profile at a time, straight from the definition: journeys as (channels,
    conversions, value, ages in seconds), sorted; and the untouched conversions."""
    journeys: Expected = []
    untouched = 0.0
    for profile in sorted({p for p, _, _ in touches} | {p for p, _, _ in conversions}):
        # Stable: touches at one instant keep their input order.
        mine = sorted([(t, c) for p, t, c in touches if p == profile], key=lambda tc: tc[0])
        # Conversions at one instant in input order too: the first takes the window.
        ends = sorted([(t, v) for p, t, v in conversions if p == profile], key=lambda tv: tv[0])
        previous: int | None = None
        for time, value in ends:
            floor = time - lookback if previous is None else max(previous, time - lookback)
            window = [(t, c) for t, c in mine if floor < t <= time]
            if window:
                journeys.append(
                    ([c for _, c in window], 1.0, value, [(time - t) / SECOND for t, _ in window])
                )
            else:
                untouched += 1
            previous = time
        after = [(t, c) for t, c in mine if previous is None or t > previous]
        if after:
            last = after[-1][0]
            trailing = [(t, c) for t, c in after if t > last - lookback]
            journeys.append(
                ([c for _, c in trailing], 0.0, 0.0, [(last - t) / SECOND for t, _ in trailing])
            )
    return sorted(journeys, key=repr), untouched


def _as_lists(journeys: Journeys) -> Expected:
    assert journeys.ages is not None
    rows = []
    for i in range(journeys.count):
        span = slice(journeys.offsets[i], journeys.offsets[i + 1])
        rows.append(
            (
                journeys.channels[span].tolist(),
                float(journeys.conversions[i]),
                float(journeys.values[i]),
                journeys.ages[span].tolist(),
            )
        )
    return sorted(rows, key=repr)


def _build(
    touches: list[tuple[int, int, int]], conversions: list[tuple[int, int, float]], lookback: int
) -> Journeys:
    return build_journeys(
        np.array([p for p, _, _ in touches], dtype=np.int64),
        np.array([t for _, t, _ in touches], dtype=np.int64),
        np.array([c for _, _, c in touches], dtype=np.int64),
        np.array([p for p, _, _ in conversions], dtype=np.int64),
        np.array([t for _, t, _ in conversions], dtype=np.int64),
        np.array([v for _, _, v in conversions], dtype=np.float64),
        lookback_seconds=lookback / SECOND,
        names=NAMES,
    )


# Times on a coarse grid so that touches and conversions often share an instant, and
# lookback bounds fall exactly on touches.
times = st.integers(0, 40).map(lambda d: d * DAY // 2)
touch_rows = st.lists(st.tuples(st.integers(0, 5), times, st.integers(0, 3)), max_size=40)
conversion_rows = st.lists(
    st.tuples(st.integers(0, 6), times, st.floats(0, 100, allow_nan=False)), max_size=12
)


@settings(max_examples=200, deadline=None)
@given(touches=touch_rows, conversions=conversion_rows, days=st.integers(1, 10))
def test_build_journeys_matches_the_per_profile_reference(
    touches: list[tuple[int, int, int]], conversions: list[tuple[int, int, float]], days: int
) -> None:
    lookback = days * DAY
    journeys = _build(touches, conversions, lookback)
    expected, untouched = _reference(touches, conversions, lookback)
    assert _as_lists(journeys) == expected
    assert journeys.untouched_conversions == untouched
    assert journeys.total_conversions + untouched == len(conversions)


def test_a_conversion_takes_touches_since_the_previous_one_within_the_lookback() -> None:
    touches = [(1, 0, 0), (1, 1 * DAY, 1), (1, 2 * DAY, 2), (1, 10 * DAY, 3), (1, 20 * DAY, 0)]
    conversions = [(1, 2 * DAY, 50.0), (1, 12 * DAY, 70.0)]
    journeys = _build(touches, conversions, 5 * DAY)
    assert _as_lists(journeys) == sorted(
        [
            ([0, 1, 2], 1.0, 50.0, [172_800.0, 86_400.0, 0.0]),  # the touch at the instant counts
            ([3], 1.0, 70.0, [172_800.0]),  # day 2 belongs to the first conversion
            ([0], 0.0, 0.0, [0.0]),  # trailing, after the last conversion
        ],
        key=repr,
    )


def test_the_lookback_bound_is_exclusive_and_old_touches_fall_out() -> None:
    touches = [(1, 0, 0), (1, 3 * DAY, 1), (2, 0, 2)]
    conversions = [(1, 5 * DAY, 10.0)]
    journeys = _build(touches, conversions, 5 * DAY)
    # Profile 1's touch at day 0 is exactly 5 days before: outside (t - lookback, t].
    assert _as_lists(journeys) == sorted(
        [([1], 1.0, 10.0, [172_800.0]), ([2], 0.0, 0.0, [0.0])], key=repr
    )


def test_a_conversion_without_touches_is_counted_as_untouched() -> None:
    journeys = _build([(1, 0, 0)], [(2, DAY, 30.0), (1, 90 * DAY, 5.0)], 30 * DAY)
    assert journeys.count == 0
    assert journeys.untouched_conversions == 2 and journeys.untouched_value == 35.0


def test_unsorted_rows_give_the_same_journeys_as_sorted_ones() -> None:
    rng = random.Random(4)
    touches = [(rng.randrange(30), rng.randrange(60) * DAY, rng.randrange(4)) for _ in range(400)]
    conversions = [(rng.randrange(30), rng.randrange(60) * DAY, 1.0) for _ in range(60)]
    ordered = sorted(touches, key=lambda r: (r[0], r[1]))
    lookback = 7 * DAY
    assert _as_lists(_build(touches, conversions, lookback)) == _as_lists(
        _build(ordered, conversions, lookback)
    )


def test_the_lookback_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lookback"):
        _build([], [], 0)


def _aggregate_reference(journeys: Journeys) -> dict[tuple[int, ...], tuple[float, float, float]]:
    totals: dict[tuple[int, ...], list[float]] = {}
    for i in range(journeys.count):
        key = tuple(journeys.channels[journeys.offsets[i] : journeys.offsets[i + 1]].tolist())
        row = totals.setdefault(key, [0.0, 0.0, 0.0])
        row[0] += journeys.conversions[i]
        row[1] += journeys.conversions[i] == 0
        row[2] += journeys.values[i]
    return {k: (c, n, v) for k, (c, n, v) in totals.items()}


def _paths_as_dict(paths: Paths) -> dict[tuple[int, ...], tuple[float, float, float]]:
    found = {}
    for i in range(paths.count):
        key = tuple(paths.channels[paths.offsets[i] : paths.offsets[i + 1]].tolist())
        assert key not in found, "a path appears twice"
        found[key] = (paths.conversions[i], paths.nulls[i], paths.values[i])
    return found


@settings(max_examples=60, deadline=None)
@given(
    channels=st.integers(1, 40),
    paths=st.lists(st.lists(st.integers(0, 39), min_size=1, max_size=40), min_size=1, max_size=60),
    seed=st.integers(0, 1000),
)
def test_aggregate_sums_each_distinct_path(
    channels: int, paths: list[list[int]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    picked = [paths[i] for i in rng.integers(0, len(paths), 200)]
    codes = [[c % channels for c in p] for p in picked]
    journeys = Journeys(
        offsets=np.array([0, *np.cumsum([len(p) for p in codes])], dtype=np.int64),
        channels=np.array([c for p in codes for c in p], dtype=np.int16),
        conversions=rng.integers(0, 2, len(codes)).astype(np.float64),
        values=rng.uniform(0, 10, len(codes)),
        names=tuple(f"c{i}" for i in range(channels)),
    )
    aggregate = _paths_as_dict(journeys.aggregate())
    expected = _aggregate_reference(journeys)
    assert aggregate.keys() == expected.keys()
    for key, (c, n, v) in expected.items():
        assert aggregate[key] == pytest.approx((c, n, v))


def test_sequences_refuse_inconsistent_arrays() -> None:
    with pytest.raises(ValueError, match="at least one touch"):
        paths_from_lists([[]], [1])
    with pytest.raises(ValueError, match="no name"):
        Journeys(
            offsets=np.array([0, 1], dtype=np.int64),
            channels=np.array([3], dtype=np.int16),
            conversions=np.ones(1),
            values=np.zeros(1),
            names=("a",),
        )
