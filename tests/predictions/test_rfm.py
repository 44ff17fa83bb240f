"""RFM: quintile scores by rank with ties sharing the lowest, and the segment grid."""

import numpy as np
import pytest

from kenning.predictions.rfm import GRID, SEGMENTS, quintile_scores, rfm


def test_distinct_values_fall_into_fifths() -> None:
    values = np.arange(100, dtype=np.float64)[::-1]  # order does not matter
    scores = quintile_scores(values)
    assert [int((scores == s).sum()) for s in range(1, 6)] == [20] * 5
    assert scores[values.argmax()] == 5 and scores[values.argmin()] == 1
    assert quintile_scores(np.array([7.0])).tolist() == [1]
    assert quintile_scores(np.zeros(0)).tolist() == []


def test_ties_share_the_score_of_the_lowest_of_them() -> None:
    # most bought once: they all score 1, whatever their position in the file
    orders = np.array([1.0] * 70 + [2.0] * 20 + [5.0] * 9 + [40.0])
    scores = quintile_scores(orders)
    assert set(scores[:70]) == {1} and set(scores[70:90]) == {4} and set(scores[90:]) == {5}


@pytest.mark.parametrize(
    ("recency", "frequency", "monetary", "segment"),
    [(5, 5, 5, "Champions"), (5, 1, 1, "New"), (4, 1, 1, "Promising"), (1, 1, 1, "Lost"),
     (1, 5, 4, "Can't lose"), (2, 4, 3, "At risk"), (3, 2, 3, "Need attention"),
     (3, 5, 4, "Loyal"), (2, 1, 2, "About to sleep"), (1, 2, 1, "Hibernating"),
     (5, 3, 2, "Potential loyalists")],
)  # fmt: skip
def test_the_grid_names_every_segment(
    recency: int, frequency: int, monetary: int, segment: str
) -> None:
    combined = int(np.floor((frequency + monetary) / 2 + 0.5))
    assert GRID[recency - 1][combined - 1] == segment
    assert {name for row in GRID for name in row} == set(SEGMENTS)


def test_customers_are_scored_against_each_other() -> None:
    rng = np.random.default_rng(1)
    n = 1_000
    days = rng.uniform(0, 400, n)
    orders = rng.integers(1, 12, n).astype(np.float64)
    spend = orders * rng.uniform(10, 90, n)
    found = rfm(days, orders, spend)
    # the most recent fifth scores recency 5, the most frequent buyer frequency 5
    assert (found.recency[days < np.quantile(days, 0.19)] == 5).all()
    assert found.frequency[orders.argmax()] == 5 and found.monetary[spend.argmin()] == 1
    assert found.score_text(0) == f"{found.recency[0]}{found.frequency[0]}{found.monetary[0]}"
    best = (found.recency == 5) & (found.frequency == 5) & (found.monetary == 5)
    assert best.any() and set(found.segment[best]) == {"Champions"}
