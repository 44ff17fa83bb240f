"""Lookalikes' ranking core: standardising, both rankers finding a planted group, the
evaluation against random, refusals."""

from typing import Any

import numpy as np
import pytest

from kenning.errors import FieldError
from kenning.predictions.lookalike import (
    LookalikeOptions,
    check_seed,
    evaluate,
    rank,
    standardised,
)


def planted(seed: int = 3) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """4,000 people in 12 count-like features; 400 of them (the group) buy and browse more
    on three of the features; a seed is drawn from the group."""
    rng = np.random.default_rng(seed)
    matrix = rng.poisson(2.0, size=(4_000, 12)).astype(np.float64)
    group = np.zeros(4_000, dtype=bool)
    group[rng.choice(4_000, 400, replace=False)] = True
    matrix[group, 2] += rng.poisson(6.0, group.sum())
    matrix[group, 7] += rng.poisson(4.0, group.sum())
    matrix[group, 9] *= 5
    matrix[rng.random(4_000) < 0.05, 4] = np.nan  # a missing value here and there
    return matrix, group


def test_standardised_columns_are_centred_and_scaled() -> None:
    matrix, _ = planted()
    scaled = standardised(matrix)
    assert not np.isnan(scaled).any()
    assert np.allclose(scaled.mean(axis=0), 0, atol=0.05)
    constant = standardised(np.ones((10, 2)))
    assert (constant == 0).all()  # no spread: no division by zero


@pytest.mark.parametrize("method", ["classifier", "knn", "both"])
def test_each_ranker_finds_the_planted_group(method: str) -> None:
    matrix, group = planted()
    seed_rows = np.flatnonzero(group)[:300]
    found = evaluate(matrix, seed_rows, method)
    assert found["held_out"] == 60
    assert found["top_10"]["share"] >= 3 * found["top_10"]["random"]
    assert found["top_1"]["lift"] > 3
    # and ranking with the whole seed puts the rest of the group above everyone else
    is_seed = np.zeros(len(matrix), dtype=bool)
    is_seed[seed_rows] = True
    score = rank(matrix, is_seed, method)
    rest_of_group = group & ~is_seed
    assert np.median(score[rest_of_group]) > np.percentile(score[~group], 90)


def test_a_seed_of_nobody_in_particular_is_no_better_than_random() -> None:
    matrix, _ = planted()
    random_seed = np.random.default_rng(9).choice(4_000, 400, replace=False)
    found = evaluate(matrix, random_seed, "both")
    assert found["top_10"]["lift"] < 2


def test_refusals_name_their_field() -> None:
    with pytest.raises(FieldError, match="at least 100") as error:
        check_seed(np.arange(99), "vip")
    assert error.value.field == "seed"
    bad = [({"method": "magic"}, "method"), ({"top_percent": 0}, "top_percent"),
           ({"top_percent": 80}, "top_percent"), ({"name": "vip"}, "name")]  # fmt: skip
    for kwargs, field in bad:
        with pytest.raises(FieldError) as error:
            LookalikeOptions(**{"seed": "vip", "name": "like_vip", **kwargs})  # type: ignore[arg-type]
        assert error.value.field == field
    condition = LookalikeOptions("vip", "like_vip", 5).condition()
    assert condition == {"all": [{"prediction": "lookalike_like_vip", "gt": 95},
                                 {"not": {"audience": "vip"}}]}  # fmt: skip
