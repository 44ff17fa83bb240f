import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.attribution.journeys import Journeys
from kenning.attribution.markov import (
    absorption,
    fit_chain,
    markov,
    markov_removal_effects,
    transition_probabilities,
)
from kenning.errors import FieldError
from tests.attribution.reference import (
    chain_reference,
    dense_absorption,
    names_for,
    random_journeys,
    simulate_removal_effects,
    to_journeys,
    to_paths,
)

Rows = list[tuple[list[int], float, float, float]]


def _rows(seed: int, count: int, channels: int, max_length: int = 6) -> Rows:
    """Paths (channels, conversions, nulls, value), a path possibly repeated."""
    rng = random.Random(seed)
    rows: Rows = []
    for journey in random_journeys(rng, count, channels, max_length):
        conversions = float(rng.randint(0, 3)) if journey.conversions else 0.0
        nulls = float(rng.randint(0 if conversions else 1, 4))
        rows.append((journey.channels, conversions, nulls, conversions * rng.uniform(5, 50)))
    return rows


def _dense_effects(rows: Rows, channels: int, order: int, first_states: str) -> tuple[
    list[float], list[float]
]:  # fmt: skip
    counts, value_from = chain_reference(rows, order, first_states)
    probability, value = dense_absorption(counts, value_from)
    conversion_effects, value_effects = [], []
    for channel in range(channels):
        without_probability, without_value = dense_absorption(counts, value_from, channel)
        conversion_effects.append(1 - without_probability / probability)
        value_effects.append(1 - without_value / value)
    return conversion_effects, value_effects


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("first_states", ["prefixes", "windows"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_removal_effects_match_a_dense_solve_of_a_plainly_built_chain(
    order: int, first_states: str, seed: int
) -> None:
    channels = 5
    rows = _rows(seed, 60, channels)
    effects = markov_removal_effects(
        to_paths(rows, names_for(channels)),
        order=order,
        first_states=first_states,  # type: ignore[arg-type]
    )
    conversion, value = _dense_effects(rows, channels, order, first_states)
    assert effects.conversion.tolist() == pytest.approx(conversion, abs=1e-10)
    assert effects.value.tolist() == pytest.approx(value, abs=1e-10)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), order=st.integers(1, 4), channels=st.integers(1, 6))
def test_removal_effects_match_the_dense_solve_on_random_paths(
    seed: int, order: int, channels: int
) -> None:
    rows = _rows(seed, 25, channels, max_length=7)
    if not any(r[1] for r in rows):
        rows.append(([0], 1.0, 0.0, 10.0))
    effects = markov_removal_effects(to_paths(rows, names_for(channels)), order=order)
    conversion, value = _dense_effects(rows, channels, order, "prefixes")
    assert effects.conversion.tolist() == pytest.approx(conversion, abs=1e-10)
    assert effects.value.tolist() == pytest.approx(value, abs=1e-10)


def test_removal_effects_agree_with_a_monte_carlo_simulation_of_the_chain() -> None:
    channels = 4
    rows = _rows(11, 40, channels, max_length=5)
    counts, _ = chain_reference(rows, 1)
    walks = 40_000
    simulated = simulate_removal_effects(counts, channels, walks, seed=5)
    exact = markov_removal_effects(to_paths(rows, names_for(channels)), order=1).conversion
    # Each simulated effect is a share of the converting walks (about 12,000 here): its
    # standard error is at most 0.5 / sqrt(12,000) = 0.0046, so 0.02 is over four of them.
    assert exact.tolist() == pytest.approx(simulated, abs=0.02)
    assert exact.tolist() != pytest.approx(simulated, abs=1e-6)  # the simulation is not exact


def test_order_two_differs_from_order_one_when_sequence_matters() -> None:
    # "a > b" converts, "b > a" never does: only a chain that remembers the previous channel
    # sees that a at the end of a journey is what converts.
    rows: Rows = [([0, 1], 10.0, 0.0, 90.0), ([1, 0], 0.0, 10.0, 0.0), ([0], 5.0, 5.0, 20.0)]
    paths = to_paths(rows, names_for(2))
    first = markov_removal_effects(paths, order=1)
    second = markov_removal_effects(paths, order=2)
    assert second.conversion.tolist() != pytest.approx(first.conversion.tolist(), abs=1e-3)
    assert second.conversion.tolist() == pytest.approx(
        _dense_effects(rows, 2, 2, "prefixes")[0], abs=1e-12
    )


def test_without_removal_the_chain_reproduces_the_observed_conversion_rate() -> None:
    rows = _rows(4, 80, 5)
    paths = to_paths(rows, names_for(5))
    for order in (1, 2, 3):
        probability, value = absorption(fit_chain(paths, order=order))
        traffic = paths.conversions.sum() + paths.nulls.sum()
        assert probability == pytest.approx(paths.conversions.sum() / traffic, rel=1e-12)
        assert value == pytest.approx(paths.values.sum() / traffic, rel=1e-12)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_the_iterative_solve_of_large_chains_agrees_with_the_factorisation(order: int) -> None:
    paths = to_paths(_rows(9, 400, 8, max_length=9), names_for(8))
    direct = markov_removal_effects(paths, order=order)
    iterative = markov_removal_effects(paths, order=order, direct_limit=0)
    assert iterative.conversion.tolist() == pytest.approx(direct.conversion.tolist(), abs=1e-10)
    assert iterative.value.tolist() == pytest.approx(direct.value.tolist(), abs=1e-10)


def test_at_order_one_repeated_touches_change_nothing() -> None:
    repeated: Rows = [([0, 0, 1], 2.0, 1.0, 20.0), ([1, 1, 1, 2], 1.0, 3.0, 5.0), ([2], 0, 2, 0)]
    collapsed: Rows = [([0, 1], 2.0, 1.0, 20.0), ([1, 2], 1.0, 3.0, 5.0), ([2], 0, 2, 0)]
    a = markov_removal_effects(to_paths(repeated, names_for(3)))
    b = markov_removal_effects(to_paths(collapsed, names_for(3)))
    assert a.conversion.tolist() == pytest.approx(b.conversion.tolist(), abs=1e-12)
    assert a.value.tolist() == pytest.approx(b.value.tolist(), abs=1e-12)


def test_journeys_count_as_paths_ending_in_conversion_or_null() -> None:
    journeys = to_journeys(random_journeys(random.Random(3), 200, 5), names_for(5))
    assert markov_removal_effects(journeys, order=2).conversion.tolist() == pytest.approx(
        markov_removal_effects(journeys.aggregate(), order=2).conversion.tolist(), abs=1e-12
    )


def test_credit_is_removal_effects_scaled_to_the_totals() -> None:
    rows = _rows(6, 50, 4)
    paths = to_paths(rows, names_for(4))
    credit = markov(paths)
    effects = credit.details["removal_effect"]
    assert credit.conversions.tolist() == pytest.approx(
        (effects / effects.sum() * paths.conversions.sum()).tolist()
    )
    value_effects = credit.details["value_removal_effect"]
    assert credit.values.tolist() == pytest.approx(
        (value_effects / value_effects.sum() * paths.values.sum()).tolist()
    )
    assert credit.balanced()


def test_a_channel_that_never_converts_has_no_effect() -> None:
    rows: Rows = [([0, 1], 3.0, 1.0, 30.0), ([2], 0.0, 5.0, 0.0)]
    credit = markov(to_paths(rows, names_for(3)))
    assert credit.conversions[2] == 0 and credit.values[2] == 0
    assert credit.conversions.sum() == pytest.approx(3.0)


def test_no_conversions_credit_nothing() -> None:
    credit = markov(to_paths([([0, 1], 0.0, 4.0, 0.0)], names_for(2)))
    assert credit.conversions.tolist() == [0.0, 0.0] and credit.balanced()


def test_empty_journeys_credit_nothing() -> None:
    empty = Journeys(
        offsets=np.zeros(1, dtype=np.int64),
        channels=np.zeros(0, dtype=np.int16),
        conversions=np.zeros(0),
        values=np.zeros(0),
        names=("a",),
    )
    assert markov(empty).conversions.tolist() == [0.0]


def test_transition_probabilities_read_as_the_chain() -> None:
    rows: Rows = [([0, 1], 1.0, 1.0, 0.0), ([1], 0.0, 2.0, 0.0)]
    table = transition_probabilities(fit_chain(to_paths(rows, ("a", "b"))))
    assert table == {
        "(start)": {"a": 0.5, "b": 0.5},
        "a": {"b": 1.0},
        "b": {"(conversion)": 0.25, "(null)": 0.75},
    }


@pytest.mark.parametrize("order", [0, 5])
def test_orders_outside_one_to_four_are_refused(order: int) -> None:
    with pytest.raises(FieldError) as raised:
        markov(to_paths([([0], 1.0, 0.0, 0.0)], ("a",)), order=order)
    assert raised.value.field == "order"
