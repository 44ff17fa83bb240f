"""Lifecycle stage of each customer, from the dates of their orders.

The rules, in order (the first that holds decides; days are counted back from the run):

- ``new``: the first order is at most ``new_days`` old (default 30);
- ``reactivated``: the last order is at most ``active_days`` old (default 90) and came more
  than ``lapsed_days`` (default 180) after the order before it: a lapsed customer came back;
- ``active``: the last order is at most ``active_days`` old;
- ``at_risk``: the last order is older than ``active_days`` but at most ``lapsed_days``;
- ``lapsed``: the last order is older than ``lapsed_days``.

A person with no order has no stage.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from kenning.errors import FieldError
from kenning.predictions.histories import Floats

STAGES = ("new", "reactivated", "active", "at_risk", "lapsed")


@dataclass(frozen=True)
class LifecycleRules:
    new_days: float = 30.0
    active_days: float = 90.0
    lapsed_days: float = 180.0

    def __post_init__(self) -> None:
        if not (self.new_days > 0 and 0 < self.active_days < self.lapsed_days):
            raise FieldError(
                "the windows are positive and active_days is shorter than lapsed_days",
                "predictions.lifecycle",
            )

    def stages(
        self, days_since_first: Floats, days_since_last: Floats, gap_before_last: Floats
    ) -> np.ndarray[Any, np.dtype[np.object_]]:
        """Each customer's stage; ``gap_before_last`` is the days between their last order
        and the one before it (NaN for a single order)."""
        recent = days_since_last <= self.active_days
        returned = recent & (np.nan_to_num(gap_before_last, nan=0.0) > self.lapsed_days)
        choices = [
            days_since_first <= self.new_days,
            returned,
            recent,
            days_since_last <= self.lapsed_days,
        ]
        return np.select(choices, list(STAGES[:4]), default=STAGES[4]).astype(object)
