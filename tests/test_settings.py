from pathlib import Path

import pytest

from kenning.api.hardening import HardeningLimits
from kenning.identity.rules import Limit
from kenning.settings import ConfigError, Settings


def test_config_file_sets_identity_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "kenning.yaml"
    config.write_text("identity:\n  phone_region: GB\n  limits:\n    loyalty_id: {count: 1}\n")
    settings = Settings.from_env(config, db_path=tmp_path / "k.duckdb")
    assert settings.identity.phone_region == "GB"
    assert settings.identity.limit("loyalty_id") == Limit(1)
    monkeypatch.setenv("KENNING_CONFIG", str(config))
    assert Settings.from_env().identity.phone_region == "GB"


def test_the_audience_batch_interval_comes_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "kenning.yaml"
    config.write_text("audiences: {batch_minutes: 15}\n")
    assert Settings.from_env(config).audience_batch_minutes == 15.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("identity: [\n", "not valid YAML"),
        ("- a\n", "must hold a mapping"),
        ("campaigns: {}\n", "unknown sections campaigns"),
        ("audiences: {batch_minutes: 0}\n", "audiences takes batch_minutes"),
        ("audiences: {every: 5}\n", "audiences takes batch_minutes"),
        ("identity: {phone: GB}\n", "unknown identity settings: phone"),
        ("api: {token_rate: 0}\n", "api.token_rate is a positive number"),
        ("api: {rate: 5}\n", "api has no setting 'rate'"),
        ("api: {max_json_depth: 2.5}\n", "api.max_json_depth is a positive whole number"),
        ("api: {token_burst: true}\n", "api.token_burst is a positive number"),
        ("api: [1]\n", "api is a mapping"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "kenning.yaml"
    config.write_text(text)
    with pytest.raises(ValueError, match=message):
        Settings.from_env(config)
    assert issubclass(ConfigError, ValueError)


def test_the_api_limits_come_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "kenning.yaml"
    config.write_text("api: {token_rate: 1500, token_burst: 3000.5, max_json_depth: 8}\n")
    limits = Settings.from_env(config).hardening
    assert (limits.token_rate, limits.token_burst, limits.max_json_depth) == (1500, 3000.5, 8)
    assert limits.max_body_bytes == HardeningLimits().max_body_bytes  # the others as they were


def test_the_ingest_workers_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KENNING_INGEST_WORKERS", "3")
    assert Settings.from_env().ingest_workers == 3
    monkeypatch.setenv("KENNING_INGEST_WORKERS", "0")
    assert Settings.from_env().ingest_workers == 0
    monkeypatch.setenv("KENNING_INGEST_WORKERS", "two")
    with pytest.raises(ConfigError, match="KENNING_INGEST_WORKERS must be a whole number"):
        Settings.from_env()


def test_by_default_one_ingest_worker_where_there_is_a_second_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KENNING_INGEST_WORKERS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert Settings.from_env().ingest_workers == 1
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert Settings.from_env().ingest_workers == 0
