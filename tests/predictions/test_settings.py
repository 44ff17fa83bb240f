"""The ``predictions`` configuration section: read whole, refused with the field's path."""

from pathlib import Path

import pytest

from kenning.errors import FieldError
from kenning.predictions.settings import PredictionSettings
from kenning.settings import ConfigError, load_config


def test_a_section_is_read_whole(tmp_path: Path) -> None:
    config = tmp_path / "kenning.yaml"
    config.write_text(
        "predictions:\n  order_event: Purchase\n  value: properties.amount\n  model: paretonbd\n"
        "  horizon_days: 730\n  schedule_hours: 0\n  lifecycle: {new_days: 14}\n"
    )
    settings = load_config(config)["predictions"]
    assert isinstance(settings, PredictionSettings)
    assert settings.orders().event == "Purchase" and settings.value == ("properties.amount",)
    assert settings.clv_options().model == "paretonbd" and settings.horizon_days == 730
    assert settings.schedule_hours == 0 and settings.lifecycle.new_days == 14
    assert settings.lifecycle.active_days == 90


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"horizon": 3}, "predictions.horizon"),
        ({"model": "magic"}, "predictions.model"),
        ({"time_unit": "fortnight"}, "predictions.time_unit"),
        ({"discount_rate": 2}, "predictions.discount_rate"),
        ({"holdout_days": -1}, "predictions.holdout_days"),
        ({"horizon_days": "long"}, "predictions.horizon_days"),
        ({"value": []}, "predictions.value"),
        ({"lifecycle": {"new_days": "soon"}}, "predictions.lifecycle.new_days"),
        ({"lifecycle": {"active_days": 200}}, "predictions.lifecycle"),
        ([], "predictions"),
    ],
)
def test_bad_settings_name_their_field(section: object, field: str) -> None:
    with pytest.raises(FieldError) as error:
        PredictionSettings.from_config(section)
    assert error.value.field == field


def test_a_bad_section_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "kenning.yaml"
    config.write_text("predictions:\n  model: magic\n")
    with pytest.raises(ConfigError, match=r"predictions\.model"):
        load_config(config)
