"""Purchase histories: the papers' CDNOW summary, and a row-by-row reference on random
transactions."""

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.errors import FieldError
from kenning.predictions.histories import DAY_US, Collapsed, histories
from tests.predictions.cdnow import cdnow

WEEK = 7.0


def test_cdnow_histories_are_the_papers_summary() -> None:
    summary = cdnow()
    assert summary.count == 2357 and summary.unit == "week"
    assert int((summary.frequency > 0).sum()) == 946
    # customer 0001: bought 1997-01-01, 01-18 and 08-02 in calibration, 12-12 after
    first = 0
    assert summary.frequency[first] == 2
    assert summary.recency[first] == pytest.approx(213 / WEEK)
    assert summary.age[first] == pytest.approx(272 / WEEK)
    assert summary.monetary[first] == pytest.approx((29.73 + 14.96) / 2)
    assert summary.holdout_frequency[first] == 1 and summary.holdout_value[first] == 26.48
    assert summary.holdout_length == pytest.approx(273 / WEEK)


transactions = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 40), st.integers(0, 23), st.integers(1, 500)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(transactions, st.integers(0, 40), st.integers(0, 10))
def test_histories_agree_with_a_row_by_row_reference(
    rows: list[tuple[int, int, int, int]], calibration_end: int, extra: int
) -> None:
    customer = np.array([r[0] for r in rows], dtype=np.int64)
    time_us = np.array([r[1] * DAY_US + r[2] * 3_600_000_000 for r in rows], dtype=np.int64)
    amount = np.array([float(r[3]) for r in rows])
    observation_end = calibration_end + extra
    got = histories(
        customer, time_us, amount, calibration_end_us=calibration_end * DAY_US + 5,
        observation_end_us=observation_end * DAY_US, unit="day",
    )  # fmt: skip
    # the reference: each customer's days, totals per day, split at the end of calibration
    days: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for who, day, _, value in rows:
        if day <= observation_end:
            days[who][day] += value
    expected = {}
    for who, spent in sorted(days.items()):
        first = min(spent)
        if first > calibration_end:
            continue
        before = sorted(d for d in spent if d <= calibration_end)
        repeat = [spent[d] for d in before[1:]]
        after = [d for d in spent if d > calibration_end]
        expected[who] = (
            len(before) - 1, before[-1] - first, calibration_end - first,
            sum(repeat) / len(repeat) if repeat else 0.0,
            len(after), sum(spent[d] for d in after),
        )  # fmt: skip
    columns = (got.frequency, got.recency, got.age, got.monetary, got.holdout_frequency,
               got.holdout_value)  # fmt: skip
    actual = {int(who): tuple(c[i] for c in columns) for i, who in enumerate(got.customer)}
    assert actual.keys() == expected.keys()
    for who, values in expected.items():
        assert actual[who] == pytest.approx(values), who
    assert got.holdout_length == extra


def test_collapsed_rows_rebuild_every_customer() -> None:
    summary = cdnow()
    rows = summary.collapsed
    assert rows.customers == summary.count and rows.rows < summary.count
    assert np.array_equal(rows.frequency[rows.inverse], summary.frequency)
    assert np.array_equal(rows.recency[rows.inverse], summary.recency)
    assert np.array_equal(rows.age[rows.inverse], summary.age)
    distinct = set(zip(rows.frequency, rows.recency, rows.age, strict=True))
    assert len(distinct) == rows.rows
    empty = Collapsed.of(np.zeros(0), np.zeros(0), np.zeros(0))
    assert empty.rows == 0 and empty.customers == 0


def test_bad_units_and_spans_are_refused() -> None:
    one = np.zeros(1, dtype=np.int64)
    with pytest.raises(FieldError, match="time unit") as error:
        histories(one, one, np.ones(1), calibration_end_us=0, unit="fortnight")
    assert error.value.field == "time_unit"
    with pytest.raises(FieldError, match="before calibration"):
        histories(one, one, np.ones(1), calibration_end_us=5 * DAY_US, observation_end_us=0)
