"""Lifecycle stages: each rule, in order, at its edges."""

import numpy as np
import pytest

from kenning.errors import FieldError
from kenning.predictions.lifecycle import LifecycleRules

NAN = float("nan")


@pytest.mark.parametrize(
    ("first", "last", "gap", "stage"),
    [
        (10, 10, NAN, "new"),
        (30, 2, 28, "new"),  # a new customer's second order: still new
        (31, 31, NAN, "active"),
        (400, 90, 20, "active"),
        (400, 5, 180, "active"),  # a gap of exactly lapsed_days is no lapse
        (400, 5, 181, "reactivated"),
        (400, 91, 300, "at_risk"),  # came back, but that was long ago
        (400, 180, NAN, "at_risk"),
        (400, 181, NAN, "lapsed"),
    ],
)
def test_each_rule_at_its_edges(first: float, last: float, gap: float, stage: str) -> None:
    found = LifecycleRules().stages(np.array([first]), np.array([last]), np.array([gap]))
    assert found.tolist() == [stage]


def test_windows_are_checked() -> None:
    with pytest.raises(FieldError):
        LifecycleRules(active_days=200, lapsed_days=100)
    with pytest.raises(FieldError):
        LifecycleRules(new_days=0)
    assert LifecycleRules(new_days=7, active_days=30, lapsed_days=60).stages(
        np.array([8.0]), np.array([31.0]), np.array([NAN])
    ).tolist() == ["at_risk"]
