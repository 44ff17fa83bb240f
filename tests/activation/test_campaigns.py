"""Campaigns as declared: what parses and comes back unchanged through ``document``, what is
refused and the field path each refusal names, the delay forms, and what each trigger kind
compiles to (an event or audience trigger as is; a threshold, date or condition trigger as an
audience the campaign owns, whose condition is tested here on people at known times)."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kenning.activation.campaigns import (
    AudienceTrigger,
    CampaignError,
    EventTrigger,
    delay_of,
    parse_campaign,
    trigger_audience,
)
from kenning.audiences.audience import parse_audience
from kenning.audiences.conditions import ConditionError, dump
from kenning.audiences.evaluate import Facts, holds
from kenning.store.store import Store

BASE: dict[str, Any] = {
    "name": "welcome",
    "trigger": {"event": "Signed Up"},
    "message": {"body": "Hello {{ traits.first_name }}"},
    "channel": "email",
    "channels": {"email": {"destination": "smtp"}},
}


def campaign(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


def refusal(spec: object, name: str | None = None) -> tuple[str, str]:
    with pytest.raises(CampaignError) as caught:
        parse_campaign(spec, name)
    return caught.value.field, caught.value.message


# -- what parses, and the document round trip ---------------------------------------------------

FULL: dict[str, Any] = {
    "name": "birthday_offer",
    "description": "a present",
    "enabled": False,
    "trigger": {"anniversary": {"trait": "birthday"}, "days_before": 2},
    "message": {
        "subject": "Happy birthday, {{ traits.first_name or 'friend' }}",
        "body": "20% off until Sunday.",
        "html": "<p>20% off, {{ traits.first_name }}</p>",
    },
    "channel": "preferred",
    "channels": {"email": {"destination": "smtp"}, "sms": {"destination": "sms_gateway"}},
    "consent": ["marketing"],
    "exclude": ["bought_last_7d"],
    "frequency_caps": [{"channel": "email", "max": 2, "per": "7d"}, {"max": 5, "per": "12h"}],
    "quiet_hours": {
        "start": "21:00",
        "end": "08:00",
        "timezone_trait": "tz",
        "default_timezone": "Europe/London",
    },
    "holdout_percent": 12.5,
    "delay": "2h",
    "preferred_channel_trait": "likes",
}

GOOD: list[dict[str, Any]] = [
    FULL,
    campaign(),
    campaign(trigger={"event": ["A", "B"], "type": ["track", "page"]}),
    campaign(trigger={"event": "Order Completed", "where": {"properties.total": {"gte": 10}}}),
    campaign(trigger={"audience": "vip"}),
    campaign(trigger={"audience": "vip", "on": "exited"}),
    campaign(trigger={"threshold": {"computed": "lifetime_value", "gte": 1000}}),
    campaign(trigger={"anniversary": {"computed": "signed_up_at"}}),
    campaign(trigger={"days_since": {"computed": "last_order_at"}, "days": 30}),
    campaign(trigger={"condition": {"all": [{"trait": "vip", "eq": True}, {"consent": "x"}]}}),
    campaign(channel="preferred"),
    campaign(holdout_percent=0),
    campaign(holdout_percent=100),
    campaign(delay="0s"),
]


@pytest.mark.parametrize("spec", GOOD, ids=lambda s: str(s["trigger"]))
def test_the_document_parses_back_to_the_same_campaign(spec: dict[str, Any]) -> None:
    parsed = parse_campaign(spec)
    document = parsed.document()
    again = parse_campaign(document)
    assert again == parsed
    assert again.document() == document
    for key, value in spec.items():
        if key != "frequency_caps":
            assert document[key] == value, key


def test_the_document_gives_defaults_and_normalises_cap_periods() -> None:
    document = parse_campaign(
        campaign(frequency_caps=[{"max": 1, "per": "168h"}, {"max": 1, "per": "36h"}])
    ).document()
    assert document["frequency_caps"] == [{"max": 1, "per": "7d"}, {"max": 1, "per": "36h"}]
    assert document == {
        **BASE,
        "description": "",
        "enabled": True,
        "consent": [],
        "exclude": [],
        "frequency_caps": document["frequency_caps"],
        "holdout_percent": 0.0,
        "preferred_channel_trait": "preferred_channel",
    }


def test_a_name_comes_from_the_url_when_the_body_has_none() -> None:
    spec = {k: v for k, v in BASE.items() if k != "name"}
    assert parse_campaign(spec, "from_url").name == "from_url"
    assert parse_campaign(spec, "from_url").document()["name"] == "from_url"


def test_a_store_keeps_the_document_and_gives_back_the_campaign(tmp_path: Path) -> None:
    declared = parse_campaign(FULL)
    with Store.open(tmp_path / "k.duckdb") as store:
        store.writer.run(
            lambda con: store.activation.declare_campaign(con, declared), changes_stages=True
        ).result()
    with Store.open(tmp_path / "k.duckdb") as store:
        assert store.activation.campaigns == {"birthday_offer": declared}
        owned = {a.name: a for a in store.audiences.audiences}["campaign:birthday_offer"]
        assert owned.owner == "birthday_offer"
        assert declared.owned is not None
        assert dump(owned.condition) == dump(declared.owned.condition)


def test_destinations_are_those_of_the_channels() -> None:
    assert parse_campaign(FULL).destinations() == {"smtp", "sms_gateway"}


# -- refusals and their paths -----------------------------------------------------------------

BAD: list[tuple[object, str, str]] = [
    # (spec, field, part of the message)
    ([1], "", "a campaign is an object"),
    (campaign(name="Welcome"), "name", "lower case"),
    (campaign(name="a" * 65), "name", "at most 64"),
    (campaign(name="campaign:x"), "name", "lower case"),
    (campaign(bogus=1), "bogus", "unknown key"),
    (campaign(enabled="yes"), "enabled", "boolean"),
    (campaign(consent="marketing"), "consent", "list"),
    # the trigger
    (campaign(trigger="Signed Up"), "trigger", "dictionary"),
    (campaign(trigger={}), "trigger", "a trigger has one of: event, audience, threshold"),
    (campaign(trigger={"event": "X", "audience": "a"}), "trigger", "a trigger has one of"),
    (campaign(trigger={"event": "X", "on": "entered"}), "trigger.on", "unknown key"),
    (campaign(trigger={"audience": "a", "where": {}}), "trigger.where", "unknown key"),
    (
        campaign(trigger={"threshold": {"trait": "x", "gt": 1}, "days": 1}),
        "trigger.days",
        "unknown key",
    ),
    (campaign(trigger={"event": ""}), "trigger.event", "an event name or a list"),
    (campaign(trigger={"event": []}), "trigger.event", "an event name or a list"),
    (campaign(trigger={"event": ["A", 1]}), "trigger.event", "an event name or a list"),
    (campaign(trigger={"event": "X", "type": "track"}), "trigger.type", "types are among"),
    (campaign(trigger={"event": "X", "type": ["nope"]}), "trigger.type", "types are among"),
    (
        campaign(trigger={"event": "X", "where": {"properties.total": {"zz": 1}}}),
        "trigger.where.properties.total.zz",
        "operators are",
    ),
    (
        campaign(trigger={"event": "X", "where": {"timestamp": {"gt": 1}}}),
        "trigger.where.timestamp",
        "window",
    ),
    (campaign(trigger={"audience": ""}), "trigger.audience", "an audience's name"),
    (campaign(trigger={"audience": "a", "on": "left"}), "trigger.on", "entered or exited"),
    (
        campaign(trigger={"threshold": {"all": [{"trait": "a", "exists": True}]}}),
        "trigger.threshold",
        "a threshold is a trait, computed or prediction with one operator",
    ),
    (campaign(trigger={"threshold": {"event": "X"}}), "trigger.threshold", "a threshold is"),
    (
        campaign(trigger={"threshold": {"computed": "x", "gte": "abc"}}),
        "trigger.threshold.gte",
        "compare with a number or a date",
    ),
    (
        campaign(trigger={"threshold": {"trait": "x", "gte": 1, "lte": 3}}),
        "trigger.threshold",
        "exactly one operator",
    ),
    (
        campaign(trigger={"anniversary": {"trait": "b", "computed": "c"}}),
        "trigger.anniversary",
        "a date: {trait: path} or {computed: name}",
    ),
    (campaign(trigger={"anniversary": "birthday"}), "trigger.anniversary", "a date"),
    (campaign(trigger={"days_since": {"event": "X"}, "days": 3}), "trigger.days_since", "a date"),
    (
        campaign(trigger={"anniversary": {"trait": "b"}, "days_before": -1}),
        "trigger.days_before",
        "a whole number of days, 0 to 36500",
    ),
    (
        campaign(trigger={"anniversary": {"trait": "b"}, "days_before": 36_501}),
        "trigger.days_before",
        "0 to 36500",
    ),
    (
        campaign(trigger={"anniversary": {"trait": "b"}, "days_before": True}),
        "trigger.days_before",
        "whole number",
    ),
    (
        campaign(trigger={"anniversary": {"trait": "b"}, "days_before": 1.5}),
        "trigger.days_before",
        "whole number",
    ),
    (campaign(trigger={"days_since": {"trait": "b"}}), "trigger.days", "1 to 36500"),
    (campaign(trigger={"days_since": {"trait": "b"}, "days": 0}), "trigger.days", "1 to 36500"),
    (
        campaign(trigger={"condition": {"bogus": 1}}),
        "trigger.condition",
        "a condition is an object with one of",
    ),
    (
        campaign(trigger={"condition": {"all": [{"trait": "x", "gt": "nope"}]}}),
        "trigger.condition.all[0].gt",
        "compare with a number or a date",
    ),
    # the message
    (campaign(message={"body": ""}), "message.body", "at least 1 character"),
    (campaign(message={"subject": "hi"}), "message.body", "required"),
    (campaign(message={"body": "x", "bogus": 1}), "message.bogus", "unknown key"),
    (campaign(message={"body": "Hi {{ traits.first_name"}), "message.body", "line 1:"),
    (campaign(message={"body": "x", "subject": "{% if %}"}), "message.subject", "line 1:"),
    (campaign(message={"body": "x", "html": "<p>\n{{ }}</p>"}), "message.html", "line 2:"),
    (campaign(message={"body": "{% for x in y %}"}), "message.body", "line 1:"),
    # channels
    (campaign(channel="sms"), "channel", "channel 'sms' is not one of channels"),
    (campaign(channel=""), "channel", "at least 1 character"),
    (campaign(channels={}), "channels", "at least 1 item"),
    (campaign(channels={"email": {}}), "channels.email.destination", "required"),
    (
        campaign(channels={"email": {"destination": ""}}),
        "channels.email.destination",
        "at least 1 character",
    ),
    (campaign(channels={"email": "smtp"}), "channels.email", "Channel"),
    # frequency caps
    (
        campaign(frequency_caps=[{"max": -1, "per": "7d"}]),
        "frequency_caps[0].max",
        "greater than or equal to 0",
    ),
    (
        campaign(frequency_caps=[{"max": 1, "per": "7x"}]),
        "frequency_caps[0].per",
        "a duration is like",
    ),
    (
        campaign(frequency_caps=[{"max": 1, "per": "7d", "x": 1}]),
        "frequency_caps[0].x",
        "unknown key",
    ),
    # quiet hours
    (
        campaign(quiet_hours={"start": "21:00", "end": "21:00"}),
        "quiet_hours.end",
        "start and end at the same time",
    ),
    (campaign(quiet_hours={"start": "21:00"}), "quiet_hours.end", "required"),
    (
        campaign(quiet_hours={"start": "24:00", "end": "08:00"}),
        "quiet_hours.start",
        "a time of day as HH:MM",
    ),
    (campaign(quiet_hours={"start": "9:00", "end": "08:00"}), "quiet_hours.start", "HH:MM"),
    (campaign(quiet_hours={"start": "21:00", "end": "08:60"}), "quiet_hours.end", "HH:MM"),
    (campaign(quiet_hours={"start": "21:00", "end": "08:00:00"}), "quiet_hours.end", "HH:MM"),
    (
        campaign(quiet_hours={"start": "21:00", "end": "08:00", "default_timezone": "Mars/Base"}),
        "quiet_hours.default_timezone",
        "'Mars/Base' is not an IANA time zone",
    ),
    # holdout
    (campaign(holdout_percent=-0.01), "holdout_percent", "greater than or equal to 0"),
    (campaign(holdout_percent=100.01), "holdout_percent", "less than or equal to 100"),
    (campaign(holdout_percent="10"), "holdout_percent", "number"),
    (campaign(holdout_percent=True), "holdout_percent", "number"),
]


@pytest.mark.parametrize(("spec", "field", "message"), BAD, ids=lambda v: str(v)[:60])
def test_a_bad_campaign_is_refused_naming_the_field(spec: object, field: str, message: str) -> None:
    got_field, got_message = refusal(spec)
    assert got_field == field
    assert message in got_message
    assert not got_message.startswith("Value error")


def test_the_name_in_the_body_must_be_the_one_in_the_url() -> None:
    assert refusal(campaign(), "other") == ("name", "the name in the body is not 'other'")


def test_the_error_reads_as_field_and_message() -> None:
    with pytest.raises(CampaignError) as caught:
        parse_campaign(campaign(channel="sms"))
    assert str(caught.value).startswith("channel: channel 'sms'")


# -- delays -----------------------------------------------------------------------------------

DELAYS = [
    ("90s", timedelta(seconds=90)),
    ("30m", timedelta(minutes=30)),
    ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)),
    ("1w", timedelta(weeks=1)),
    ("0s", timedelta(0)),
    ("365d", timedelta(days=365)),
    ("52w", timedelta(weeks=52)),
]


@pytest.mark.parametrize(("text", "expected"), DELAYS)
def test_a_delay_is_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert delay_of(text) == expected
    assert parse_campaign(campaign(delay=text)).delay == expected


def test_no_delay_is_none() -> None:
    assert delay_of(None) == timedelta(0)
    assert parse_campaign(campaign()).delay == timedelta(0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("366d", "at most a year"),
        ("53w", "at most a year"),
        ("1y", "a whole number and a unit"),
        ("1.5h", "a whole number and a unit"),
        ("-1h", "a whole number and a unit"),
        (" 1h", "a whole number and a unit"),
        ("1H", "a whole number and a unit"),
        ("1h30m", "a whole number and a unit"),
        ("h", "a whole number and a unit"),
        ("1234567s", "a whole number and a unit"),
        ("", "a whole number and a unit"),
    ],
)
def test_a_bad_delay_is_refused(text: str, message: str) -> None:
    field, got = refusal(campaign(delay=text))
    assert field == "delay"
    assert message in got


def test_a_delay_is_text() -> None:
    assert refusal(campaign(delay=3600)) == ("delay", "Input should be a valid string")


# -- triggers ---------------------------------------------------------------------------------


def test_an_event_trigger_is_kept_as_is() -> None:
    parsed = parse_campaign(
        campaign(
            trigger={
                "event": ["Order Completed", "Order Updated"],
                "type": ["track"],
                "where": {"properties.total": {"gte": 10}, "properties.currency": "EUR"},
            }
        )
    )
    assert parsed.owned is None
    assert isinstance(parsed.trigger, EventTrigger)
    assert parsed.trigger.events == ("Order Completed", "Order Updated")
    assert parsed.trigger.types == ("track",)
    assert [(w.path, w.op, w.operand) for w in parsed.trigger.where] == [
        ("properties.total", "gte", 10.0),
        ("properties.currency", "eq", "EUR"),
    ]


def test_one_event_name_is_a_list_of_one() -> None:
    trigger = parse_campaign(campaign()).trigger
    assert trigger == EventTrigger(("Signed Up",), (), ())


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ({"audience": "vip"}, AudienceTrigger("vip", "entered")),
        ({"audience": "vip", "on": "entered"}, AudienceTrigger("vip", "entered")),
        ({"audience": "vip", "on": "exited"}, AudienceTrigger("vip", "exited")),
    ],
)
def test_an_audience_trigger_names_the_audience_and_the_change(
    trigger: dict[str, Any], expected: AudienceTrigger
) -> None:
    parsed = parse_campaign(campaign(trigger=trigger))
    assert parsed.trigger == expected
    assert parsed.owned is None


OWNED: list[tuple[dict[str, Any], dict[str, Any]]] = [
    # (trigger, the owned audience's condition)
    (
        {"threshold": {"computed": "lifetime_value", "gte": 1000}},
        {"computed": "lifetime_value", "gte": 1000},
    ),
    ({"threshold": {"trait": "score", "lt": 3}}, {"trait": "score", "lt": 3}),
    ({"threshold": {"prediction": "churn", "gt": 0.5}}, {"prediction": "churn", "gt": 0.5}),
    ({"anniversary": {"trait": "birthday"}}, {"trait": "birthday", "anniversary_within": "1d"}),
    (
        {"anniversary": {"trait": "birthday"}, "days_before": 0},
        {"trait": "birthday", "anniversary_within": "1d"},
    ),
    (
        {"anniversary": {"computed": "signed_up_at"}, "days_before": 6},
        {"computed": "signed_up_at", "anniversary_within": "7d"},
    ),
    (
        {"days_since": {"computed": "last_order_at"}, "days": 30},
        {"computed": "last_order_at", "before_last": "30d"},
    ),
    (
        {"days_since": {"trait": "signed_up_at"}, "days": 1},
        {"trait": "signed_up_at", "before_last": "1d"},
    ),
    (
        {"condition": {"all": [{"trait": "vip", "eq": True}, {"consent": "marketing"}]}},
        {"all": [{"trait": "vip", "eq": True}, {"consent": "marketing"}]},
    ),
    (
        {"condition": {"event": "Order Completed", "within": "7d", "performed": False}},
        {"event": "Order Completed", "within": "7d", "performed": False},
    ),
]


@pytest.mark.parametrize(("trigger", "condition"), OWNED, ids=lambda v: str(v)[:50])
def test_a_kept_trigger_is_an_audience_the_campaign_owns(
    trigger: dict[str, Any], condition: dict[str, Any]
) -> None:
    parsed = parse_campaign(campaign(trigger=trigger))
    assert parsed.owned is not None
    assert parsed.owned.name == "campaign:welcome" == trigger_audience("welcome")
    assert parsed.owned.owner == "welcome"
    assert parsed.owned.description == "the trigger of campaign welcome"
    assert dump(parsed.owned.condition) == condition
    assert parsed.trigger == AudienceTrigger("campaign:welcome", "entered")


def test_no_declared_audience_can_take_an_owned_audience_name() -> None:
    with pytest.raises(ConditionError):
        parse_audience({"name": trigger_audience("welcome"), "condition": {"consent": "x"}})


NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def owned_holds(trigger: dict[str, Any], traits: dict[str, Any]) -> bool:
    owned = parse_campaign(campaign(trigger=trigger)).owned
    assert owned is not None
    return holds(owned.condition, Facts(traits=traits), NOW)


def years_ago_in(days: int) -> str:
    """A birthday whose anniversary comes ``days`` days after NOW."""
    day = NOW.date() + timedelta(days=days)
    return date(1990, day.month, day.day).isoformat()


@pytest.mark.parametrize("days_before", [0, 1, 6, 30])
def test_an_anniversary_trigger_holds_from_days_before_the_date(days_before: int) -> None:
    trigger = {"anniversary": {"trait": "birthday"}, "days_before": days_before}
    # The person enters (and the campaign fires) when the window first holds: days_before
    # days ahead of the date; it still holds on the day, and not after it.
    assert owned_holds(trigger, {"birthday": years_ago_in(days_before)})
    assert owned_holds(trigger, {"birthday": years_ago_in(0)})
    assert not owned_holds(trigger, {"birthday": years_ago_in(days_before + 1)})
    assert not owned_holds(trigger, {"birthday": years_ago_in(-1)})
    assert not owned_holds(trigger, {})


def test_a_days_since_trigger_holds_once_that_many_days_have_passed() -> None:
    trigger = {"days_since": {"trait": "last_order_at"}, "days": 30}
    passed = (NOW - timedelta(days=30, minutes=1)).isoformat()
    not_yet = (NOW - timedelta(days=29, hours=23)).isoformat()
    assert owned_holds(trigger, {"last_order_at": passed})
    assert not owned_holds(trigger, {"last_order_at": not_yet})
    assert not owned_holds(trigger, {})


def test_a_threshold_trigger_holds_past_the_value() -> None:
    trigger = {"threshold": {"trait": "points", "gte": 100}}
    assert owned_holds(trigger, {"points": 100})
    assert not owned_holds(trigger, {"points": 99.5})
