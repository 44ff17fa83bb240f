"""The outbox: every delivery Kenning owes, written in the transaction of the change that caused
it, and what became of it.

A row's ``status``:

- ``scheduled``: a campaign's message, due at ``scheduled_at``; its channel (so its
  destination) is chosen then, under the contact policy (``delivery.py``);
- ``pending``: to be sent to ``destination`` at ``next_attempt_at``;
- ``delivered``; ``dead`` (the destination refused it, or retries ran out: the response is in
  ``__kenning_dead_letters``, replayable); ``suppressed`` (the policy stopped it: ``detail``
  says why); ``holdout`` (kept back as the campaign's control group).

Per-profile order per destination is ``(scheduled_at, id)``: a row is not sent while an
earlier one for its profile waits (a retry not yet due, or a campaign message not yet given
its channel). The idempotency key is unique, so a cause recorded twice owes one delivery.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kenning.activation.destinations.base import Delivery

SCHEDULED = "scheduled"
PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
SUPPRESSED = "suppressed"
HOLDOUT = "holdout"
STATUSES = (SCHEDULED, PENDING, DELIVERED, DEAD, SUPPRESSED, HOLDOUT)
_TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Owed:
    """A delivery to write. ``payload`` is JSON text (an event's stored payload is kept as is)."""

    idempotency_key: str
    destination: str  # "" for a campaign's message until its channel is chosen
    profile_id: int | None
    kind: str  # message, audience or event
    payload: str
    scheduled_at: datetime
    campaign: str | None = None
    status: str = PENDING


def owe(con: duckdb.DuckDBPyConnection, owed: Sequence[Owed], now: datetime) -> int:
    """Write deliveries (in the caller's transaction); a key already written is skipped.
    Returns how many were written."""
    if not owed:
        return 0
    table = pa.table(
        {
            "idempotency_key": [o.idempotency_key for o in owed],
            "destination": [o.destination for o in owed],
            "profile_id": pa.array([o.profile_id for o in owed], pa.int64()),
            "kind": [o.kind for o in owed],
            "campaign": pa.array([o.campaign for o in owed], pa.string()),
            "payload": [o.payload for o in owed],
            "scheduled_at": pa.array([o.scheduled_at for o in owed], _TIMESTAMP),
            "status": [o.status for o in owed],
        }
    )
    con.register("__kenning_owed", table)
    try:
        written = con.execute(
            """INSERT INTO __kenning_outbox
                   (idempotency_key, destination, profile_id, kind, campaign, channel, payload,
                    created_at, scheduled_at, status, attempts, next_attempt_at)
               SELECT idempotency_key, destination, profile_id, kind, campaign, NULL, payload,
                      $now, scheduled_at, status, 0, scheduled_at
               FROM __kenning_owed ORDER BY scheduled_at
               ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
            {"now": now},
        ).fetchall()
    finally:
        con.unregister("__kenning_owed")
    return len(written)


def lowest_open_id(con: duckdb.DuckDBPyConnection, above: int) -> int:
    """The lowest id of a row still scheduled or pending, from ``above`` (the last answer: ids
    only grow and a row once finished stays so, but for a replay, which ``due_for`` reads
    whatever the bound)."""
    row = con.execute(
        """SELECT min(id) FROM __kenning_outbox
           WHERE id >= ? AND status IN ('scheduled', 'pending')""",
        [above],
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else above


def due_for(
    con: duckdb.DuckDBPyConnection, destination: str, now: datetime, low: int, limit: int
) -> list[Delivery]:
    """The pending deliveries to ``destination`` that may be sent now, in order: for each
    profile, those before its first one that must wait. Rows from ``low`` up, and the replayed
    ones below it: a bound read before a replay committed must not leave them behind, nor let
    the later rows of their profiles go first."""
    rows = con.execute(
        """WITH queue AS (
               SELECT id, status, destination, scheduled_at,
                      bool_or(status = 'scheduled' OR next_attempt_at > $now) OVER (
                          PARTITION BY coalesce(profile_id, -id) ORDER BY scheduled_at, id
                          ROWS UNBOUNDED PRECEDING) AS held
               FROM __kenning_outbox
               WHERE (id >= $low
                      OR id IN (SELECT delivery_id FROM __kenning_dead_letters
                                WHERE replayed_at IS NOT NULL))
                 AND ((status = 'pending' AND destination = $destination)
                      OR (status = 'scheduled' AND scheduled_at <= $now)))
           SELECT o.id, o.idempotency_key, o.destination, o.profile_id, o.kind,
                  o.payload::VARCHAR, o.created_at, o.attempts
           FROM queue q JOIN __kenning_outbox o USING (id)
           WHERE q.status = 'pending' AND NOT q.held
           ORDER BY q.scheduled_at, q.id LIMIT $limit""",
        {"now": now, "low": low, "destination": destination, "limit": limit},
    ).fetchall()
    return [
        Delivery(
            id=int(i),
            idempotency_key=str(key),
            destination=str(dest),
            profile_id=None if profile is None else int(profile),
            kind=str(kind),
            payload=orjson.loads(payload),
            created_at=created,
            attempt=int(attempts) + 1,
        )
        for i, key, dest, profile, kind, payload, created, attempts in rows
    ]


@dataclass(frozen=True)
class Scheduled:
    """A campaign's message whose time has come."""

    id: int
    idempotency_key: str
    campaign: str
    profile_id: int | None
    trigger: dict[str, Any]
    scheduled_at: datetime


def scheduled_due(
    con: duckdb.DuckDBPyConnection, now: datetime, low: int, limit: int
) -> list[Scheduled]:
    rows = con.execute(
        """SELECT id, idempotency_key, campaign, profile_id, payload::VARCHAR, scheduled_at
           FROM __kenning_outbox
           WHERE id >= ? AND status = 'scheduled' AND scheduled_at <= ?
           ORDER BY scheduled_at, id LIMIT ?""",
        [low, now, limit],
    ).fetchall()
    return [
        Scheduled(int(i), str(k), str(c), None if p is None else int(p), orjson.loads(t), at)
        for i, k, c, p, t, at in rows
    ]


@dataclass(frozen=True)
class Decision:
    """What the contact policy made of a scheduled message: ``pending`` to ``destination`` on
    ``channel`` with the rendered ``payload``; ``suppressed``/``holdout`` with a reason; or
    ``scheduled`` again at ``scheduled_at`` (quiet hours)."""

    id: int
    status: str
    detail: str | None = None
    destination: str = ""
    channel: str | None = None
    payload: Mapping[str, Any] | None = None
    scheduled_at: datetime | None = None


def decide(con: duckdb.DuckDBPyConnection, decisions: Sequence[Decision], now: datetime) -> None:
    """Record the policy's decisions (a writer job)."""
    if not decisions:
        return
    table = pa.table(
        {
            "id": pa.array([d.id for d in decisions], pa.int64()),
            "status": [d.status for d in decisions],
            "detail": pa.array([d.detail for d in decisions], pa.string()),
            "destination": [d.destination for d in decisions],
            "channel": pa.array([d.channel for d in decisions], pa.string()),
            "payload": pa.array(
                [
                    None if d.payload is None else orjson.dumps(d.payload).decode()
                    for d in decisions
                ],
                pa.string(),
            ),
            "scheduled_at": pa.array([d.scheduled_at for d in decisions], _TIMESTAMP),
        }
    )
    con.register("__kenning_decided", table)
    try:
        con.execute(
            """UPDATE __kenning_outbox o SET
                   status = d.status, detail = d.detail,
                   destination = d.destination, channel = d.channel,
                   payload = coalesce(d.payload::JSON, o.payload),
                   scheduled_at = coalesce(d.scheduled_at, o.scheduled_at),
                   next_attempt_at = coalesce(d.scheduled_at, o.scheduled_at),
                   finished_at = CASE WHEN d.status IN ('suppressed', 'holdout')
                                      THEN $now::TIMESTAMPTZ END
               FROM __kenning_decided d
               WHERE o.id = d.id AND o.status = 'scheduled'""",
            {"now": now},
        )
    finally:
        con.unregister("__kenning_decided")


@dataclass(frozen=True)
class Attempted:
    """One attempt's result: ``status`` is the row's new status (pending again for a retry,
    at ``next_attempt_at``); ``attempt_status`` what the attempt itself was."""

    id: int
    destination: str
    attempt: int
    attempt_status: str  # delivered, retry, failed, suppressed
    status: str
    code: int | None
    detail: str
    at: datetime
    milliseconds: float
    next_attempt_at: datetime | None = None
    response: str | None = None


def record(con: duckdb.DuckDBPyConnection, attempts: Sequence[Attempted]) -> None:
    """Record attempts and their rows' new state (a writer job); a dead row gets its dead
    letter."""
    if not attempts:
        return
    table = pa.table(
        {
            "id": pa.array([a.id for a in attempts], pa.int64()),
            "destination": [a.destination for a in attempts],
            "attempt": pa.array([a.attempt for a in attempts], pa.int32()),
            "attempt_status": [a.attempt_status for a in attempts],
            "status": [a.status for a in attempts],
            "code": pa.array([a.code for a in attempts], pa.int32()),
            "detail": [a.detail for a in attempts],
            "attempted_at": pa.array([a.at for a in attempts], _TIMESTAMP),
            "milliseconds": pa.array([a.milliseconds for a in attempts], pa.float64()),
            "next_attempt_at": pa.array([a.next_attempt_at for a in attempts], _TIMESTAMP),
            "response": pa.array([a.response for a in attempts], pa.string()),
        }
    )
    con.register("__kenning_attempted", table)
    try:
        con.execute(
            """UPDATE __kenning_outbox o SET
                   status = a.status, attempts = a.attempt, code = a.code, detail = a.detail,
                   next_attempt_at = a.next_attempt_at,
                   finished_at = CASE WHEN a.status = 'pending' THEN NULL ELSE a.attempted_at END
               FROM __kenning_attempted a WHERE o.id = a.id"""
        )
        con.execute(
            """INSERT INTO __kenning_delivery_attempts
               SELECT id, attempt, attempted_at, attempt_status, code, detail, milliseconds
               FROM __kenning_attempted WHERE attempt_status <> 'not attempted'"""
        )
        con.execute(
            """INSERT INTO __kenning_dead_letters
               SELECT id, destination, attempted_at, code, detail, response, NULL
               FROM __kenning_attempted WHERE status = 'dead'"""
        )
    finally:
        con.unregister("__kenning_attempted")


def replay(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    *,
    ids: Sequence[int] | None = None,
    destination: str | None = None,
    declared: Sequence[str] | None = None,
) -> list[int]:
    """Send dead deliveries again (by id, or every one of a destination's; only to the
    ``declared`` destinations when given); returns the ids put back in the queue. Their dead
    letters are kept, marked replayed."""
    where: list[str] = ["status = 'dead'"]
    params: list[object] = []
    if declared is not None:
        where.append("destination = ANY(?)")
        params.append(list(declared))
    if ids is not None:
        where.append("id = ANY(?)")
        params.append(list(ids))
    if destination is not None:
        where.append("destination = ?")
        params.append(destination)
    replayed = [
        int(i)
        for (i,) in con.execute(
            f"""UPDATE __kenning_outbox SET status = 'pending', next_attempt_at = ?,
                       finished_at = NULL
                WHERE {" AND ".join(where)} RETURNING id""",
            [now, *params],
        ).fetchall()
    ]
    if replayed:
        con.execute(
            """UPDATE __kenning_dead_letters SET replayed_at = ?
               WHERE delivery_id = ANY(?) AND replayed_at IS NULL""",
            [now, replayed],
        )
    return sorted(replayed)


def drop_queued(con: duckdb.DuckDBPyConnection, destination: str, now: datetime) -> int:
    """A removed destination's queue: pending rows become dead (replayable if it returns)."""
    rows = con.execute(
        """UPDATE __kenning_outbox SET status = 'dead', detail = 'destination removed',
                  finished_at = ?
           WHERE destination = ? AND status = 'pending' RETURNING id""",
        [now, destination],
    ).fetchall()
    if rows:
        con.executemany(
            "INSERT INTO __kenning_dead_letters"
            " VALUES (?, ?, ?, NULL, 'destination removed', NULL, NULL)",
            [[int(i), destination, now] for (i,) in rows],
        )
    return len(rows)


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


_LISTED = (
    "id", "idempotency_key", "destination", "profile_id", "kind", "campaign", "channel",
    "status", "attempts", "code", "detail", "created_at", "scheduled_at", "next_attempt_at",
    "finished_at",
)  # fmt: skip


def deliveries_page(
    con: duckdb.DuckDBPyConnection,
    *,
    status: str | None = None,
    destination: str | None = None,
    campaign: str | None = None,
    profile_id: int | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The delivery log, newest first (by id, below ``before``), without payloads."""
    where: list[str] = ["true"]
    params: list[object] = []
    for column, value in (
        ("status", status),
        ("destination", destination),
        ("campaign", campaign),
        ("profile_id", profile_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if before is not None:
        where.append("id < ?")
        params.append(before)
    rows = con.execute(
        f"""SELECT {", ".join(_LISTED)} FROM __kenning_outbox WHERE {" AND ".join(where)}
            ORDER BY id DESC LIMIT ?""",
        [*params, limit],
    ).fetchall()
    return [_shown(dict(zip(_LISTED, row, strict=True))) for row in rows]


def delivery_detail(con: duckdb.DuckDBPyConnection, delivery_id: int) -> dict[str, Any] | None:
    """One delivery with its payload, its attempts and its dead letters."""
    row = con.execute(
        f"SELECT {', '.join(_LISTED)}, payload::VARCHAR FROM __kenning_outbox WHERE id = ?",
        [delivery_id],
    ).fetchone()
    if row is None:
        return None
    found = _shown(dict(zip(_LISTED, row[:-1], strict=True)))
    found["payload"] = orjson.loads(row[-1])
    found["attempts_log"] = [
        _shown({"attempt": a, "at": at, "status": s, "code": c, "detail": d, "milliseconds": ms})
        for a, at, s, c, d, ms in con.execute(
            """SELECT attempt, attempted_at, status, code, detail, milliseconds
               FROM __kenning_delivery_attempts WHERE delivery_id = ? ORDER BY attempted_at""",
            [delivery_id],
        ).fetchall()
    ]
    found["dead_letters"] = [
        _shown({"at": at, "code": c, "detail": d, "response": r, "replayed_at": rp})
        for at, c, d, r, rp in con.execute(
            """SELECT dead_at, code, detail, response, replayed_at FROM __kenning_dead_letters
               WHERE delivery_id = ? ORDER BY dead_at""",
            [delivery_id],
        ).fetchall()
    ]
    return found


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    """Times as ISO 8601 in UTC; an undecided destination as null."""
    for key, value in record.items():
        if isinstance(value, datetime):
            record[key] = value.astimezone(UTC).isoformat()
    if record.get("destination") == "":
        record["destination"] = None
    return record
