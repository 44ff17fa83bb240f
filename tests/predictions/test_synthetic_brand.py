"""The propensity model on the synthetic brand, loaded through the API: it finds the planted
behaviour (``demo/people.py``: each person buys at their own BG/NBD rate until they drop out;
they browse and open emails only while they are still active), among the people who let
themselves be profiled, and is calibrated. Lookalikes of the brand's best customers find the
held-out ones."""

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from kenning.audiences.audience import parse_audience
from kenning.journeys.settings import JourneySettings
from kenning.predictions.lookalike import LookalikeOptions
from kenning.predictions.lookalike_audience import make_lookalike
from kenning.predictions.run import run_predictions
from kenning.predictions.scores import people_scores
from kenning.predictions.settings import PredictionSettings
from kenning.profiles.read import find_profile
from kenning.settings import Settings
from kenning.store.store import Store
from tests.brand import load_brand

# Of 5,000 people, the 85% who let themselves be profiled (docs/privacy.md) are enough buyers
# to train on. With 2,500 the model, trained on some 1,300 rows, fell more than 0.05 below
# BG/NBD alone in two runs of eight (the order the API stores the brand in varies, and with
# it the split); with 5,000 it was above BG/NBD by 0.07-0.10 in three runs of three.
PEOPLE, SEED = 5_000, 7


@pytest.fixture(scope="module")
def brand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("brand")
    with Store.open(load_brand(folder, PEOPLE, SEED)) as store:
        ran = run_predictions(
            store, PredictionSettings(), JourneySettings(), models=["propensity", "rfm"]
        )
        yield store, folder, ran["models"]["propensity"]


def test_purchase_propensity_finds_the_buyers_and_is_calibrated(
    brand: tuple[Store, Path, dict[str, Any]],
) -> None:
    _, folder, report = brand
    purchase = report["purchase"]
    assert purchase["positives"] >= 100 and purchase["rows"] - purchase["positives"] >= 100
    holdout = purchase["holdout"]
    # Only people who let themselves be profiled are trained on and held out: some sixty
    # buyers held out, so an AUC is known to about 0.04. Better than chance by far; with
    # BG/NBD's own view among its features, never far below BG/NBD alone (it beats it on the
    # larger brands of bench/propensity, where the AUCs are known to 0.01)
    assert {"bgnbd_expected_purchases", "bgnbd_p_alive"} <= set(purchase["features"])
    assert holdout["auc"] > 0.65
    assert holdout["bgnbd_expected_purchases_auc"] > 0.6
    assert holdout["auc"] > holdout["bgnbd_expected_purchases_auc"] - 0.05
    assert holdout["top_decile_lift"] > 2
    # calibrated: in the top fifth of scores (some hundred and twenty held-out people: a tenth
    # is few to tell) the observed rate is near the predicted one
    top = holdout["calibration"][-2:]
    rows = sum(b["rows"] for b in top)
    predicted = sum(b["predicted"] * b["rows"] for b in top) / rows
    observed = sum(b["observed"] * b["rows"] for b in top) / rows
    assert observed == pytest.approx(predicted, abs=0.15)
    assert (folder / "kenning.duckdb.models" / "purchase_propensity" / "model.joblib").exists()
    card = (folder / "kenning.duckdb.models" / "purchase_propensity" / "card.json").read_text()
    assert '"auc"' in card and "days_since_last_event" in card


def test_scores_follow_the_planted_rate_of_those_still_active(
    brand: tuple[Store, Path, dict[str, Any]],
) -> None:
    store, folder, _ = brand
    with (folder / "brand" / "truth" / "people.csv").open() as truth_file:
        truth = list(csv.DictReader(truth_file))
    found = {t["person_id"]: find_profile(store, f"email:{t['email']}") for t in truth}
    with store.reader() as con:
        scores = people_scores(con, [p for p in found.values() if p is not None])
    scored = {person: scores.get(profile or -1, {}) for person, profile in found.items()}
    rows = [(t, scored[t["person_id"]]) for t in truth
            if "purchase_propensity" in scored[t["person_id"]]]  # fmt: skip
    # those seen, of the 85% who let themselves be profiled
    assert len(rows) > PEOPLE * 0.5
    with store.reader() as con:
        refused = {int(p) for (p,) in con.execute(
            "SELECT profile_id FROM kenning_consent WHERE category = 'personalisation' "
            "AND NOT granted").fetchall()}  # fmt: skip
    assert refused and not refused & set(scores)  # nobody who refused is scored
    propensity = np.array([s["purchase_propensity"] for _, s in rows])
    active = np.array([t["churned"] == "0" for t, _ in rows])
    rate = np.array([float(t["lambda"]) for t, _ in rows]) * active
    correlation = spearmanr(propensity, rate)
    assert correlation.statistic > 0.25 and correlation.pvalue < 1e-10
    assert roc_auc_score(active, propensity) > 0.65
    percentiles = np.array([s["purchase_percentile"] for _, s in rows])
    assert percentiles.min() >= 1 and percentiles.max() == 100
    assert {s["purchase_cohort"] for _, s in rows} == {"top 10%", "top 25%", "top 50%",
                                                      "bottom 50%"}  # fmt: skip


@pytest.mark.parametrize("method", ["classifier", "knn", "both"])
def test_lookalikes_of_the_best_customers_find_the_held_out_ones(
    brand: tuple[Store, Path, dict[str, Any]], method: str
) -> None:
    store, _, _ = brand
    seed = parse_audience({"description": "best customers", "condition": {
        "prediction": "rfm_segment", "in": ["Champions", "Loyal"]}}, "best")  # fmt: skip
    store.writer.run(lambda con: store.audiences.declare(con, seed), changes_stages=True).result()
    store.evaluate_audiences_now()
    made = make_lookalike(store, Settings(), LookalikeOptions("best", f"like_best_{method}",
                                                              5, method))  # fmt: skip
    assert made["seed_size"] >= 100
    top = made["evaluation"]["top_10"]
    assert top["share"] >= 3 * top["random"]  # the target: 3x random in the top 10%
    # the audience: about 5% of everyone outside the seed, and none of the seed
    size = made["audience"]["size"]
    assert size == pytest.approx(made["candidates"] * 0.05, rel=0.1)
    with store.reader() as con:
        overlap = con.execute(
            """SELECT count(*) FROM __kenning_audience_members a
               JOIN __kenning_audience_members b USING (profile_id)
               WHERE a.audience = 'best' AND b.audience = ?""",
            [f"like_best_{method}"],
        ).fetchall()[0][0]
    assert overlap == 0
