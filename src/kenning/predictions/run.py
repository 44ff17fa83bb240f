"""``kenning predict run``: every model refitted on the event log and every customer scored,
the scores written onto profiles in one transaction per model.

The orders (``PredictionSettings.order_event``, valued by its first numeric value path) are
read once, per person (profiles merged count as one). Each model turns them into scores and
a report (the fit, its diagnostics, how many it scored: the model card kept with the run):

- ``rfm``: rfm_recency, rfm_frequency, rfm_monetary (1 to 5), rfm_score ("545"),
  rfm_segment;
- ``clv``: p_alive, expected_purchases (over the horizon), expected_order_value, clv
  (discounted), from BG/NBD or Pareto/NBD and Gamma-Gamma; its fit is checked first on a
  holdout (the last ``holdout_days``), then refitted on everything to score;
- ``lifecycle``: lifecycle_stage.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from kenning.errors import FieldError
from kenning.journeys.touch_arrays import ConversionArrays, read_conversions
from kenning.predictions.clv import customer_values, fit_models, holdout_report
from kenning.predictions.histories import DAY_US, histories
from kenning.predictions.rfm import rfm
from kenning.predictions.scores import replace_scores, score_table
from kenning.predictions.settings import PredictionSettings

if TYPE_CHECKING:
    from kenning.journeys.settings import JourneySettings
    from kenning.store.store import Store


@dataclass(frozen=True)
class Orders:
    """Each customer's orders as of the run: person ids, and per order its person's index,
    its time and value."""

    people: np.ndarray[Any, np.dtype[np.int64]]
    customer: np.ndarray[Any, np.dtype[np.int64]]  # into ``people``
    time_us: np.ndarray[Any, np.dtype[np.int64]]
    value: np.ndarray[Any, np.dtype[np.float64]]
    as_of_us: int

    @classmethod
    def of(cls, found: ConversionArrays, as_of: datetime) -> "Orders":
        people, customer = np.unique(found.person, return_inverse=True)
        return cls(people, customer.astype(np.int64), found.time, found.value,
                   int(as_of.timestamp() * 1_000_000))  # fmt: skip


@dataclass(frozen=True)
class Scored:
    rows: pa.Table
    report: dict[str, Any]


Model = Callable[[Orders, PredictionSettings], Scored]


def rfm_model(orders: Orders, settings: PredictionSettings) -> Scored:
    per = _per_customer(orders)
    found = rfm(per["days_since_last"], per["orders"], per["spend"])
    scores = [found.score_text(i) for i in range(len(orders.people))]
    rows = score_table(pa.array(orders.people), {
        "rfm_recency": pa.array(found.recency), "rfm_frequency": pa.array(found.frequency),
        "rfm_monetary": pa.array(found.monetary), "rfm_score": pa.array(scores, pa.string()),
        "rfm_segment": pa.array(found.segment.tolist(), pa.string()),
    })  # fmt: skip
    segments, counts = np.unique(found.segment.astype(str), return_counts=True)
    return Scored(rows, {
        "customers": len(orders.people),
        "segments": {str(s): int(c) for s, c in zip(segments, counts, strict=True)},
    })  # fmt: skip


def clv_model(orders: Orders, settings: PredictionSettings) -> Scored:
    options = settings.clv_options()
    report: dict[str, Any] = {"purchase_model": settings.model, "time_unit": settings.time_unit,
                              "horizon_days": settings.horizon_days,
                              "discount_rate": settings.discount_rate}  # fmt: skip
    holdout_start = orders.as_of_us - int(settings.holdout_days * DAY_US)
    if settings.holdout_days > 0 and (orders.time_us <= holdout_start).any():
        calibration = histories(
            orders.customer, orders.time_us, orders.value, calibration_end_us=holdout_start,
            observation_end_us=orders.as_of_us, unit=settings.time_unit,
        )  # fmt: skip
        checked = fit_models(calibration, options)
        report["holdout"] = {
            "fits": [f.as_dict() for f in checked.fits],
            **(holdout_report(checked, calibration) or {}),
        }
    everything = histories(
        orders.customer, orders.time_us, orders.value, calibration_end_us=orders.as_of_us,
        observation_end_us=orders.as_of_us, unit=settings.time_unit,
    )  # fmt: skip
    fitted = fit_models(everything, options)
    values = customer_values(fitted, everything, options)
    report["fits"] = [f.as_dict() for f in fitted.fits]
    report["customers"] = everything.count
    report["total_clv"] = float(np.nansum(values.clv))
    people = pa.array(orders.people[everything.customer])
    rows = score_table(people, {
        "p_alive": pa.array(values.p_alive),
        "expected_purchases": pa.array(values.expected_purchases),
        "expected_order_value": pa.array(values.expected_spend),
        "clv": pa.array(values.clv),
    })  # fmt: skip
    return Scored(rows, report)


def lifecycle_model(orders: Orders, settings: PredictionSettings) -> Scored:
    per = _per_customer(orders)
    stages = settings.lifecycle.stages(
        per["days_since_first"], per["days_since_last"], per["gap_before_last"]
    )
    rows = score_table(pa.array(orders.people), {"lifecycle_stage": pa.array(stages.tolist())})
    names, counts = np.unique(stages.astype(str), return_counts=True)
    return Scored(rows, {
        "customers": len(orders.people),
        "rules": vars(settings.lifecycle),
        "stages": {str(s): int(c) for s, c in zip(names, counts, strict=True)},
    })  # fmt: skip


MODELS: dict[str, Model] = {"rfm": rfm_model, "clv": clv_model, "lifecycle": lifecycle_model}


def run_predictions(
    store: "Store",
    settings: PredictionSettings,
    journeys: "JourneySettings",
    *,
    models: Sequence[str] | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Refit ``models`` (default: every one) on the orders up to ``as_of``, write their
    scores and reports; returns the reports by model. By default ``as_of`` is the newest
    event's time: on a live store a moment ago, and a store loaded from history is scored
    as it stood, not as if every customer had left since."""
    chosen = list(models or MODELS)
    for name in chosen:
        if name not in MODELS:
            raise FieldError(f"the models are {', '.join(MODELS)}, not {name!r}", "models")
    started = time.perf_counter()
    with store.reader() as con:
        if as_of is None:
            newest = con.execute("SELECT max(timestamp) FROM __kenning_events").fetchall()
            as_of = newest[0][0] or datetime.now(UTC)
        as_of = as_of.astimezone(UTC)
        found = read_conversions(
            con, settings.orders(), journeys.touches(until=as_of + timedelta(microseconds=1))
        )
    orders = Orders.of(found, as_of)
    reports: dict[str, Any] = {}
    results: dict[str, Scored] = {}
    for name in chosen:
        if not len(orders.people):
            reports[name] = {"skipped": f"no {settings.order_event!r} event yet"}
            continue
        began = time.perf_counter()
        try:
            results[name] = MODELS[name](orders, settings)
        except FieldError as error:  # too little data to fit, say: reported, not raised
            reports[name] = {"skipped": str(error)}
            continue
        reports[name] = {
            **results[name].report,
            "as_of": as_of.isoformat(),
            "seconds": round(time.perf_counter() - began, 3),
        }

    def write(con: Any) -> dict[str, int]:
        return {
            name: replace_scores(con, name, scored.rows, computed_at, reports[name])
            for name, scored in results.items()
        }

    computed_at = datetime.now(UTC)
    written = store.writer.run(write).result() if results else {}
    for name, rows in written.items():
        reports[name]["scores_written"] = rows
    return {
        "computed_at": computed_at.isoformat(),
        "as_of": as_of.isoformat(),
        "orders": len(orders.time_us),
        "customers": len(orders.people),
        "seconds": round(time.perf_counter() - started, 3),
        "models": reports,
    }


def _per_customer(orders: Orders) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """Days since the first and last order, the gap before the last, orders and spend."""
    n = len(orders.people)
    order = np.lexsort((orders.time_us, orders.customer))
    customer, at = orders.customer[order], orders.time_us[order]
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(first, customer, at)
    np.maximum.at(last, customer, at)
    # the order before each customer's last: the previous row when it is the same customer
    is_last = np.r_[customer[1:] != customer[:-1], True]
    has_previous = np.r_[False, customer[1:] == customer[:-1]]
    gap = np.full(n, np.nan)
    ends = np.flatnonzero(is_last & has_previous)
    gap[customer[ends]] = (at[ends] - at[ends - 1]) / DAY_US
    return {
        "days_since_first": (orders.as_of_us - first) / DAY_US,
        "days_since_last": (orders.as_of_us - last) / DAY_US,
        "gap_before_last": gap,
        "orders": np.bincount(orders.customer, minlength=n).astype(np.float64),
        "spend": np.bincount(orders.customer, weights=orders.value, minlength=n),
    }
