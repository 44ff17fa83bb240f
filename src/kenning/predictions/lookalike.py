"""Lookalikes: everyone ranked by how much they resemble a seed audience, the top share saved
as an audience of its own that leaves the seed out.

Two rankers over the same features (``features.py``, as of now):

- ``classifier``: positive-unlabelled learning, the seed against everyone else; a classifier
  that cannot tell a person from the seed ranks them high (Elkan and Noto: the unlabelled
  scored as negatives rank like the true class probability);
- ``knn``: the mean distance to the k nearest seed members in a standardised feature space
  (each feature's logarithm, ``log(1 + x)``, centred and scaled to unit variance: counts,
  days and money are all heavy-tailed, and one big spender must not stretch the axis for
  everyone), each axis weighted by how far the seed's mean on it is from everyone's (in
  standard deviations), so the features that set the seed apart decide who is near and the
  many that do not (most counts of most events) do not drown them. A person's score is the
  share of seed members among their k nearest neighbours (the seed against a sample of the
  rest, weighted back to its size): a local density ratio. The distance to the nearest seed
  members alone ranks badly, because the seed is spread wide and the rest sits in a dense
  crowd near it.

Judged before it is trusted: a fifth of the seed is held out, the rankers are trained on the
rest, and the report says where the held-out members land among the candidates (the top 1%,
5% and 10%) against what a random ranking would give (1%, 5%, 10%).

The scores (``lookalike_<name>``, a percentile from 1 to 100) are written as predictions,
and the audience is an ordinary condition over them: ``lookalike_<name> >= 100 - top`` and not
in the seed. Re-running refreshes it.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.neighbors import NearestNeighbors

from kenning.errors import FieldError
from kenning.predictions.histories import Floats, Ints
from kenning.predictions.propensity import SEED, percentiles

MIN_SEED = 100
HOLDOUT_SHARE = 0.2
NEIGHBOURS = 50
REFERENCE_SAMPLE = 50_000  # people outside the seed the neighbours are found among
METHODS = ("classifier", "knn", "both")
TOPS = (1, 5, 10)


@dataclass(frozen=True)
class LookalikeOptions:
    seed: str  # the seed audience
    name: str  # the lookalike audience to write
    top_percent: float = 5.0
    method: str = "both"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise FieldError(f"the method is one of {', '.join(METHODS)}", "method")
        if not 0 < self.top_percent <= 50:
            raise FieldError("a share of everyone above 0 and at most 50 (percent)", "top_percent")
        if self.seed == self.name:
            raise FieldError("a lookalike audience cannot be its own seed", "name")

    @property
    def score_name(self) -> str:
        return f"lookalike_{self.name}"

    def condition(self) -> dict[str, Any]:
        """The audience: the top share by score, the seed left out."""
        return {"all": [
            {"prediction": self.score_name, "gt": 100 - self.top_percent},
            {"not": {"audience": self.seed}},
        ]}  # fmt: skip


def rank(matrix: Floats, is_seed: np.ndarray[Any, Any], method: str) -> Floats:
    """A similarity score per row (higher: more like the seed) from the rows ``is_seed``
    marks; ``both`` averages the two rankers' percentiles."""
    if method == "classifier":
        return _classifier(matrix, is_seed)
    if method == "knn":
        return _knn(matrix, is_seed)
    return (percentiles(_classifier(matrix, is_seed)) + percentiles(_knn(matrix, is_seed))) / 2


def _classifier(matrix: Floats, is_seed: np.ndarray[Any, Any]) -> Floats:
    model = HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.08, l2_regularization=1.0, early_stopping=False,
        class_weight="balanced", random_state=SEED,
    ).fit(matrix, is_seed)  # fmt: skip
    found: Floats = model.predict_proba(matrix)[:, 1]
    return found


def _knn(matrix: Floats, is_seed: np.ndarray[Any, Any]) -> Floats:
    scaled = standardised(matrix)
    scaled *= np.abs(scaled[is_seed].mean(axis=0))  # everyone's mean is 0
    rest = np.flatnonzero(~is_seed)
    sample = (
        np.random.default_rng(SEED).choice(rest, REFERENCE_SAMPLE, replace=False)
        if len(rest) > REFERENCE_SAMPLE
        else rest
    )
    reference = np.r_[np.flatnonzero(is_seed), sample]
    weight = np.r_[
        np.ones(int(is_seed.sum())), np.full(len(sample), len(rest) / max(1, len(sample)))
    ]
    k = min(NEIGHBOURS + 1, len(reference))
    _, found = NearestNeighbors(n_neighbors=k).fit(scaled[reference]).kneighbors(scaled)
    # a reference point is its own nearest neighbour: left out
    own = reference[found] == np.arange(len(matrix))[:, None]
    weights = np.where(own, 0.0, weight[found])
    seed_weight = np.where(own, 0.0, (found < int(is_seed.sum())) * 1.0)
    share: Floats = seed_weight.sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-12)
    return share


def standardised(matrix: Floats) -> Floats:
    """Each column as log(1 + x) (the features are counts, days and money, none negative),
    centred on its mean and divided by its standard deviation (1 when that is 0); a missing
    value sits at the mean."""
    logged = np.log1p(np.clip(matrix, 0, None))
    mean = np.nanmean(logged, axis=0) if len(logged) else np.zeros(logged.shape[1])
    mean = np.where(np.isnan(mean), 0.0, mean)
    spread = np.nanstd(logged, axis=0) if len(logged) else np.ones(logged.shape[1])
    spread = np.where(np.isnan(spread) | (spread == 0), 1.0, spread)
    filled = np.where(np.isnan(logged), mean, logged)
    result: Floats = (filled - mean) / spread
    return result


def evaluate(matrix: Floats, seed_rows: Ints, method: str) -> dict[str, Any]:
    """Hold out a fifth of the seed, rank with the rest, and say where the held-out land."""
    rng = np.random.default_rng(SEED)
    held = rng.choice(seed_rows, max(1, int(len(seed_rows) * HOLDOUT_SHARE)), replace=False)
    training = np.zeros(len(matrix), dtype=bool)
    training[np.setdiff1d(seed_rows, held)] = True
    score = rank(matrix, training, method)
    candidates = np.flatnonzero(~training)  # the held-out are among everyone else
    order = candidates[np.argsort(-score[candidates], kind="stable")]
    position = np.empty(len(matrix), dtype=np.int64)
    position[order] = np.arange(len(order))
    report: dict[str, Any] = {"held_out": len(held), "candidates": len(candidates)}
    for top in TOPS:
        cut = max(1, int(np.ceil(len(candidates) * top / 100)))
        share = float((position[held] < cut).mean())
        report[f"top_{top}"] = {"share": share, "random": cut / len(candidates),
                                "lift": share / (cut / len(candidates))}  # fmt: skip
    return report


def check_seed(seed_rows: Ints, name: str) -> None:
    if len(seed_rows) < MIN_SEED:
        raise FieldError(
            f"a lookalike needs a seed of at least {MIN_SEED} profiles; {name!r} has "
            f"{len(seed_rows):,} with features",
            "seed",
        )
