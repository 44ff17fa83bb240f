"""An access request's answer: everything Kenning holds about a person, as one JSON document
(``GET /v1/profiles/{id}/export``). Unmasked: it is the person's own data, asked for under
``privacy:admin`` and recorded in the audit log."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from kenning.profiles.read import consent_history, profile
from kenning.profiles.rows import profile_ids

if TYPE_CHECKING:
    from kenning.store.store import Store


def access_document(store: "Store", profile_id: int) -> dict[str, Any]:
    """The profile (traits, computed traits, predictions, consent, identities), every event,
    the consent history, audience memberships and changes, households and deliveries."""
    held = profile(store, profile_id)
    with store.reader() as con:
        ids = profile_ids(con, profile_id)
        events = [
            orjson.loads(payload)
            for (payload,) in con.execute(
                """SELECT e.payload FROM __kenning_events e
                   JOIN __kenning_event_profiles p USING (seq)
                   WHERE p.profile_id = ANY(?) ORDER BY e.timestamp, e.seq""",
                [ids],
            ).fetchall()
        ]
        history = consent_history(con, ids)
        memberships = con.execute(
            """SELECT audience, entered_at FROM __kenning_audience_members
               WHERE profile_id = ANY(?) ORDER BY audience""",
            [ids],
        ).fetchall()
        changes = con.execute(
            """SELECT audience, change, changed_at, cause FROM __kenning_audience_changes
               WHERE profile_id = ANY(?) ORDER BY id""",
            [ids],
        ).fetchall()
        deliveries = con.execute(
            """SELECT o.id, o.destination, o.kind, o.campaign, o.channel, o.payload,
                      o.created_at, o.status, o.finished_at, o.detail,
                      list({'attempt': a.attempt, 'at': a.attempted_at, 'status': a.status,
                            'detail': a.detail} ORDER BY a.attempt)
                          FILTER (WHERE a.attempt IS NOT NULL)
               FROM __kenning_outbox o
               LEFT JOIN __kenning_delivery_attempts a ON a.delivery_id = o.id
               WHERE o.profile_id = ANY(?) GROUP BY ALL ORDER BY o.id""",
            [ids],
        ).fetchall()
        households = con.execute(
            "SELECT DISTINCT household_id FROM __kenning_households WHERE profile_id = ANY(?)",
            [ids],
        ).fetchall()
    return {
        "exported_at": datetime.now(UTC).isoformat(),
        "profile": held,
        "events": events,
        "consent_history": history,
        "audiences": {
            "memberships": [{"audience": a, "entered_at": at.isoformat()} for a, at in memberships],
            "changes": [
                {"audience": a, "change": c, "at": at.isoformat(), "cause": cause}
                for a, c, at, cause in changes
            ],
        },
        "households": [h for (h,) in households],
        "deliveries": [_delivery(row) for row in deliveries],
    }


def _delivery(row: tuple[Any, ...]) -> dict[str, Any]:
    delivery_id, destination, kind, campaign, channel, payload, created, status = row[:8]
    finished, detail, attempts = row[8:]
    return {
        "id": delivery_id,
        "destination": destination,
        "kind": kind,
        "campaign": campaign,
        "channel": channel,
        "payload": orjson.loads(payload) if payload else None,
        "created_at": created.isoformat(),
        "status": status,
        "finished_at": finished.isoformat() if finished else None,
        "detail": detail,
        "attempts": [{**a, "at": a["at"].isoformat()} for a in (attempts or [])],
    }
