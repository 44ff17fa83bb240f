"""The contact policy on people as they are at send time: the holdout draw (stable, and as large
as asked over many people), consent, exclusion audiences, the channel chosen and why none is,
quiet hours on the person's clock, and frequency caps."""

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kenning.activation.campaigns import Campaign, QuietHours, parse_campaign
from kenning.activation.declared import DeclaredDestination, parse_destination
from kenning.activation.policy import (
    address,
    capped,
    choose_channel,
    excluded_by,
    in_holdout,
    nested_traits,
    quiet_until,
    refused_consent,
)
from kenning.audiences.evaluate import Facts

# -- holdout ----------------------------------------------------------------------------------

PEOPLE = 20_000


@pytest.mark.parametrize("percent", [1.0, 10.0, 12.5, 50.0, 90.0])
def test_the_holdout_is_close_to_the_percentage_over_many_people(percent: float) -> None:
    held = sum(in_holdout("spring_sale", i, percent) for i in range(1, PEOPLE + 1))
    p = percent / 100
    expected = PEOPLE * p
    # Five binomial standard deviations: a fair draw lands outside once in ~1.7 million.
    assert abs(held - expected) <= 5 * math.sqrt(PEOPLE * p * (1 - p))


def test_the_holdout_is_stable_per_campaign_and_person() -> None:
    first = [in_holdout("spring_sale", i, 10) for i in range(1, 2_001)]
    assert first == [in_holdout("spring_sale", i, 10) for i in range(1, 2_001)]


def test_each_campaign_draws_its_own_control_group() -> None:
    a = {i for i in range(1, PEOPLE + 1) if in_holdout("spring_sale", i, 10)}
    b = {i for i in range(1, PEOPLE + 1) if in_holdout("winback", i, 10)}
    # Independent draws overlap in about p * p of the people.
    expected, sd = PEOPLE * 0.01, math.sqrt(PEOPLE * 0.01 * 0.99)
    assert abs(len(a & b) - expected) <= 5 * sd


def test_a_larger_holdout_keeps_those_a_smaller_one_held() -> None:
    small = {i for i in range(1, 5_001) if in_holdout("c", i, 5)}
    large = {i for i in range(1, 5_001) if in_holdout("c", i, 20)}
    assert small < large


def test_no_holdout_holds_nobody_and_a_full_one_everybody() -> None:
    assert not any(in_holdout("c", i, 0) for i in range(1, 1_001))
    assert all(in_holdout("c", i, 100) for i in range(1, 1_001))
    assert not in_holdout("c", None, 100)


# -- consent and exclusion --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("categories", "consent", "refused"),
    [
        ([], {}, None),
        (["marketing"], {"marketing": True}, None),
        (["marketing"], {}, "marketing"),
        (["marketing"], {"marketing": False}, "marketing"),
        (["marketing"], {"analytics": True}, "marketing"),
        (["marketing", "sms"], {"marketing": True}, "sms"),
        (["marketing", "sms"], {"sms": True}, "marketing"),
        (["marketing", "sms"], {"marketing": True, "sms": True}, None),
    ],
)
def test_every_category_must_be_granted(
    categories: list[str], consent: dict[str, bool], refused: str | None
) -> None:
    assert refused_consent(categories, Facts(consent=consent)) == refused


def test_no_preferences_at_all_deny_every_category() -> None:
    assert refused_consent(["marketing"], None) == "marketing"
    assert refused_consent(["marketing"], Facts()) == "marketing"
    assert refused_consent([], None) is None


def test_only_true_grants() -> None:
    for value in ("true", 1, "yes", None):
        consent: dict[str, Any] = {"marketing": value}
        assert refused_consent(["marketing"], Facts(consent=consent)) == "marketing"


def test_exclusion_names_the_first_audience_the_person_is_in() -> None:
    facts = Facts(audiences=frozenset({"bought_last_7d", "complained"}))
    assert excluded_by(["unsubscribed", "complained", "bought_last_7d"], facts) == "complained"
    assert excluded_by(["unsubscribed"], facts) is None
    assert excluded_by([], facts) is None


# -- channels ---------------------------------------------------------------------------------

CHANNELS = {
    "email": {"destination": "smtp"},
    "sms": {"destination": "sms_gateway"},
    "webhook": {"destination": "hook"},
}


def campaign(**changes: Any) -> Campaign:
    spec: dict[str, Any] = {
        "name": "offer",
        "trigger": {"event": "Signed Up"},
        "message": {"body": "hi"},
        "channel": "preferred",
        "channels": CHANNELS,
    }
    return parse_campaign({**spec, **changes})


def destination(name: str, **changes: Any) -> DeclaredDestination:
    spec: dict[str, Any] = {"name": name, "kind": "webhook", "config": {}}
    return parse_destination({**spec, **changes})


DESTINATIONS = {d.name: d for d in map(destination, ("smtp", "sms_gateway", "hook"))}
ADA = {"email": "ada@example.com", "phone": "+441234567890"}


def choose(
    chosen_for: Campaign,
    traits: Mapping[str, Any],
    consent: Mapping[str, bool] | None = None,
    destinations: Mapping[str, DeclaredDestination] = DESTINATIONS,
) -> str:
    """The channel chosen, or the reason for none."""
    chosen = choose_channel(chosen_for, Facts(traits=traits, consent=consent or {}), destinations)
    if isinstance(chosen, str):
        return chosen
    channel, through = chosen
    assert through is destinations[chosen_for.spec.channels[channel].destination]
    return channel


def test_a_fixed_channel_is_the_only_one_tried() -> None:
    assert choose(campaign(channel="sms"), ADA) == "sms"
    assert choose(campaign(channel="sms"), {**ADA, "preferred_channel": "email"}) == "sms"
    assert choose(campaign(channel="sms"), {"email": "ada@example.com"}) == (
        "no channel: sms: no phone"
    )


def test_preferred_tries_the_campaigns_channels_in_declared_order() -> None:
    assert choose(campaign(), ADA) == "email"
    assert choose(campaign(), {"phone": "+441234567890"}) == "sms"
    assert choose(campaign(), {}) == "webhook"  # needs no address
    reordered = campaign(channels={"sms": CHANNELS["sms"], "email": CHANNELS["email"]})
    assert choose(reordered, ADA) == "sms"


@pytest.mark.parametrize(
    ("stated", "chosen"),
    [
        ("sms", "sms"),
        (["sms", "email"], "sms"),
        (["push", "webhook"], "webhook"),  # push is not one of the campaign's channels
        ("carrier_pigeon", "email"),
        ([], "email"),
        (7, "email"),  # a trait holds any JSON
        ({"sms": True}, "email"),
        (None, "email"),
    ],
)
def test_the_persons_preferred_channels_come_first(stated: object, chosen: str) -> None:
    assert choose(campaign(), {**ADA, "preferred_channel": stated}) == chosen


def test_the_preferred_channel_trait_is_the_campaigns() -> None:
    likes = campaign(preferred_channel_trait="contact.likes")
    assert choose(likes, {**ADA, "contact.likes": "sms", "preferred_channel": "email"}) == "sms"


def test_a_preferred_channel_the_person_cannot_be_reached_on_is_skipped() -> None:
    traits = {"email": "ada@example.com", "preferred_channel": "sms"}
    assert choose(campaign(), traits) == "email"
    assert choose(campaign(), {**traits, "phone": "   "}) == "email"


def test_a_channel_whose_destination_lacks_consent_is_skipped() -> None:
    guarded = {**DESTINATIONS, "smtp": destination("smtp", consent=["email_marketing"])}
    assert choose(campaign(), ADA, destinations=guarded) == "sms"
    assert choose(campaign(), ADA, {"email_marketing": True}, guarded) == "email"


def test_a_disabled_or_missing_destination_is_skipped() -> None:
    off = {**DESTINATIONS, "smtp": destination("smtp", enabled=False)}
    assert choose(campaign(), ADA, destinations=off) == "sms"
    missing = {k: v for k, v in DESTINATIONS.items() if k != "smtp"}
    assert choose(campaign(), ADA, destinations=missing) == "sms"


def test_no_channel_says_why_for_each() -> None:
    destinations = {
        "smtp": destination("smtp", enabled=False),
        "sms_gateway": destination("sms_gateway"),
        "hook": destination("hook", consent=["analytics"]),
    }
    reason = choose(campaign(), {"email": "ada@example.com"}, destinations=destinations)
    assert reason == (
        "no channel: email: destination smtp is off; sms: no phone; "
        "webhook: consent analytics not granted"
    )


def test_the_campaigns_consent_goes_for_every_channel() -> None:
    asks = campaign(consent=["marketing"])
    assert choose(asks, ADA) == (
        "no channel: email: consent marketing not granted; sms: consent marketing not granted; "
        "webhook: consent marketing not granted"
    )
    assert choose(asks, ADA, {"marketing": True}) == "email"


def test_an_address_is_the_channels_trait() -> None:
    facts = Facts(traits={"email": "ada@example.com", "phone": "", "push_token": 5})
    assert address("email", facts) == "ada@example.com"
    assert address("sms", facts) is None
    assert address("push", facts) is None
    assert address("whatsapp", facts) is None
    assert address("webhook", facts) == ""


# -- quiet hours ------------------------------------------------------------------------------

NIGHT = QuietHours(start="21:00", end="08:00")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("2026-05-04T20:59:59+00:00", None),
        ("2026-05-04T21:00:00+00:00", "2026-05-05T08:00:00+00:00"),
        ("2026-05-04T23:30:00+00:00", "2026-05-05T08:00:00+00:00"),
        ("2026-05-05T00:00:00+00:00", "2026-05-05T08:00:00+00:00"),
        ("2026-05-05T07:59:59+00:00", "2026-05-05T08:00:00+00:00"),
        ("2026-05-05T08:00:00+00:00", None),
        ("2026-05-05T12:00:00+00:00", None),
        ("2026-12-31T22:00:00+00:00", "2027-01-01T08:00:00+00:00"),
    ],
)
def test_quiet_hours_across_midnight(now: str, until: str | None) -> None:
    ends = quiet_until(NIGHT, Facts(), at(now))
    assert ends == (None if until is None else at(until))
    assert ends is None or ends.tzinfo is UTC


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("2026-05-04T11:59:00+00:00", None),
        ("2026-05-04T12:00:00+00:00", "2026-05-04T14:00:00+00:00"),
        ("2026-05-04T13:59:00+00:00", "2026-05-04T14:00:00+00:00"),
        ("2026-05-04T14:00:00+00:00", None),
        ("2026-05-04T23:00:00+00:00", None),
    ],
)
def test_quiet_hours_within_a_day(now: str, until: str | None) -> None:
    lunch = QuietHours(start="12:00", end="14:00")
    assert quiet_until(lunch, Facts(), at(now)) == (None if until is None else at(until))


def test_quiet_hours_are_on_the_persons_clock() -> None:
    now = at("2026-05-04T13:00:00+00:00")  # 22:00 in Tokyo (UTC+9), 13:00 in UTC
    tokyo = Facts(traits={"timezone": "Asia/Tokyo"})
    assert quiet_until(NIGHT, tokyo, now) == at("2026-05-05T08:00:00+09:00")
    assert quiet_until(NIGHT, tokyo, now) == at("2026-05-04T23:00:00+00:00")
    assert quiet_until(NIGHT, Facts(), now) is None
    # At 23:00 UTC it is 08:00 in Tokyo: their night is over while UTC's has begun.
    assert quiet_until(NIGHT, tokyo, at("2026-05-04T23:00:00+00:00")) is None
    assert quiet_until(NIGHT, Facts(), at("2026-05-04T23:00:00+00:00")) == at(
        "2026-05-05T08:00:00+00:00"
    )


def test_an_unknown_or_missing_zone_is_the_default_clock() -> None:
    new_york = QuietHours(start="21:00", end="08:00", default_timezone="America/New_York")
    now = at("2026-05-05T03:00:00+00:00")  # 23:00 in New York (UTC-4 in May)
    expected = at("2026-05-05T08:00:00-04:00")
    unknown = ["Mars/Olympus_Mons", 9, "", "../../etc/passwd", None]
    for traits in [{}, *({"timezone": zone} for zone in unknown)]:
        assert quiet_until(new_york, Facts(traits=traits), now) == expected
    assert quiet_until(new_york, Facts(traits={"timezone": "UTC"}), now) == at(
        "2026-05-05T08:00:00+00:00"
    )


def test_the_zone_trait_is_the_quiet_hours() -> None:
    quiet = QuietHours(start="21:00", end="08:00", timezone_trait="address.tz")
    now = at("2026-05-04T13:00:00+00:00")
    assert quiet_until(quiet, Facts(traits={"address.tz": "Asia/Tokyo"}), now) is not None
    assert quiet_until(quiet, Facts(traits={"timezone": "Asia/Tokyo"}), now) is None


def test_quiet_hours_end_on_the_local_clock_across_a_clock_change() -> None:
    # New York springs forward at 02:00 on 8 March 2026: 08:00 that morning is 12:00 UTC.
    new_york = Facts(traits={"timezone": "America/New_York"})
    ends = quiet_until(NIGHT, new_york, at("2026-03-08T04:00:00+00:00"))  # 23:00 EST on the 7th
    assert ends == at("2026-03-08T12:00:00+00:00")


def test_no_quiet_hours_is_never_quiet() -> None:
    assert quiet_until(None, Facts(), at("2026-05-04T23:00:00+00:00")) is None


# -- frequency caps ---------------------------------------------------------------------------

WEEK, DAY = timedelta(days=7), timedelta(days=1)


def test_a_channels_cap_counts_that_channel() -> None:
    capping = campaign(frequency_caps=[{"channel": "email", "max": 2, "per": "7d"}])
    assert not capped(capping, "email", {})
    assert not capped(capping, "email", {("email", WEEK): 1})
    assert capped(capping, "email", {("email", WEEK): 2})
    assert capped(capping, "email", {("email", WEEK): 3})
    assert not capped(capping, "sms", {("email", WEEK): 2})
    assert not capped(capping, "email", {("email", DAY): 2, ("", WEEK): 2})


def test_a_cap_without_a_channel_counts_every_channel() -> None:
    capping = campaign(frequency_caps=[{"max": 3, "per": "1d"}])
    assert capped(capping, "sms", {("", DAY): 3})
    assert capped(capping, "email", {("", DAY): 3})
    assert not capped(capping, "email", {("", DAY): 2, ("email", DAY): 5})


def test_every_cap_must_allow() -> None:
    capping = campaign(
        frequency_caps=[{"max": 3, "per": "1d"}, {"channel": "email", "max": 5, "per": "7d"}]
    )
    assert not capped(capping, "email", {("", DAY): 2, ("email", WEEK): 4})
    assert capped(capping, "email", {("", DAY): 2, ("email", WEEK): 5})
    assert capped(capping, "email", {("", DAY): 3, ("email", WEEK): 0})


def test_a_cap_of_nothing_sends_nothing_and_no_caps_send_everything() -> None:
    assert capped(campaign(frequency_caps=[{"max": 0, "per": "1d"}]), "email", {})
    assert not capped(campaign(), "email", {("", DAY): 1_000})


def test_traits_nest_for_templates() -> None:
    facts = Facts(traits={"address.city": "Paris", "address.zip": "75001", "email": "a@b.c"})
    assert nested_traits(facts) == {
        "address": {"city": "Paris", "zip": "75001"},
        "email": "a@b.c",
    }
