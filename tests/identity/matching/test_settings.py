"""Matching settings from the configuration file."""

import pytest

from kenning.identity.matching.settings import DEFAULT_FIELDS, MatchSettings, MatchSettingsError


def test_defaults_compare_segment_reserved_traits() -> None:
    traits = {f.trait for f in MatchSettings().fields}
    assert {"firstName", "lastName", "birthday", "address.postalCode", "email", "phone"} <= traits


def test_fields_are_added_replaced_and_removed() -> None:
    settings = MatchSettings.from_config(
        {
            "match_probability": 0.995,
            "fields": {"ssn": {"trait": "socSecId", "kind": "id"}, "state": None},
        }
    )
    names = [f.name for f in settings.fields]
    assert "ssn" in names and "state" not in names
    assert len(names) == len(DEFAULT_FIELDS)
    assert settings.match_probability == 0.995
    only = MatchSettings.from_config(
        {"only_fields": True, "fields": {"ssn": {"trait": "socSecId", "kind": "id"}}}
    )
    assert [f.name for f in only.fields] == ["ssn"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"colour": 1}, "unknown matching settings: colour"),
        ({"fields": {"ssn": {"kind": "id"}}}, "needs a trait"),
        ({"fields": {"ssn": {"trait": "x", "kind": "fuzzy"}}}, "kind must be one of"),
        ({"fields": {"ssn": {"trait": "a..b"}}}, "dotted trait name"),
        ({"match_probability": 0.5, "review_probability": 0.9}, "review_probability"),
    ],
)
def test_bad_settings_say_what_is_wrong(config: dict[str, object], message: str) -> None:
    with pytest.raises(MatchSettingsError, match=message):
        MatchSettings.from_config(config)
