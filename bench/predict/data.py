"""The customers the fits are timed on: the CDNOW sample as the papers summarise it, and a
seeded synthetic base drawn from BG/NBD and Gamma-Gamma with CDNOW-like parameters.

The synthetic base looks like daily data: ages are whole days (uniform over 1 to 365) and the
last purchase is floored to its day, both in weeks, so customers share rows as they do in a
real export, but far fewer of them than in a base of weekly periods.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from kenning.predictions.histories import Floats, histories
from kenning.predictions.simulate import bgnbd_customers, spends
from kenning.predictions.transactions import read_transactions

CDNOW_FILE = Path(__file__).parents[2] / "tests" / "predictions" / "data" / "cdnow_sample.csv"
CALIBRATION_END = datetime(1997, 9, 30, tzinfo=UTC)

# Fader, Hardie and Lee (2005), the BG/NBD estimates on the CDNOW sample (weeks)
BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Fader and Hardie (2013), the Gamma-Gamma estimates on the same sample (dollars)
GAMMAGAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
MAX_AGE_DAYS = 365


@dataclass(frozen=True)
class Customers:
    """One entry per customer: frequency x, recency t_x and age T in weeks, and the mean
    repeat spend (0 without a repeat purchase)."""

    name: str
    frequency: Floats
    recency: Floats
    age: Floats
    monetary: Floats

    @property
    def count(self) -> int:
        return len(self.frequency)

    @property
    def repeat_buyers(self) -> int:
        return int((self.frequency > 0).sum())


def cdnow() -> Customers:
    """The 2,357 customers of the CDNOW sample, calibration to 1997-09-30, in weeks."""
    sample = read_transactions(
        CDNOW_FILE, customer_column="customer_id", date_column="date", amount_column="amount"
    )
    summary = histories(
        sample.customer, sample.time_us, sample.amount,
        calibration_end_us=int(CALIBRATION_END.timestamp() * 1e6), unit="week",
    )  # fmt: skip
    return Customers(
        "CDNOW", summary.frequency, summary.recency, summary.age, summary.monetary
    )  # fmt: skip


def synthetic(count: int, *, seed: int = 11) -> Customers:
    """``count`` customers drawn from BG/NBD (``BGNBD``) with Gamma-Gamma spends
    (``GAMMAGAMMA``, rounded to cents)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(1, MAX_AGE_DAYS + 1, count) / 7
    frequency, recency = bgnbd_customers(**BGNBD, age=age, rng=rng)
    recency = np.floor(recency * 7) / 7
    monetary = np.round(spends(**GAMMAGAMMA, frequency=frequency, rng=rng), 2)
    # a mean spend that rounds to nothing would be a refund in real data: keep a cent
    monetary = np.where(frequency > 0, np.maximum(monetary, 0.01), 0.0)
    return Customers(f"{count:,} synthetic", frequency, recency, age, monetary)
