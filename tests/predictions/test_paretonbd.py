"""Pareto/NBD: the published CDNOW estimates, recovery of simulated parameters, and the
forecasts against simulation."""

import numpy as np
import pytest

from kenning.predictions.histories import Collapsed
from kenning.predictions.paretonbd import ParetoNBD, log_likelihood
from kenning.predictions.simulate import paretonbd_customers
from tests.predictions.cdnow import cdnow

# Fader, Hardie and Lee (2005), "RFM and CLV: using iso-value curves", and the BG/NBD paper's
# comparison: the Pareto/NBD fitted to the same CDNOW calibration period
PUBLISHED = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
PUBLISHED_LOG_LIKELIHOOD = -9595.0


def test_cdnow_fit_matches_the_published_estimates() -> None:
    _, fit = ParetoNBD.fit(cdnow().collapsed)
    assert fit.converged
    for name, published in PUBLISHED.items():
        assert fit.params[name] == pytest.approx(published, rel=0.005), name
    assert fit.log_likelihood == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.05)


def test_simulated_parameters_are_recovered_within_three_percent() -> None:
    truth = {"r": 0.8, "alpha": 6.0, "s": 0.9, "beta": 12.0}
    rng = np.random.default_rng(11)
    age = rng.integers(20, 105, 300_000).astype(np.float64)
    frequency, recency = paretonbd_customers(**truth, age=age, rng=rng)
    _, fit = ParetoNBD.fit(Collapsed.of(frequency, np.round(recency, 1), age))
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=0.03), name


@pytest.mark.parametrize(("r", "s", "beta"), [(0.8, 0.9, 12.0), (0.3, 1.3, 5.0)])
def test_both_forms_of_the_likelihood_are_one_function(r: float, s: float, beta: float) -> None:
    """A₀ has one form for α ≥ β and another for α < β: at α = β ± ε they must meet."""
    rows = cdnow().collapsed
    for gap in (1e-7, -1e-7):
        near = np.array([r, beta + gap, s, beta])
        exact = np.array([r, beta, s, beta])
        np.testing.assert_allclose(
            log_likelihood(near, rows), log_likelihood(exact, rows), rtol=1e-6
        )


def test_forecasts_agree_with_simulated_customers() -> None:
    model = ParetoNBD(r=0.8, alpha=6.0, s=0.9, beta=12.0)
    rng = np.random.default_rng(5)
    frequency, _ = paretonbd_customers(0.8, 6.0, 0.9, 12.0, np.full(300_000, 30.0), rng)
    assert frequency.mean() == pytest.approx(float(model.expected_purchases(30.0)), rel=0.02)
    age = np.full(300_000, 20.0)
    frequency, recency = paretonbd_customers(0.8, 6.0, 0.9, 12.0, age, rng)
    forecast = model.conditional_expected_purchases(10.0, frequency, recency, age)
    expected = float(model.expected_purchases(30.0) - model.expected_purchases(20.0))
    assert forecast.mean() == pytest.approx(expected, rel=0.02)


def test_a_recent_buyer_is_more_likely_alive() -> None:
    model = ParetoNBD(**PUBLISHED)
    x, age = np.full(3, 4.0), np.full(3, 39.0)
    alive = model.p_alive(x, np.array([39.0, 20.0, 5.0]), age)
    assert alive[0] == pytest.approx(1.0) and (np.diff(alive) < 0).all() and alive[-1] > 0
