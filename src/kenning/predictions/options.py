"""How lifetime value is asked for: the purchase model, the horizon, the discount rate.
Kept apart from the models so that reading settings does not import scipy."""

from dataclasses import dataclass

from kenning.errors import FieldError

PURCHASE_MODEL_NAMES = ("bgnbd", "paretonbd")


@dataclass(frozen=True)
class ClvOptions:
    model: str = "bgnbd"
    horizon_days: float = 365.0
    discount_rate: float = 0.10  # a year

    def __post_init__(self) -> None:
        if self.model not in PURCHASE_MODEL_NAMES:
            known = ", ".join(PURCHASE_MODEL_NAMES)
            raise FieldError(f"the purchase model is one of {known}, not {self.model!r}", "model")
        if not self.horizon_days > 0:
            raise FieldError("the horizon must be longer than zero days", "horizon")
        if not 0 <= self.discount_rate < 1:
            raise FieldError("the discount rate is a yearly fraction in [0, 1)", "discount_rate")
