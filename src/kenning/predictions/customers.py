"""The models of customers' orders: RFM, lifetime value, lifecycle stage. Each takes a run's
orders and returns the scores to write and its report."""

from typing import Any

import numpy as np
import pyarrow as pa

from kenning.predictions.clv import customer_values, fit_models, holdout_report
from kenning.predictions.context import Orders, Run, Scored
from kenning.predictions.histories import DAY_US, histories
from kenning.predictions.rfm import rfm
from kenning.predictions.scores import score_table


def rfm_model(run: Run) -> Scored:
    orders = run.orders
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


def clv_model(run: Run) -> Scored:
    orders, settings = run.orders, run.settings
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


def lifecycle_model(run: Run) -> Scored:
    orders, settings = run.orders, run.settings
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
