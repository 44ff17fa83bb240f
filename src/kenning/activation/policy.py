"""The contact policy: whether, when and on which channel a person may be sent something.

Everything here is decided on what the person is at send time (``Facts`` read then, their
audiences evaluated afresh), never on what they were when the trigger fired: a consent
withdrawn, or a purchase that puts them in an exclusion audience, stops a message still
waiting. Pure functions over facts; ``delivery.py`` reads the facts and records the decisions.
"""

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kenning.activation.campaigns import CHANNEL_ADDRESS, PREFERRED, Campaign, QuietHours
from kenning.activation.declared import DeclaredDestination
from kenning.audiences.evaluate import Facts
from kenning.ingest.mapping import set_path
from kenning.privacy.consent import ConsentSettings


def in_holdout(campaign: str, profile_id: int | None, percent: float) -> bool:
    """Whether the person is in the campaign's control group: a stable draw per campaign and
    person, so the same people are held out on every trigger and lift can be measured."""
    if percent <= 0 or profile_id is None:
        return False
    digest = hashlib.sha256(f"{campaign}:{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < round(percent * 100)


def refused_consent(categories: Iterable[str], facts: Facts | None) -> str | None:
    """The first category not granted now (an empty or missing preference refuses;
    ``necessary`` always holds), or None."""
    for category in categories:
        if facts is None or not ConsentSettings.is_granted(category, facts.consent):
            return category
    return None


def excluded_by(exclude: Iterable[str], facts: Facts) -> str | None:
    """The first exclusion audience the person is in now, or None."""
    return next((name for name in exclude if name in facts.audiences), None)


def address(channel: str, facts: Facts) -> str | None:
    """The person's address on ``channel`` (None when they cannot be reached on it); a channel
    that needs none (a webhook) gives ``""``."""
    trait = CHANNEL_ADDRESS.get(channel)
    if trait is None:
        return ""
    value = facts.traits.get(trait)
    return value if isinstance(value, str) and value.strip() else None


def choose_channel(
    campaign: Campaign, facts: Facts, destinations: Mapping[str, DeclaredDestination]
) -> tuple[str, DeclaredDestination] | str:
    """The channel to send on and its destination, or why there is none.

    A fixed channel is the only one tried; ``preferred`` tries the person's preferred
    channel(s) first (the trait ``preferred_channel_trait``, a name or a list), then the
    campaign's channels in the order declared. A channel qualifies when its destination is
    declared and enabled, the person can be reached on it, and every consent category of the
    campaign and of the destination is granted."""
    spec = campaign.spec
    if spec.channel != PREFERRED:
        order = [spec.channel]
    else:
        stated = facts.traits.get(spec.preferred_channel_trait)
        # A trait holds any JSON: a number or an object names no channel.
        stated = [stated] if isinstance(stated, str) else stated
        stated = stated if isinstance(stated, list) else []
        preferred = [c for c in stated if isinstance(c, str) and c in spec.channels]
        order = list(dict.fromkeys([*preferred, *spec.channels]))
    reasons = []
    for channel in order:
        destination = destinations.get(spec.channels[channel].destination)
        if destination is None or not destination.enabled:
            reasons.append(f"{channel}: destination {spec.channels[channel].destination} is off")
            continue
        if address(channel, facts) is None:
            reasons.append(f"{channel}: no {CHANNEL_ADDRESS[channel]}")
            continue
        refused = refused_consent([*spec.consent, *destination.consent], facts)
        if refused is not None:
            reasons.append(f"{channel}: consent {refused} not granted")
            continue
        return channel, destination
    return "no channel: " + "; ".join(reasons)


def quiet_until(quiet: QuietHours | None, facts: Facts, now: datetime) -> datetime | None:
    """When the quiet hours the person is in end (UTC), or None when it is not quiet for them.
    Their clock is the ``timezone_trait`` (an IANA name; the default when missing or unknown)."""
    if quiet is None:
        return None
    zone = _zone(facts.traits.get(quiet.timezone_trait)) or ZoneInfo(quiet.default_timezone)
    local = now.astimezone(zone)
    start, end = quiet.bounds()
    clock = local.time().replace(tzinfo=None)
    wraps = start > end  # e.g. 21:00 to 08:00
    inside = (clock >= start or clock < end) if wraps else (start <= clock < end)
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    ends = datetime.combine(day, end, tzinfo=zone)
    return ends.astimezone(UTC)


def _zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except Exception:  # an unknown or malformed zone name: the default clock
        return None


def capped(campaign: Campaign, channel: str, sent: Mapping[tuple[str, timedelta], int]) -> bool:
    """Whether a frequency cap is reached: ``sent`` counts the messages the person was sent
    on ``(channel, period)`` within that period (``""`` for every channel)."""
    for cap in campaign.spec.frequency_caps:
        if cap.channel is not None and cap.channel != channel:
            continue
        if sent.get((cap.channel or "", cap.period), 0) >= cap.max:
            return True
    return False


def nested_traits(facts: Facts) -> dict[str, Any]:
    """The person's traits as one object (``{"address": {"city": ...}}``)."""
    nested: dict[str, Any] = {}
    for path in sorted(facts.traits):
        set_path(nested, path, facts.traits[path])
    return nested
