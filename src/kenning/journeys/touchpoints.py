"""Touchpoints: the moments a person met the brand on a channel, read from the event log.

Every event has a channel (``channels.py``). Not every event is a touch:

- a page or screen view is one; so is a track event whose channel some evidence decided (an
  ``Email Opened``, a call, a store visit, a UTM-tagged click), but not a server's event that
  only fell back to ``direct`` (``Points Earned``), nor a send (``Email Sent``: the brand
  spoke, the person did not);
- a visit is one touch, not one per page: an event continues the previous touch when it has
  the same channel and comes within ``session_minutes`` (30) of the person's previous event.

Each touch keeps its time, channel and UTM campaign, source and medium. Events belong to the
person they were stitched to, after merges (``kenning_events``' canonical profile), so a
journey crosses devices as identity resolves them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kenning.journeys.channels import ChannelRules, field_sql
from kenning.journeys.declarations import EVENTS_SQL, time_range_sql

SENDS = ("Email Sent", "SMS Sent", "Push Sent")
SESSION_MINUTES = 30.0
# The events of the log, with their canonical person and their source's name.
_EVENTS = f"(SELECT * EXCLUDE (person), person AS profile_id FROM ({EVENTS_SQL}))"


@dataclass(frozen=True)
class TouchOptions:
    rules: ChannelRules
    session_minutes: float = SESSION_MINUTES
    not_touches: tuple[str, ...] = SENDS  # event names that are never touches
    since: datetime | None = None
    until: datetime | None = None
    profiles: Sequence[int] | None = None  # canonical ids; None for everyone


def events_sql(options: TouchOptions, params: list[Any]) -> str:
    """Every event in range with its channel and the touch's details: columns seq,
    profile_id, type, event, ts, source_name, payload, channel, evidenced (a rule or an
    explicit path decided the channel), campaign, utm_source, medium."""
    # The fields the rules read are extracted once per event, then decided over.
    fields = {name: f"f{i}" for i, name in enumerate(options.rules.fields)}
    extracted = ", ".join(
        f"{field_sql(n, 'payload', 'source_name')} AS {c}" for n, c in fields.items()
    )
    decided = options.rules.case_sql(lambda name: fields[name], params, fallback=None)
    where = [time_range_sql(options.since, options.until, params)]
    if options.profiles is not None:
        where.append("profile_id = ANY(?::BIGINT[])")
        params.append(list(options.profiles))
    campaign = {
        name: field_sql(f"context.campaign.{name}", "payload", "source_name")
        for name in ("name", "source", "medium")
    }
    return f"""SELECT seq, profile_id, type, event, ts, source_name, payload,
                      coalesce(decided, 'direct') AS channel, decided IS NOT NULL AS evidenced,
                      campaign, utm_source, medium
               FROM (SELECT *, {decided} AS decided FROM (
                         SELECT *{", " + extracted if extracted else ""},
                                {campaign["name"]} AS campaign,
                                {campaign["source"]} AS utm_source,
                                {campaign["medium"]} AS medium
                         FROM {_EVENTS} WHERE {" AND ".join(where)}))"""


def touches_sql(options: TouchOptions, params: list[Any], *, exclude: Sequence[str] = ()) -> str:
    """The touches (see the module's text), in each person's time order: columns seq,
    profile_id, ts, channel, campaign, utm_source, medium, type, event, source_name; events
    named in ``exclude`` (a conversion) are never touches."""
    events = events_sql(options, params)
    skipped = [*options.not_touches, *exclude]
    params.append(skipped)
    params.append(options.session_minutes * 60_000_000)
    return f"""SELECT seq, profile_id, ts, channel, campaign, utm_source, medium, type, event,
                      source_name
               FROM (SELECT *,
                            lag(channel) OVER person AS previous_channel,
                            lag(ts) OVER person AS previous_ts
                     FROM ({events})
                     WHERE (type IN ('page', 'screen') OR (type = 'track' AND evidenced))
                       AND NOT coalesce(event = ANY(?::VARCHAR[]), false)
                     WINDOW person AS (PARTITION BY profile_id ORDER BY ts, seq))
               WHERE previous_channel IS DISTINCT FROM channel
                  OR epoch_us(ts) - epoch_us(previous_ts) > ?"""
