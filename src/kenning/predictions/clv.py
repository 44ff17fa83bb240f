"""Customer lifetime value from a purchase model (BG/NBD or Pareto/NBD) and the Gamma-Gamma
spend model, and how well the fit predicts a holdout period.

Lifetime value over a horizon is the expected spend per transaction times the purchases
expected in each month of the horizon, each month discounted to today: with an annual
discount rate d, a purchase expected y years ahead is worth 1/(1+d)^y. Months (a twelfth of a
year), whatever the time unit, because discounting by day would cost thirty times the work
for the same figure to the cent.
"""

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kenning.errors import FieldError
from kenning.predictions.bgnbd import BetaGeo
from kenning.predictions.fitting import Fit, Floats
from kenning.predictions.gammagamma import GammaGamma
from kenning.predictions.histories import Histories, unit_days
from kenning.predictions.options import ClvOptions
from kenning.predictions.paretonbd import ParetoNBD

DAYS_PER_YEAR = 365.25
# calibration frequencies shown one by one in the holdout table; the rest are pooled
FREQUENCY_BUCKETS = 7


class PurchaseModel(Protocol):
    name: str

    def p_alive(self, x: Floats, t_x: Floats, age: Floats) -> Floats: ...

    def conditional_expected_purchases(
        self, t: float | Floats, x: Floats, t_x: Floats, age: Floats
    ) -> Floats: ...

    def as_dict(self) -> dict[str, float]: ...


PURCHASE_MODELS: dict[str, type[BetaGeo] | type[ParetoNBD]] = {
    BetaGeo.name: BetaGeo,
    ParetoNBD.name: ParetoNBD,
}


@dataclass(frozen=True)
class Fitted:
    """The models fitted on one cohort."""

    purchases: PurchaseModel
    spend: GammaGamma | None  # None when no customer has a repeat transaction with a value
    fits: tuple[Fit, ...]


@dataclass(frozen=True)
class CustomerValues:
    """Per customer of the cohort, in the order of ``Histories.customer``."""

    p_alive: Floats
    expected_purchases: Floats  # over the horizon
    expected_spend: Floats  # per transaction (NaN without a spend model)
    clv: Floats  # discounted, over the horizon


def fit_models(histories: Histories, options: ClvOptions) -> Fitted:
    if histories.count == 0:
        raise FieldError("no customer made a purchase before the end of calibration", "customers")
    purchases, purchase_fit = PURCHASE_MODELS[options.model].fit(histories.collapsed)
    spend: GammaGamma | None = None
    fits = [purchase_fit]
    if ((histories.frequency > 0) & (histories.monetary > 0)).any():
        spend, spend_fit = GammaGamma.fit(histories.frequency, histories.monetary)
        fits.append(spend_fit)
    return Fitted(purchases=purchases, spend=spend, fits=tuple(fits))


def customer_values(fitted: Fitted, histories: Histories, options: ClvOptions) -> CustomerValues:
    rows = histories.collapsed
    x, t_x, age = rows.frequency, rows.recency, rows.age
    model = fitted.purchases
    days = unit_days(histories.unit)
    horizon = options.horizon_days / days
    months = math.ceil(options.horizon_days / (DAYS_PER_YEAR / 12))
    discounted = np.zeros(rows.rows)
    before = np.zeros(rows.rows)
    for month in range(1, months + 1):
        ends = min(month * DAYS_PER_YEAR / 12, options.horizon_days)
        upto = model.conditional_expected_purchases(ends / days, x, t_x, age)
        discounted += (upto - before) / (1 + options.discount_rate) ** (ends / DAYS_PER_YEAR)
        before = upto
    spend = (
        fitted.spend.expected_spend(histories.frequency, histories.monetary)
        if fitted.spend is not None
        else np.full(histories.count, np.nan)
    )
    expected = model.conditional_expected_purchases(horizon, x, t_x, age)
    return CustomerValues(
        p_alive=model.p_alive(x, t_x, age)[rows.inverse],
        expected_purchases=expected[rows.inverse],
        expected_spend=spend,
        clv=discounted[rows.inverse] * spend,
    )


def holdout_report(fitted: Fitted, histories: Histories) -> dict[str, Any] | None:
    """The fitted model's forecast of the holdout beside what happened: in total, per
    customer, and by calibration frequency (Fader, Hardie and Lee's conditional expectations
    table). None when there is no holdout."""
    if histories.holdout_length <= 0:
        return None
    model = fitted.purchases
    predicted = model.conditional_expected_purchases(
        histories.holdout_length, histories.frequency, histories.recency, histories.age
    )
    actual = histories.holdout_frequency
    bucket = np.minimum(histories.frequency, FREQUENCY_BUCKETS).astype(np.int64)
    table = []
    for value in range(FREQUENCY_BUCKETS + 1):
        members = bucket == value
        if members.any():
            table.append({
                "frequency": f"{value}+" if value == FREQUENCY_BUCKETS else str(value),
                "customers": int(members.sum()),
                "actual": float(actual[members].mean()),
                "predicted": float(predicted[members].mean()),
            })  # fmt: skip
    report: dict[str, Any] = {
        "length": histories.holdout_length,
        "unit": histories.unit,
        "customers": histories.count,
        "actual_purchases": float(actual.sum()),
        "predicted_purchases": float(predicted.sum()),
        "mean_absolute_error": float(np.abs(predicted - actual).mean()),
        "correlation": _correlation(predicted, actual),
        "by_frequency": table,
    }
    if fitted.spend is not None:
        report["spend"] = _spend_holdout(fitted.spend, histories)
    return report


def _spend_holdout(spend: GammaGamma, histories: Histories) -> dict[str, Any]:
    """Expected spend per transaction against the holdout's mean, for the customers who
    bought in both periods."""
    both = (histories.frequency > 0) & (histories.holdout_frequency > 0)
    predicted = spend.expected_spend(histories.frequency[both], histories.monetary[both])
    actual = histories.holdout_value[both] / histories.holdout_frequency[both]
    return {
        "customers": int(both.sum()),
        "actual_mean": float(actual.mean()) if both.any() else None,
        "predicted_mean": float(predicted.mean()) if both.any() else None,
    }


def _correlation(a: Floats, b: Floats) -> float | None:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])
