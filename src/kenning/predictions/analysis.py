"""Predictions asked as the CLI and the API ask them: a request in, a JSON-ready answer out.

- ``run_and_reevaluate``: every model refitted on the store and everyone scored; then every
  audience evaluated again, since conditions may read the new scores;
- ``clv_of_transactions``: the customer-base models fitted on a transactions file, with the
  holdout fit and each customer's values.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kenning.errors import FieldError
from kenning.journeys.declarations import parse_time
from kenning.predictions.clv import (
    PURCHASE_MODELS,
    CustomerValues,
    customer_values,
    fit_models,
    holdout_report,
)
from kenning.predictions.histories import Histories, histories
from kenning.predictions.options import ClvOptions
from kenning.predictions.transactions import read_transactions

if TYPE_CHECKING:
    from kenning.settings import Settings
    from kenning.store.store import Store


@dataclass(frozen=True)
class ClvAnswer:
    report: dict[str, Any]
    histories: Histories
    values: CustomerValues  # by the first model asked
    names: tuple[str, ...]  # customer codes' names

    def score_rows(self) -> list[dict[str, Any]]:
        """One row per customer: their history and what the first model expects of them."""
        h, v = self.histories, self.values
        return [
            {
                "customer": self.names[int(h.customer[i])],
                "frequency": int(h.frequency[i]),
                "recency": float(h.recency[i]),
                "T": float(h.age[i]),
                "monetary": float(h.monetary[i]),
                "p_alive": float(v.p_alive[i]),
                "expected_purchases": float(v.expected_purchases[i]),
                "expected_spend": _number(float(v.expected_spend[i])),
                "clv": _number(float(v.clv[i])),
            }
            for i in range(h.count)
        ]


def run_and_reevaluate(
    store: "Store", settings: "Settings", *, models: Sequence[str] | None, as_of: str | None
) -> dict[str, Any]:
    # scikit-learn (the propensity and lookalike models) comes with a run, not with the API
    from kenning.audiences.membership import ENTERED, EXITED
    from kenning.predictions.run import run_predictions

    ran = run_predictions(
        store, settings.predictions, settings.journeys, models=models,
        as_of=parse_time(as_of, "as_of"), consent=settings.privacy.consent,
    )  # fmt: skip
    recorded = store.evaluate_audiences_now()
    ran["audiences"] = {"entered": recorded.count(ENTERED), "exited": recorded.count(EXITED)}
    return ran


def clv_of_transactions(
    path: Path,
    *,
    customer_column: str,
    date_column: str,
    amount_column: str,
    calibration_end: str | None,
    observation_end: str | None = None,
    date_format: str | None = None,
    unit: str = "week",
    models: Sequence[str] = ("bgnbd", "paretonbd"),
    horizon_days: float = 365.0,
    discount_rate: float = 0.10,
) -> ClvAnswer:
    """Fit each purchase model asked (and Gamma-Gamma) on the transactions in ``path``,
    calibrated up to ``calibration_end`` (the last transaction's day by default: no holdout)
    and checked against the holdout after it."""
    if not models:
        raise FieldError("name at least one model", "models")
    for model in models:
        if model not in PURCHASE_MODELS:
            raise FieldError(f"the models are {', '.join(PURCHASE_MODELS)}, not {model!r}",
                             "models")  # fmt: skip
    transactions = read_transactions(
        path, customer_column=customer_column, date_column=date_column,
        amount_column=amount_column, date_format=date_format,
    )  # fmt: skip
    if not transactions.count:
        raise FieldError("the file holds no transaction", "transactions")
    last = int(transactions.time_us.max())
    calibration = _instant(calibration_end, "calibration_end", last)
    observation = _instant(observation_end, "observation_end", last)
    summary = histories(
        transactions.customer, transactions.time_us, transactions.amount,
        calibration_end_us=calibration, observation_end_us=observation, unit=unit,
    )  # fmt: skip
    report: dict[str, Any] = {
        "transactions": transactions.count,
        "customers": summary.count,
        "calibration_end": _day(calibration),
        "observation_end": _day(max(observation, calibration)),
        "time_unit": unit,
        "horizon_days": horizon_days,
        "discount_rate": discount_rate,
        "models": {},
    }
    first_values: CustomerValues | None = None
    for model in models:
        options = ClvOptions(model=model, horizon_days=horizon_days, discount_rate=discount_rate)
        fitted = fit_models(summary, options)
        purchase_fit, *spend_fit = fitted.fits
        values = customer_values(fitted, summary, options)
        report["models"][model] = {
            **purchase_fit.as_dict(),
            "holdout": holdout_report(fitted, summary),
            "mean_p_alive": float(values.p_alive.mean()),
            "expected_purchases": float(values.expected_purchases.sum()),
        }
        if spend_fit and "gammagamma" not in report:
            report["gammagamma"] = spend_fit[0].as_dict()
        first_values = first_values or values
    assert first_values is not None
    return ClvAnswer(report, summary, first_values, transactions.names)


def _instant(value: str | None, field: str, default_us: int) -> int:
    moment: datetime | None = parse_time(value, field)
    return default_us if moment is None else int(moment.timestamp() * 1_000_000)


def _day(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).date().isoformat()


def _number(value: float) -> float | None:
    return None if value != value else value  # NaN: no spend model
