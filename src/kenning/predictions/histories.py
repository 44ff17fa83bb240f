"""Purchase histories: the (frequency, recency, age, average spend) summary the customer-base
models are fitted on, from a list of transactions.

Following Fader, Hardie and Lee (the CDNOW studies): purchases on the same day are one
transaction; *frequency* ``x`` counts the repeat transactions (days after the first) up to
the end of calibration; *recency* ``t_x`` is the time from the first transaction to the last,
*age* ``T`` from the first transaction to the end of calibration, both in the chosen time
unit; *monetary* is the mean value of the repeat transactions (the first is left out: it is
often unlike the rest, and the Gamma-Gamma model describes repeat spend). A customer whose
first transaction comes after calibration is not in the cohort. What happens after
calibration, up to the end of observation, is the holdout.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from kenning.errors import FieldError

Floats = np.ndarray[Any, np.dtype[np.float64]]
Ints = np.ndarray[Any, np.dtype[np.int64]]

DAY_US = 86_400_000_000
UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}


@dataclass(frozen=True)
class Histories:
    """One entry per customer of the cohort, in the order of ``customer``."""

    customer: Ints  # the caller's customer codes
    frequency: Floats
    recency: Floats
    age: Floats
    monetary: Floats  # 0 for a customer with no repeat transaction
    holdout_frequency: Floats  # transactions (days) after calibration
    holdout_value: Floats  # their total value
    holdout_length: float  # in the time unit; 0 when there is no holdout
    unit: str

    @property
    def count(self) -> int:
        return len(self.customer)

    @cached_property
    def collapsed(self) -> "Collapsed":
        """The distinct (frequency, recency, age) rows with how many customers share each:
        the likelihood is summed over them, so a million customers cost what their few
        thousand distinct histories cost."""
        return Collapsed.of(self.frequency, self.recency, self.age)


@dataclass(frozen=True)
class Collapsed:
    frequency: Floats
    recency: Floats
    age: Floats
    weight: Floats
    inverse: Ints  # each customer's row

    @classmethod
    def of(cls, frequency: Floats, recency: Floats, age: Floats) -> "Collapsed":
        # a lexicographic sort of three float columns: np.unique(axis=0) sorts them as
        # opaque records, several times slower
        order = np.lexsort((age, recency, frequency))
        columns = [frequency[order], recency[order], age[order]]
        new = _changes(*columns)
        starts = np.flatnonzero(new)
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.cumsum(new) - 1
        return cls(
            frequency=columns[0][starts],
            recency=columns[1][starts],
            age=columns[2][starts],
            weight=np.diff(np.r_[starts, len(order)]).astype(np.float64),
            inverse=inverse,
        )

    @property
    def rows(self) -> int:
        return len(self.weight)

    @property
    def customers(self) -> int:
        return int(self.weight.sum())


def unit_days(unit: str) -> float:
    try:
        return UNIT_DAYS[unit]
    except KeyError:
        raise FieldError(
            f"the time unit is one of {', '.join(UNIT_DAYS)}, not {unit!r}", "time_unit"
        ) from None


def histories(
    customer: Ints,
    time_us: Ints,
    amount: Floats,
    *,
    calibration_end_us: int,
    observation_end_us: int | None = None,
    unit: str = "week",
) -> Histories:
    """The cohort's histories from transactions (customer codes, times in microseconds since
    the epoch, amounts), in any order. Calibration runs to the end of the day of
    ``calibration_end_us``; the holdout from then to the end of the day of
    ``observation_end_us`` (the last transaction's day by default)."""
    days_per_unit = unit_days(unit)
    if not len(customer) == len(time_us) == len(amount):
        raise ValueError("customer, time and amount must have one entry per transaction")
    day = np.floor_divide(time_us, DAY_US)
    calibration_end = calibration_end_us // DAY_US
    observation_end = day.max(initial=calibration_end)
    if observation_end_us is not None:
        observation_end = observation_end_us // DAY_US
    if observation_end < calibration_end:
        raise FieldError("the observation ends before calibration does", "observation_end")
    kept = day <= observation_end
    person, day, value = _per_day(customer[kept], day[kept], amount[kept])
    starts = np.flatnonzero(_changes(person))
    first_day = day[starts]
    cohort = first_day <= calibration_end
    in_calibration = day <= calibration_end
    # per person: days and value in calibration, then in the holdout
    segment = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(person)]))
    calibration_days = np.bincount(segment, weights=in_calibration, minlength=len(starts))
    calibration_value = np.bincount(
        segment, weights=np.where(in_calibration, value, 0.0), minlength=len(starts)
    )
    last_day = np.full(len(starts), -1, dtype=np.int64)
    np.maximum.at(last_day, segment[in_calibration], day[in_calibration])
    holdout_days = np.bincount(segment, weights=~in_calibration, minlength=len(starts))
    holdout_value = np.bincount(
        segment, weights=np.where(in_calibration, 0.0, value), minlength=len(starts)
    )
    frequency = (calibration_days - 1)[cohort]
    repeat_value = (calibration_value - value[starts])[cohort]
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, repeat_value / frequency, 0.0)
    return Histories(
        customer=person[starts][cohort],
        frequency=frequency.astype(np.float64),
        recency=((last_day - first_day)[cohort] / days_per_unit).astype(np.float64),
        age=((calibration_end - first_day)[cohort] / days_per_unit).astype(np.float64),
        monetary=monetary.astype(np.float64),
        holdout_frequency=holdout_days[cohort].astype(np.float64),
        holdout_value=holdout_value[cohort].astype(np.float64),
        holdout_length=float(observation_end - calibration_end) / days_per_unit,
        unit=unit,
    )


def _per_day(customer: Ints, day: Ints, amount: Floats) -> tuple[Ints, Ints, Floats]:
    """One row per customer and day, sorted, with the day's total."""
    order = np.lexsort((day, customer))
    customer, day, amount = customer[order], day[order], amount[order]
    starts = np.flatnonzero(_changes(customer, day))
    totals = np.add.reduceat(amount, starts) if len(starts) else amount[:0]
    return customer[starts], day[starts], totals.astype(np.float64)


def _changes(*columns: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Where a run of equal rows of sorted columns starts."""
    new = np.zeros(len(columns[0]), dtype=bool)
    new[:1] = True
    for column in columns:
        new[1:] |= column[1:] != column[:-1]
    return new
