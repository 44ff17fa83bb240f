"""The propensity models in a run: features as of one window before the run and what
happened in the window train them (``propensity.py``); features as of the run score
everyone. The models and their cards are saved beside the store (``<store>.models/``).

BG/NBD's view of each customer as of the same moment (expected purchases in the window and
the probability of being alive, fitted on the orders up to that moment) is stacked onto the
features: the boosted trees start from what the customer-base model knows of the purchase
rhythm and learn what the rest of the log adds (browsing, email engagement), so the purchase
model is judged beside BG/NBD with BG/NBD's own knowledge in hand.

Scores: ``purchase_propensity`` (a probability), ``purchase_percentile`` (1 to 100, 100 the
likeliest), ``purchase_cohort`` (top 10%, top 25%, top 50%, bottom 50%), and the same for
``churn_``, which only customers get.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import pyarrow as pa

from kenning.errors import FieldError
from kenning.predictions.bgnbd import BetaGeo
from kenning.predictions.context import Run, Scored
from kenning.predictions.features import Features, counted_events, read_features
from kenning.predictions.histories import Floats, Ints, histories, unit_days
from kenning.predictions.propensity import Trained, cohorts, percentiles, train
from kenning.predictions.scores import score_table

ORDERS_COLUMN = "orders"
BGNBD_EXPECTED = "bgnbd_expected_purchases"
BGNBD_ALIVE = "bgnbd_p_alive"


def propensity_model(run: Run) -> Scored:
    window = run.settings.propensity_window_days
    cutoff = run.as_of - timedelta(days=window)
    cutoff_us = int(cutoff.timestamp() * 1_000_000)
    with run.store.reader() as con:
        events = counted_events(con, cutoff)
        orders = run.orders
        before = read_features(
            con, run.journeys, cutoff, events, orders.arrays(), profiled=run.profiled
        )
        now = read_features(
            con, run.journeys, run.as_of, events, orders.arrays(), profiled=run.profiled
        )
    baseline = _bgnbd_view(run, before.people, cutoff_us, window)
    before = _stacked(before, baseline)
    as_of_us = int(run.as_of.timestamp() * 1_000_000)
    now = _stacked(now, _bgnbd_view(run, now.people, as_of_us, window))
    in_window = orders.time_us > cutoff_us
    bought = np.isin(before.people, orders.people[np.unique(orders.customer[in_window])])
    customers = before.matrix[:, before.names.index(ORDERS_COLUMN)] > 0
    report: dict[str, Any] = {"window_days": window, "cutoff": cutoff.isoformat(),
                              "counted_events": list(events)}  # fmt: skip
    columns: dict[str, pa.Array] = {}
    people = pa.array(now.people)
    target = f"purchase within {window:g} days"
    purchase = train(before.matrix, bought, before.names, target=target,
                     baselines={"bgnbd_expected_purchases": baseline[BGNBD_EXPECTED]})  # fmt: skip
    report["purchase"] = purchase.card
    columns |= _scores("purchase", purchase, now.matrix, np.ones(len(now.people), dtype=bool))
    churn_target = f"no purchase within {window:g} days, of customers"
    try:
        churn = train(before.matrix[customers], ~bought[customers], before.names,
                      target=churn_target)  # fmt: skip
    except FieldError as error:
        report["churn"] = {"skipped": str(error)}
    else:
        report["churn"] = churn.card
        is_customer = now.matrix[:, now.names.index(ORDERS_COLUMN)] > 0
        columns |= _scores("churn", churn, now.matrix, is_customer)
        _save(run, "churn_propensity", churn)
    _save(run, "purchase_propensity", purchase)
    report["scored"] = len(now.people)
    return Scored(score_table(people, columns), report)


def _scores(
    name: str, trained: Trained, matrix: np.ndarray[Any, Any], who: np.ndarray[Any, Any]
) -> dict[str, pa.Array]:
    """The three scores of the people ``who`` selects (the others get none)."""
    probability = np.full(len(matrix), np.nan)
    probability[who] = trained.model.predict_proba(matrix[who])[:, 1]
    percentile = np.zeros(len(matrix), dtype=np.int64)
    percentile[who] = percentiles(probability[who])
    cohort: list[str | None] = [None] * len(matrix)
    for index, label in zip(np.flatnonzero(who), cohorts(percentile[who]), strict=True):
        cohort[index] = label
    return {
        f"{name}_propensity": pa.array(probability),
        f"{name}_percentile": pa.array(percentile, mask=~who),
        f"{name}_cohort": pa.array(cohort, pa.string()),
    }


def _bgnbd_view(run: Run, people: Ints, at_us: int, window: float) -> dict[str, Floats]:
    """BG/NBD fitted on the orders up to ``at_us``: for each of ``people`` (sorted) their
    expected purchases in the next ``window`` days and their probability of being alive
    (0 and NaN for people with no order by then: no history to judge)."""
    orders = run.orders
    unit = run.settings.time_unit
    calibration = histories(orders.customer, orders.time_us, orders.value,
                            calibration_end_us=at_us, unit=unit)  # fmt: skip
    expected = np.zeros(len(people))
    alive = np.full(len(people), np.nan)
    if calibration.count:
        model, _ = BetaGeo.fit(calibration.collapsed)
        h = calibration
        forecast = model.conditional_expected_purchases(
            window / unit_days(unit), h.frequency, h.recency, h.age
        )
        p_alive = model.p_alive(h.frequency, h.recency, h.age)
        ids = orders.people[h.customer]
        order = np.argsort(ids)
        ids = ids[order]
        row = np.searchsorted(ids, people)
        found = (row < len(ids)) & (ids[np.minimum(row, len(ids) - 1)] == people)
        expected[found] = forecast[order][row[found]]
        alive[found] = p_alive[order][row[found]]
    return {BGNBD_EXPECTED: expected, BGNBD_ALIVE: alive}


def _stacked(features: Features, view: dict[str, Floats]) -> Features:
    return Features(
        people=features.people,
        matrix=np.column_stack([features.matrix, *view.values()]),
        names=(*features.names, *view),
    )


def _save(run: Run, name: str, trained: Trained) -> None:
    """The model and its card, beside the store: ``<store>.models/<name>/``."""
    folder = Path(f"{run.store.path}.models") / name
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(trained.model, folder / "model.joblib")
    (folder / "card.json").write_bytes(orjson.dumps(trained.card, option=orjson.OPT_INDENT_2))
