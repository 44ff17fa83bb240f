"""How the console writes times and values in its cells."""

from datetime import UTC, datetime

from kenning.console.views import _at_path, shown, when


def test_times_are_shown_in_utc_and_text_that_is_no_time_as_sent() -> None:
    assert when("2026-05-04T11:30:15.25+02:00") == "2026-05-04 09:30:15 UTC"
    assert when("2026-05-04T09:30:15Z") == "2026-05-04 09:30:15 UTC"
    assert when("2026-05-04T09:30:15") == "2026-05-04 09:30:15 UTC"  # no offset: UTC
    assert when(datetime(2026, 5, 4, 9, 30, tzinfo=UTC)) == "2026-05-04 09:30:00 UTC"
    assert when("last tuesday") == "last tuesday"  # an event's timestamp as its sender wrote it
    assert when(None) == ""


def test_values_are_shown_for_reading() -> None:
    assert shown(106.04725) == "106.05" and shown(0.86336) == "0.863"
    assert shown(["web", 2.5, True]) == "web, 2.50, true" and shown(None) == ""
    assert shown(545) == "545"


def test_a_masked_parent_masks_the_traits_under_it() -> None:
    nested = {"address": "***", "plan": {"tier": "gold"}}
    assert _at_path(nested, "address.city") == "***"
    assert _at_path(nested, "plan.tier") == "gold" and _at_path(nested, "plan.x") is None
