"""Lifetime value and the holdout report, on CDNOW and against brute-force sums."""

import numpy as np
import pytest

from kenning.errors import FieldError
from kenning.predictions.clv import (
    PURCHASE_MODELS,
    customer_values,
    fit_models,
    holdout_report,
)
from kenning.predictions.histories import histories
from kenning.predictions.options import PURCHASE_MODEL_NAMES, ClvOptions
from tests.predictions.cdnow import cdnow


def test_without_discounting_value_is_purchases_times_spend() -> None:
    summary = cdnow()
    options = ClvOptions(horizon_days=365, discount_rate=0.0)
    fitted = fit_models(summary, options)
    values = customer_values(fitted, summary, options)
    assert fitted.spend is not None and [f.model for f in fitted.fits] == ["bgnbd", "gammagamma"]
    np.testing.assert_allclose(values.clv, values.expected_purchases * values.expected_spend)
    assert ((values.p_alive > 0) & (values.p_alive <= 1)).all()


@pytest.mark.parametrize("model", ["bgnbd", "paretonbd"])
def test_discounting_is_a_monthly_sum(model: str) -> None:
    summary = cdnow()
    options = ClvOptions(model=model, horizon_days=200, discount_rate=0.2)
    fitted = fit_models(summary, options)
    values = customer_values(fitted, summary, options)
    # month by month, by hand: 6 whole months and 17.375 days
    x, t_x, age = summary.frequency, summary.recency, summary.age
    month = 365.25 / 12
    ends = [min(k * month, 200.0) for k in range(1, 8)]
    total, before = np.zeros(summary.count), np.zeros(summary.count)
    for end in ends:
        upto = fitted.purchases.conditional_expected_purchases(end / 7, x, t_x, age)
        total += (upto - before) / 1.2 ** (end / 365.25)
        before = upto
    np.testing.assert_allclose(values.clv, total * values.expected_spend, rtol=1e-12)
    assert (values.clv < values.expected_purchases * values.expected_spend).all()


def test_the_holdout_report_sets_the_forecast_beside_what_happened() -> None:
    summary = cdnow()
    fitted = fit_models(summary, ClvOptions())
    report = holdout_report(fitted, summary)
    assert report is not None
    assert report["length"] == pytest.approx(39.0) and report["customers"] == 2357
    assert report["actual_purchases"] == summary.holdout_frequency.sum()
    forecast = fitted.purchases.conditional_expected_purchases(
        39.0, summary.frequency, summary.recency, summary.age
    )
    assert report["predicted_purchases"] == pytest.approx(forecast.sum())
    table = report["by_frequency"]
    assert [row["frequency"] for row in table] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(row["customers"] for row in table) == 2357
    # the model's known fit on CDNOW: the week 40-78 total within 15%, customers who bought
    # more in calibration expected and seen to buy more
    assert report["predicted_purchases"] == pytest.approx(report["actual_purchases"], rel=0.15)
    assert report["correlation"] > 0.5
    assert [r["predicted"] for r in table] == sorted(r["predicted"] for r in table)
    assert report["spend"]["customers"] > 0


def test_no_holdout_no_report_and_bad_options_are_named() -> None:
    one_customer = histories(
        np.zeros(3, dtype=np.int64), np.array([0, 86_400_000_000, 2 * 86_400_000_000]),
        np.array([5.0, 6.0, 7.0]), calibration_end_us=3 * 86_400_000_000,
    )  # fmt: skip
    fitted = fit_models(one_customer, ClvOptions())
    assert holdout_report(fitted, one_customer) is None
    for options, field in (({"model": "magic"}, "model"), ({"horizon_days": 0}, "horizon"),
                           ({"discount_rate": 1.5}, "discount_rate")):  # fmt: skip
        with pytest.raises(FieldError) as error:
            ClvOptions(**options)  # type: ignore[arg-type]
        assert error.value.field == field


def test_the_purchase_models_are_the_names_options_accept() -> None:
    assert tuple(PURCHASE_MODELS) == PURCHASE_MODEL_NAMES
