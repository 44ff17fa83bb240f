"""Propensity: how likely each person is to buy, or (a customer) to stop buying, within a
target window (30 days by default).

Trained on a time split: features as of a cutoff one window before the run, labels from the
window after it, so the model learns what the log said about people one window before they
bought (or did not). A quarter of the people are held out to report how good it is (AUC, log
loss, top-decile lift, calibration; the purchase model beside BG/NBD's expected purchases on
the same people), then the model is refitted on everyone and scores everyone as of the run.

- ``purchase``: everyone seen by the cutoff; positive when they order within the window;
- ``churn``: the customers (an order by the cutoff); positive when they do not order within
  the window.

Scikit-learn's histogram gradient boosting: fast on a million rows, and it takes a missing
value (no order yet) as information, not as an error.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.metrics import log_loss, roc_auc_score

from kenning.errors import FieldError
from kenning.predictions.histories import Floats

MIN_CLASS = 100  # positives and negatives a model needs to be trained
HOLDOUT_SHARE = 0.25
CALIBRATION_BINS = 10
IMPORTANCE_SAMPLE = 20_000  # rows the permutation importance is measured on
SEED = 20_261_206
COHORTS = ((10, "top 10%"), (25, "top 25%"), (50, "top 50%"), (100, "bottom 50%"))


@dataclass(frozen=True)
class Trained:
    model: HistGradientBoostingClassifier
    card: dict[str, Any]


def classifier() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.08, max_leaf_nodes=31, l2_regularization=1.0,
        early_stopping=False, random_state=SEED,
    )  # fmt: skip


def check_classes(labels: np.ndarray[Any, Any], target: str, field: str) -> None:
    """Refuse a training set too small to learn from or to judge."""
    positives = int(labels.sum())
    negatives = int(len(labels) - positives)
    if positives < MIN_CLASS or negatives < MIN_CLASS:
        raise FieldError(
            f"{target} needs at least {MIN_CLASS} positive and {MIN_CLASS} negative examples "
            f"to train; the log has {positives:,} and {negatives:,}",
            field,
        )


def train(
    matrix: Floats,
    labels: np.ndarray[Any, Any],
    names: tuple[str, ...],
    *,
    target: str,
    baselines: dict[str, Floats] | None = None,
) -> Trained:
    """Train and judge a classifier of ``labels`` from ``matrix``; ``baselines``: other
    scores of the same rows, judged on the same held-out rows."""
    check_classes(labels, target, target)
    rng = np.random.default_rng(SEED)
    held = rng.random(len(labels)) < HOLDOUT_SHARE
    if labels[held].sum() in (0, held.sum()) or labels[~held].sum() in (0, (~held).sum()):
        held = np.arange(len(labels)) % 4 == 0  # a draw that left a class out: every fourth
    model = classifier().fit(matrix[~held], labels[~held])
    predicted = model.predict_proba(matrix[held])[:, 1]
    card: dict[str, Any] = {
        "target": target,
        "algorithm": "sklearn HistGradientBoostingClassifier",
        "params": {k: v for k, v in model.get_params().items() if k in {
            "max_iter", "learning_rate", "max_leaf_nodes", "l2_regularization"}},
        "rows": len(labels),
        "positives": int(labels.sum()),
        "base_rate": float(labels.mean()),
        "holdout": {**judge(labels[held], predicted), "rows": int(held.sum())},
        "features": list(names),
        "importance": _importance(model, matrix[held], labels[held], names),
    }  # fmt: skip
    for name, scores in (baselines or {}).items():
        card["holdout"][f"{name}_auc"] = float(roc_auc_score(labels[held], scores[held]))
        difference, error = paired_auc_difference(labels[held], predicted, scores[held])
        card["holdout"][f"difference_from_{name}"] = {"auc": difference, "standard_error": error}
    final = classifier().fit(matrix, labels)
    return Trained(final, card)


def judge(labels: np.ndarray[Any, Any], predicted: Floats) -> dict[str, Any]:
    """AUC, log loss, the lift of the top tenth, and calibration by tenths of the score."""
    order = np.argsort(-predicted, kind="stable")
    top = order[: max(1, len(order) // 10)]
    base = float(labels.mean())
    bins = np.array_split(np.argsort(predicted, kind="stable"), CALIBRATION_BINS)
    return {
        "auc": float(roc_auc_score(labels, predicted)),
        "log_loss": float(log_loss(labels, np.clip(predicted, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "top_decile_lift": float(labels[top].mean() / base) if base else None,
        "calibration": [
            {
                "predicted": float(predicted[b].mean()),
                "observed": float(labels[b].mean()),
                "rows": len(b),
            }
            for b in bins
            if len(b)
        ],
    }


def paired_auc_difference(
    labels: np.ndarray[Any, Any], first: Floats, second: Floats
) -> tuple[float, float]:
    """AUC(first) - AUC(second) on the same rows, and its standard error by DeLong, DeLong and
    Clarke-Pearson (1988): paired, so the two scores' agreement on the same people narrows it,
    as comparing their separate errors would not. Computed from midranks (Sun and Xu 2014)."""
    positive = labels.astype(bool)
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        return float("nan"), float("nan")
    aucs, v10, v01 = [], [], []
    for scores in (first, second):
        pos, neg = scores[positive], scores[~positive]
        ranks_all = rankdata(np.concatenate([pos, neg]))
        ranks_pos, ranks_neg = rankdata(pos), rankdata(neg)
        aucs.append((ranks_all[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((ranks_all[:m] - ranks_pos) / n)  # per positive: share of negatives below
        v01.append(1 - (ranks_all[m:] - ranks_neg) / m)  # per negative: share of positives above
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    contrast = np.array([1.0, -1.0])
    variance = contrast @ s10 @ contrast / m + contrast @ s01 @ contrast / n
    return float(aucs[0] - aucs[1]), float(np.sqrt(max(variance, 0.0)))


def _importance(
    model: HistGradientBoostingClassifier,
    matrix: Floats,
    labels: np.ndarray[Any, Any],
    names: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The features whose shuffling costs the held-out AUC most, the ten largest."""
    if len(labels) > IMPORTANCE_SAMPLE:
        keep = np.random.default_rng(SEED).choice(len(labels), IMPORTANCE_SAMPLE, replace=False)
        matrix, labels = matrix[keep], labels[keep]
    if labels.min() == labels.max():
        return []
    found = permutation_importance(
        model, matrix, labels, scoring="roc_auc", n_repeats=3, random_state=SEED
    )
    ranked = np.argsort(-found.importances_mean)[:10]
    return [{"feature": names[i], "auc_drop": float(found.importances_mean[i])} for i in ranked]


def percentiles(scores: Floats) -> np.ndarray[Any, np.dtype[np.int64]]:
    """1 to 100, 100 for the highest scores: the share of people scoring at most as high."""
    if not len(scores):
        return np.zeros(0, dtype=np.int64)
    ranks = np.argsort(np.argsort(scores, kind="stable"), kind="stable")
    found: np.ndarray[Any, np.dtype[np.int64]] = (ranks * 100 // len(scores) + 1).astype(np.int64)
    return found


def cohorts(percentile: np.ndarray[Any, np.dtype[np.int64]]) -> list[str]:
    """``top 10%``, ``top 25%``, ``top 50%`` or ``bottom 50%`` by percentile."""
    share = 101 - percentile  # percentile 100 is the top 1%
    *upper, (_, rest) = COHORTS
    labels = np.select([share <= bound for bound, _ in upper], [name for _, name in upper], rest)
    found: list[str] = labels.tolist()
    return found
