"""The ``predictions`` configuration section: what an order is, and how the models run.

::

    predictions:
      order_event: Order Completed     # the purchase event
      value: [properties.revenue, properties.total]   # the first number found is its value
      model: bgnbd                     # or paretonbd: the purchase model lifetime value uses
      time_unit: week
      horizon_days: 365                # lifetime value over this long
      discount_rate: 0.10              # a year
      holdout_days: 90                 # the fit is checked on the last 90 days, refitted on all
      propensity_window_days: 30       # propensity: to buy (or not) within this long
      schedule_hours: 24               # a server reruns every model this often; 0: never
      lifecycle: {new_days: 30, active_days: 90, lapsed_days: 180}
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from kenning.errors import FieldError
from kenning.journeys.conversions import VALUE_PATHS, Conversion
from kenning.predictions.histories import unit_days
from kenning.predictions.lifecycle import LifecycleRules
from kenning.predictions.options import ClvOptions

SECTION = "predictions"


@dataclass(frozen=True)
class PredictionSettings:
    order_event: str = "Order Completed"
    value: tuple[str, ...] = VALUE_PATHS
    model: str = "bgnbd"
    time_unit: str = "week"
    horizon_days: float = 365.0
    discount_rate: float = 0.10
    holdout_days: float = 90.0
    propensity_window_days: float = 30.0
    schedule_hours: float = 24.0
    lifecycle: LifecycleRules = field(default_factory=LifecycleRules)

    def __post_init__(self) -> None:
        self.clv_options()  # refuses a bad model, horizon or rate
        unit_days(self.time_unit)
        for name in ("holdout_days", "schedule_hours"):
            if getattr(self, name) < 0:
                raise FieldError("at least 0", name)
        if self.propensity_window_days <= 0:
            raise FieldError("a positive number of days", "propensity_window_days")

    def clv_options(self) -> ClvOptions:
        return ClvOptions(self.model, self.horizon_days, self.discount_rate)

    def orders(self) -> Conversion:
        return Conversion(self.order_event, value=self.value)

    @classmethod
    def from_config(cls, section: object) -> "PredictionSettings":
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise FieldError("predictions is a mapping", SECTION)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise FieldError(f"unknown setting {unknown[0]!r}", f"{SECTION}.{unknown[0]}")
        values: dict[str, Any] = {}
        for name, value in section.items():
            if name == "lifecycle":
                values[name] = _lifecycle(value)
            elif name == "value":
                paths = [value] if isinstance(value, str) else value
                if (
                    not isinstance(paths, list)
                    or not paths
                    or not all(isinstance(p, str) and p for p in paths)
                ):
                    raise FieldError("a property path or a list of them", f"{SECTION}.value")
                values[name] = tuple(paths)
            elif name in {"order_event", "model", "time_unit"}:
                if not isinstance(value, str) or not value:
                    raise FieldError("a name", f"{SECTION}.{name}")
                values[name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise FieldError("a number", f"{SECTION}.{name}")
                values[name] = float(value)
        try:
            return cls(**values)
        except FieldError as error:
            raise FieldError(error.message, f"{SECTION}.{error.field}") from None


def _lifecycle(value: object) -> LifecycleRules:
    known = {"new_days", "active_days", "lapsed_days"}
    if not isinstance(value, Mapping) or set(value) - known:
        raise FieldError(f"takes {', '.join(sorted(known))}", f"{SECTION}.lifecycle")
    for name, days in value.items():
        if isinstance(days, bool) or not isinstance(days, int | float):
            raise FieldError("a number of days", f"{SECTION}.lifecycle.{name}")
    return LifecycleRules(**{k: float(v) for k, v in value.items()})
