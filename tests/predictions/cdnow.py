"""The CDNOW sample as the papers summarise it: 39 weeks of calibration ending 1997-09-30,
weeks as the unit, the 39 weeks after as the holdout."""

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np

from kenning.predictions.histories import Floats, Histories, histories
from kenning.predictions.transactions import Transactions, read_transactions

FILE = Path(__file__).parent / "data" / "cdnow_sample.csv"
CALIBRATION_END = datetime(1997, 9, 30, tzinfo=UTC)
OBSERVATION_END = datetime(1998, 6, 30, tzinfo=UTC)


@cache
def transactions() -> Transactions:
    return read_transactions(
        FILE, customer_column="customer_id", date_column="date", amount_column="amount"
    )


@cache
def cdnow() -> Histories:
    sample = transactions()
    return histories(
        sample.customer, sample.time_us, sample.amount,
        calibration_end_us=int(CALIBRATION_END.timestamp() * 1e6),
        observation_end_us=int(OBSERVATION_END.timestamp() * 1e6), unit="week",
    )  # fmt: skip


def central_differences(function: Callable[[Floats], float], point: Floats) -> Floats:
    """A reference gradient: (f(x + h) - f(x - h)) / 2h along each axis."""
    slopes = np.zeros(len(point))
    for axis in range(len(point)):
        step = np.zeros(len(point))
        step[axis] = 1e-6 * max(1.0, abs(point[axis]))
        slopes[axis] = (function(point + step) - function(point - step)) / (2 * step[axis])
    return slopes
