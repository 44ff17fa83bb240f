"""Gamma-Gamma: the published CDNOW estimates, recovery of simulated parameters, the analytic
gradient, and the conditional expectation of spend."""

import numpy as np
import pytest

from kenning.errors import FieldError
from kenning.predictions.gammagamma import (
    GammaGamma,
    SpendRows,
    log_likelihood,
    log_likelihood_and_gradient,
)
from kenning.predictions.simulate import bgnbd_customers, spends
from tests.predictions.cdnow import cdnow, central_differences

# Fader and Hardie (2013), "The Gamma-Gamma model of monetary value": the 946 CDNOW customers
# with a repeat purchase in the 39-week calibration period
PUBLISHED = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def test_cdnow_fit_matches_the_published_estimates() -> None:
    histories = cdnow()
    _, fit = GammaGamma.fit(histories.frequency, histories.monetary)
    assert fit.converged and fit.customers == 946
    for name, published in PUBLISHED.items():
        assert fit.params[name] == pytest.approx(published, rel=0.005), name


def test_simulated_parameters_are_recovered_within_three_percent() -> None:
    truth = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    rng = np.random.default_rng(2)
    age = rng.integers(20, 105, 300_000).astype(np.float64)
    frequency, _ = bgnbd_customers(0.8, 6.0, 1.2, 4.0, age, rng)
    _, fit = GammaGamma.fit(frequency, spends(**truth, frequency=frequency, rng=rng))
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=0.03), name


def test_the_gradient_is_the_likelihoods_slope() -> None:
    histories = cdnow()
    rows = SpendRows.of(histories.frequency, histories.monetary)
    point = np.array([6.25, 3.74, 15.44]) * 1.3
    value, gradient = log_likelihood_and_gradient(point, rows)
    numeric = central_differences(lambda p: float(rows.weight @ log_likelihood(p, rows)), point)
    assert value == pytest.approx(float(rows.weight @ log_likelihood(point, rows)))
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-5)


def test_expected_spend_leans_on_the_customer_the_more_they_bought() -> None:
    model = GammaGamma(**PUBLISHED)
    # no repeat purchase: the population's mean
    no_history = model.expected_spend(np.zeros(1), np.zeros(1))
    assert no_history[0] == pytest.approx(model.mean_spend)
    assert model.mean_spend == pytest.approx(6.25 * 15.44 / 2.74)
    # one customer spending 100 a time: the more transactions, the nearer to 100
    spend = model.expected_spend(np.array([1.0, 5.0, 50.0]), np.full(3, 100.0))
    assert (np.diff(spend) > 0).all() and spend[-1] < 100 and spend[0] > model.mean_spend


def test_no_repeat_spend_is_refused_with_a_reason() -> None:
    with pytest.raises(FieldError, match="repeat transaction"):
        GammaGamma.fit(np.zeros(5), np.zeros(5))
