"""A person's journey: every event of theirs, across devices and channels, in time order.

Each entry says what happened (type and event), when, through which source and channel, on
which device (``context.device.id``, else the anonymous id the device sent), under which UTM
campaign, and whether it was a touch (``touchpoints.py``).
"""

from datetime import datetime
from typing import Any

from kenning.journeys.channels import field_sql
from kenning.journeys.touchpoints import TouchOptions, events_sql, touches_sql

DEFAULT_LIMIT = 1_000


def timeline_sql(options: TouchOptions, params: list[Any], *, limit: int) -> str:
    """The events of ``options.profiles`` (the people asked about) in time order, newest
    last, at most ``limit`` (the newest ones)."""
    touch_params: list[Any] = []
    touches = touches_sql(options, touch_params)
    events = events_sql(options, params)
    params.extend(touch_params)
    params.append(limit)
    device = field_sql("context.device.id", "payload", "source_name")
    return f"""SELECT * FROM (
                   SELECT e.seq, e.profile_id, e.ts, e.type, e.event, e.source_name, e.channel,
                          e.campaign, e.utm_source, e.medium,
                          coalesce({device}, json_extract_string(e.payload, '$.anonymousId'))
                              AS device,
                          t.seq IS NOT NULL AS touch
                   FROM ({events}) e LEFT JOIN ({touches}) t USING (seq)
                   ORDER BY e.ts DESC, e.seq DESC LIMIT ?)
               ORDER BY ts, seq"""


def entry(row: tuple[Any, ...]) -> dict[str, Any]:
    seq, _profile, ts, kind, event, source, channel, campaign, utm_source, medium, device, touch = (
        row
    )
    assert isinstance(ts, datetime)
    return {
        "seq": seq,
        "timestamp": ts.isoformat(),
        "type": kind,
        "event": event,
        "source": source,
        "channel": channel,
        "campaign": campaign,
        "utm_source": utm_source,
        "medium": medium,
        "device": device,
        "touch": bool(touch),
    }


def summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """What the journey crossed: its channels and devices in order of first use."""
    return {
        "events": len(entries),
        "touches": sum(1 for e in entries if e["touch"]),
        "channels": list(dict.fromkeys(e["channel"] for e in entries if e["touch"])),
        "devices": list(dict.fromkeys(e["device"] for e in entries if e["device"])),
        "first": entries[0]["timestamp"] if entries else None,
        "last": entries[-1]["timestamp"] if entries else None,
    }
