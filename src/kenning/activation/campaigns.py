"""A campaign: what fires it, the message, the channels, and the contact policy it obeys::

    name: birthday_offer
    trigger: {anniversary: {trait: birthday}, days_before: 0}
    message:
      subject: "Happy birthday, {{ traits.first_name or 'friend' }}"
      body: "A present from us: 20% off until Sunday."
    channel: preferred            # or a fixed one: email
    channels:
      email: {destination: smtp}
      sms: {destination: sms_gateway}
    consent: [marketing]          # every category must be granted at send time
    exclude: [bought_last_7d]     # checked at send time
    frequency_caps: [{channel: email, max: 2, per: 7d}]
    quiet_hours: {start: "21:00", end: "08:00"}
    holdout_percent: 10
    delay: 2h                     # after the trigger (an abandoned cart waits)

Triggers (``TRIGGER_KINDS``): ``event`` (each matching event, with ``where`` filters),
``audience`` (entry or exit), ``threshold`` (a trait or computed trait crossing a value: a
value node of the audience language), ``anniversary`` (a date's yearly return, ``days_before``
it), ``days_since`` (N days after a date, e.g. the last order) and ``condition`` (any audience
condition becoming true). The last four are kept as an audience the campaign owns
(``trigger_audience``), so real time and the scheduled batch decide them as they decide any
audience, and the campaign fires on entry.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kenning.activation.templates import TemplateError, check
from kenning.audiences.audience import Audience
from kenning.audiences.conditions import (
    ConditionError,
    ValueTest,
    duration_text,
    parse,
    parse_duration,
)
from kenning.errors import FieldError
from kenning.profiles.computed.definitions import Condition as EventFilter
from kenning.profiles.computed.definitions import DefinitionError, parse_filters

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TRIGGER_KINDS = ("event", "audience", "threshold", "anniversary", "days_since", "condition")
# Where a channel's address is among the traits; a channel not listed needs none (a webhook).
CHANNEL_ADDRESS = {"email": "email", "sms": "phone", "whatsapp": "phone", "push": "push_token"}
PREFERRED = "preferred"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class CampaignError(FieldError):
    """A campaign that cannot be declared; ``field`` is the path of the bad part."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Message(_Model):
    subject: str | None = Field(default=None, description="a template; for email")
    body: str = Field(min_length=1, description="a template: the text of the message")
    html: str | None = Field(default=None, description="a template; for email, autoescaped")


class Channel(_Model):
    destination: str = Field(min_length=1, description="the destination that sends it")


class FrequencyCap(_Model):
    """At most ``max`` messages of any campaign on ``channel`` (every channel when absent) to
    one person within ``per``."""

    channel: str | None = None
    max: int = Field(ge=0)
    per: str

    @field_validator("per")
    @classmethod
    def _duration(cls, value: str) -> str:
        return duration_text(parse_duration(value))

    @property
    def period(self) -> timedelta:
        return parse_duration(self.per)


class QuietHours(_Model):
    """No message from ``start`` to ``end`` on the person's clock (the ``timezone`` trait, an
    IANA name; ``default_timezone`` when the person has none); one due then waits for ``end``."""

    start: str
    end: str
    timezone_trait: str = "timezone"
    default_timezone: str = "UTC"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.fullmatch(value):
            raise ValueError("a time of day as HH:MM, 00:00 to 23:59")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    def bounds(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class Spec(_Model):
    name: str
    description: str = ""
    enabled: bool = True
    trigger: dict[str, Any]
    message: Message
    channel: str = Field(min_length=1, description="a channel of channels, or 'preferred'")
    channels: dict[str, Channel] = Field(min_length=1)
    consent: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    frequency_caps: list[FrequencyCap] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None
    holdout_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    delay: str | None = Field(
        default=None, description="wait this long after the trigger: 90s, 30m, 2h, 1d, 1w"
    )
    preferred_channel_trait: str = "preferred_channel"

    @field_validator("delay")
    @classmethod
    def _delay(cls, value: str | None) -> str | None:
        if value is not None:
            delay_of(value)
        return value


_DELAY = re.compile(r"^(\d{1,6})([smhdw])$")
_DELAY_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def delay_of(text: str | None) -> timedelta:
    """A campaign's delay (``90s``, ``30m``, ``2h``, ``1d``, ``1w``) as a timedelta."""
    if text is None:
        return timedelta(0)
    match = _DELAY.fullmatch(text)
    if match is None:
        raise ValueError("a delay is a whole number and a unit: 90s, 30m, 2h, 1d or 1w")
    seconds = int(match[1]) * _DELAY_UNITS[match[2]]
    if seconds > 365 * 86_400:
        raise ValueError("a delay is at most a year")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class EventTrigger:
    events: tuple[str, ...]
    types: tuple[str, ...]
    where: tuple[EventFilter, ...]


@dataclass(frozen=True)
class AudienceTrigger:
    audience: str
    on: Literal["entered", "exited"]


@dataclass(frozen=True)
class Campaign:
    spec: Spec
    trigger: EventTrigger | AudienceTrigger
    # The audience the campaign keeps for a threshold, date or condition trigger.
    owned: Audience | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def delay(self) -> timedelta:
        return delay_of(self.spec.delay)

    def document(self) -> dict[str, Any]:
        """The declared form (what the store keeps and the API returns)."""
        return self.spec.model_dump(mode="json", exclude_none=True)

    def destinations(self) -> set[str]:
        return {c.destination for c in self.spec.channels.values()}


def trigger_audience(campaign: str) -> str:
    """The name of the audience a campaign keeps for its trigger: outside the names a user
    may declare (those have no ``:``)."""
    return f"campaign:{campaign}"


def parse_campaign(spec: object, name: str | None = None) -> Campaign:
    """A campaign from its declared form, or a ``CampaignError`` naming the bad part."""
    if not isinstance(spec, Mapping):
        raise CampaignError("a campaign is an object; see docs/campaigns.md", "")
    given = spec.get("name", name)
    if name is not None and given != name:
        raise CampaignError(f"the name in the body is not {name!r}", "name")
    if not isinstance(given, str) or not _NAME.fullmatch(given):
        raise CampaignError(
            "a campaign's name is lower case letters, digits and _, starting with a letter, "
            "at most 64 characters",
            "name",
        )
    try:
        model = Spec.model_validate({**spec, "name": given})
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
        ).removeprefix(".")
        message = "unknown key" if first["type"] == "extra_forbidden" else str(first["msg"])
        raise CampaignError(message.removeprefix("Value error, "), field) from None
    for key in ("subject", "body", "html"):
        source = getattr(model.message, key)
        if source is not None:
            try:
                check(source, f"message.{key}")
            except TemplateError as bad:
                raise CampaignError(bad.message, bad.field) from None
    if model.channel != PREFERRED and model.channel not in model.channels:
        raise CampaignError(
            f"channel {model.channel!r} is not one of channels (or give 'preferred')", "channel"
        )
    if model.quiet_hours is not None and model.quiet_hours.start == model.quiet_hours.end:
        raise CampaignError("quiet hours start and end at the same time", "quiet_hours.end")
    trigger, owned = _trigger(model.trigger, given)
    return Campaign(model, trigger, owned)


def _trigger(spec: Mapping[str, Any], campaign: str) -> tuple[Any, Audience | None]:
    kinds = [k for k in TRIGGER_KINDS if k in spec]
    if len(kinds) != 1:
        raise CampaignError(f"a trigger has one of: {', '.join(TRIGGER_KINDS)}", "trigger")
    kind = kinds[0]
    allowed = {
        "event": {"event", "type", "where"},
        "audience": {"audience", "on"},
        "threshold": {"threshold"},
        "anniversary": {"anniversary", "days_before"},
        "days_since": {"days_since", "days"},
        "condition": {"condition"},
    }[kind]
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise CampaignError("unknown key", f"trigger.{unknown[0]}")
    if kind == "event":
        return _event_trigger(spec), None
    if kind == "audience":
        audience, on = spec["audience"], spec.get("on", "entered")
        if not isinstance(audience, str) or not audience:
            raise CampaignError("an audience's name", "trigger.audience")
        if on not in ("entered", "exited"):
            raise CampaignError("on is entered or exited", "trigger.on")
        return AudienceTrigger(audience, on), None
    condition = _condition(kind, spec)
    try:
        parsed = parse(condition, f"trigger.{kind}")
    except ConditionError as bad:
        raise CampaignError(str(bad), bad.field) from None
    if kind == "threshold" and not isinstance(parsed, ValueTest):
        raise CampaignError(
            "a threshold is a trait, computed or prediction with one operator",
            "trigger.threshold",
        )
    owned = Audience(
        trigger_audience(campaign), parsed, f"the trigger of campaign {campaign}", campaign
    )
    return AudienceTrigger(owned.name, "entered"), owned


def _condition(kind: str, spec: Mapping[str, Any]) -> Any:
    if kind in ("threshold", "condition"):
        return spec[kind]
    node = spec[kind]
    if not isinstance(node, Mapping) or len(node) != 1 or not {"trait", "computed"} >= set(node):
        raise CampaignError("a date: {trait: path} or {computed: name}", f"trigger.{kind}")
    if kind == "anniversary":
        days = spec.get("days_before", 0)
        _days(days, "trigger.days_before", 0)
        # anniversary_within Nd holds from N - 1 days before the date: entry (the firing)
        # comes days_before days ahead, and 0 is the day itself.
        return {**node, "anniversary_within": f"{days + 1}d"}
    days = spec.get("days")
    _days(days, "trigger.days", 1)
    return {**node, "before_last": f"{days}d"}


def _days(value: object, field: str, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= 36_500:
        raise CampaignError(f"a whole number of days, {least} to 36500", field)


def _event_trigger(spec: Mapping[str, Any]) -> EventTrigger:
    event = spec["event"]
    events = (event,) if isinstance(event, str) else event
    if (
        not isinstance(events, list | tuple)
        or not events
        or not all(isinstance(e, str) and e for e in events)
    ):
        raise CampaignError("an event name or a list of them", "trigger.event")
    types = spec.get("type", [])
    known = {"track", "page", "screen", "identify", "group", "alias"}
    if not isinstance(types, list) or not set(types) <= known:
        raise CampaignError(f"types are among {', '.join(sorted(known))}", "trigger.type")
    try:
        where = parse_filters(spec.get("where"), "trigger.where")
    except DefinitionError as bad:
        raise CampaignError(str(bad), bad.field) from None
    return EventTrigger(tuple(events), tuple(types), where)
