"""BG/NBD: the published CDNOW estimates, recovery of simulated parameters, the analytic
gradient, and the forecasts against simulation."""

import numpy as np
import pytest

from kenning.predictions.bgnbd import BetaGeo, log_likelihood, log_likelihood_and_gradient
from kenning.predictions.histories import Collapsed
from kenning.predictions.simulate import bgnbd_customers
from tests.predictions.cdnow import cdnow, central_differences

# Fader, Hardie and Lee (2005), "Counting your customers the easy way", table 1
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LOG_LIKELIHOOD = -9582.4


def test_cdnow_fit_matches_the_published_estimates() -> None:
    model, fit = BetaGeo.fit(cdnow().collapsed)
    assert fit.converged and fit.customers == 2357
    for name, published in PUBLISHED.items():
        assert fit.params[name] == pytest.approx(published, rel=0.005), name
    assert fit.log_likelihood == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.05)
    assert model.as_dict() == fit.params


def test_simulated_parameters_are_recovered_within_three_percent() -> None:
    truth = {"r": 0.8, "alpha": 6.0, "a": 1.2, "b": 4.0}
    rng = np.random.default_rng(7)
    age = rng.integers(20, 105, 200_000).astype(np.float64)
    frequency, recency = bgnbd_customers(**truth, age=age, rng=rng)
    _, fit = BetaGeo.fit(Collapsed.of(frequency, np.round(recency, 1), age))
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=0.03), name


def test_the_gradient_is_the_likelihoods_slope() -> None:
    rows = cdnow().collapsed
    for params in ([0.243, 4.414, 0.793, 2.426], [1.5, 0.7, 2.0, 0.9]):
        point = np.array(params)
        value, gradient = log_likelihood_and_gradient(point, rows)
        assert value == pytest.approx(float(rows.weight @ log_likelihood(point, rows)))
        numeric = central_differences(lambda p: float(rows.weight @ log_likelihood(p, rows)), point)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-5)


def test_forecasts_agree_with_simulated_customers() -> None:
    model = BetaGeo(r=0.8, alpha=6.0, a=1.2, b=4.0)
    rng = np.random.default_rng(3)
    # a new customer's purchases over 30 weeks (equation 9)
    frequency, recency = bgnbd_customers(0.8, 6.0, 1.2, 4.0, np.full(300_000, 30.0), rng)
    assert frequency.mean() == pytest.approx(float(model.expected_purchases(30.0)), rel=0.02)
    # the conditional forecast (equation 10), averaged over histories at 20 weeks, is what
    # the unconditional one expects in weeks 20 to 30
    age = np.full(300_000, 20.0)
    frequency, recency = bgnbd_customers(0.8, 6.0, 1.2, 4.0, age, rng)
    forecast = model.conditional_expected_purchases(10.0, frequency, recency, age)
    expected = float(model.expected_purchases(30.0) - model.expected_purchases(20.0))
    assert forecast.mean() == pytest.approx(expected, rel=0.02)


def test_a_new_customer_is_alive_and_expects_what_anyone_does() -> None:
    model = BetaGeo(**PUBLISHED)
    zero = np.zeros(1)
    assert model.p_alive(zero, zero, np.array([39.0])) == pytest.approx(1.0)
    new = model.conditional_expected_purchases(39.0, zero, zero, zero)
    assert new[0] == pytest.approx(float(model.expected_purchases(39.0)))
    # the same frequency, a purchase longer ago: less likely alive, fewer purchases expected
    x, age = np.full(3, 4.0), np.full(3, 39.0)
    recency = np.array([38.0, 20.0, 5.0])
    alive = model.p_alive(x, recency, age)
    assert (np.diff(alive) < 0).all() and (alive > 0).all() and (alive <= 1).all()
    assert (np.diff(model.conditional_expected_purchases(39.0, x, recency, age)) < 0).all()
