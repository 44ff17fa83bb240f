"""Propensity's learning core: refusal of too little data, the judged figures against hand
computations, percentiles and cohorts, a planted feature found."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from kenning.errors import FieldError
from kenning.predictions.propensity import (
    check_classes,
    cohorts,
    judge,
    paired_auc_difference,
    percentiles,
    train,
)


def test_too_few_of_a_class_is_refused_with_the_counts() -> None:
    with pytest.raises(FieldError, match="99 and 1,000") as error:
        check_classes(np.r_[np.ones(99), np.zeros(1_000)].astype(bool), "purchase", "purchase")
    assert error.value.field == "purchase" and "at least 100" in error.value.message
    check_classes(np.r_[np.ones(100), np.zeros(100)].astype(bool), "purchase", "purchase")


def test_judged_figures_are_the_hand_computed_ones() -> None:
    labels = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0] * 10)
    predicted = np.linspace(0.9, 0.01, 100)  # the first row scores highest
    found = judge(labels, predicted)
    assert found["auc"] == pytest.approx(roc_auc_score(labels, predicted))
    # the top tenth: rows 0-9, with 2 positives, against a base rate of 0.2
    assert found["top_decile_lift"] == pytest.approx((2 / 10) / 0.2)
    bins = found["calibration"]
    assert len(bins) == 10 and sum(b["rows"] for b in bins) == 100
    assert bins[-1]["predicted"] == pytest.approx(predicted[:10].mean())
    assert bins[-1]["observed"] == pytest.approx(0.2)


def test_percentiles_and_cohorts() -> None:
    scores = np.arange(1_000, dtype=np.float64)
    found = percentiles(scores)
    assert found.min() == 1 and found.max() == 100 and found[999] == 100 and found[0] == 1
    labels = cohorts(found)
    assert labels[999] == "top 10%" and labels[850] == "top 25%"
    assert labels[600] == "top 50%" and labels[0] == "bottom 50%"
    assert labels.count("top 10%") == 100


def test_a_planted_feature_is_found_and_ranked_first() -> None:
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(4_000, 5))
    labels = rng.random(4_000) < 1 / (1 + np.exp(-(2.5 * matrix[:, 3] - 2)))
    trained = train(matrix, labels, ("a", "b", "c", "planted", "e"), target="bought")
    card = trained.card
    assert card["holdout"]["auc"] > 0.85 and card["importance"][0]["feature"] == "planted"
    assert card["rows"] == 4_000 and card["positives"] == int(labels.sum())
    scores = trained.model.predict_proba(matrix)[:, 1]
    assert roc_auc_score(labels, scores) > 0.85


def test_the_paired_auc_difference_and_its_error_match_a_bootstrap() -> None:
    rng = np.random.default_rng(5)
    labels = rng.random(3_000) < 0.1
    strong = labels + rng.normal(size=3_000)
    weak = 0.7 * labels + rng.normal(size=3_000) + 0.5 * (strong - labels)  # correlated
    difference, error = paired_auc_difference(labels, strong, weak)
    assert difference == pytest.approx(
        roc_auc_score(labels, strong) - roc_auc_score(labels, weak), abs=1e-12
    )
    draws = [rng.integers(0, 3_000, 3_000) for _ in range(400)]
    bootstrap = np.std([roc_auc_score(labels[i], strong[i]) - roc_auc_score(labels[i], weak[i])
                        for i in draws])  # fmt: skip
    assert error == pytest.approx(bootstrap, rel=0.2)
    # paired: the same score twice differs by nothing, with no doubt about it
    assert paired_auc_difference(labels, strong, strong) == (0.0, 0.0)
    same_scores_with_ties = np.round(strong)
    assert paired_auc_difference(labels, same_scores_with_ties, same_scores_with_ties)[1] == 0.0
