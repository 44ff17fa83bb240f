"""Replaying quarantined messages once the cause is fixed (a payload edited, a limit raised)."""

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import orjson

from kenning.ingest.pipeline import event_row
from kenning.spec.limits import Limits
from kenning.spec.messages import InvalidMessage, validate_message
from kenning.store.quarantine import PENDING
from kenning.store.store import Store
from kenning.store.writer import EventRow


@dataclass(frozen=True, slots=True)
class ReplayResult:
    replayed: int
    duplicates: int
    still_invalid: int


def replay_quarantine(
    store: Store, *, limits: Limits, ids: list[int] | None = None, code: str | None = None
) -> ReplayResult:
    """Validate pending quarantined messages again; store the ones that now pass.

    The events and the quarantine's new statuses are written in one transaction, and a message
    that had no messageId gets one derived from its quarantine id, so a replay interrupted and
    run again stores nothing twice.
    """
    pending = [
        q
        for q in store.quarantine.list(status=PENDING, code=code, limit=1_000_000)
        if ids is None or q.id in ids
    ]
    events: list[EventRow] = []
    replayed_ids: list[int] = []
    failures: list[tuple[str, str, str | None, int]] = []
    for item in pending:
        try:
            try:
                raw = orjson.loads(item.payload)
            except orjson.JSONDecodeError:
                raise InvalidMessage("invalid_json", "the payload is not valid JSON") from None
            # A fixed payload is whatever was put there: its context may be any JSON value.
            context = raw.get("context") if isinstance(raw, dict) else None
            has_external_ids = isinstance(context, dict) and bool(context.get("externalIds"))
            valid = validate_message(
                raw,
                received_at=item.received_at.astimezone(UTC),
                limits=limits,
                generated_message_id=f"kn-quarantine-{item.id}",
                require_user_or_anonymous_id=not has_external_ids,
            )
        except InvalidMessage as error:
            failures.append((error.code, error.message, error.field, item.id))
            continue
        events.append(event_row(valid, source_id=item.source_id, received_at=item.received_at))
        replayed_ids.append(item.id)

    def mark(con: duckdb.DuckDBPyConnection) -> None:
        now = datetime.now(UTC)
        for quarantine_id in replayed_ids:
            con.execute(
                "UPDATE __kenning_quarantine SET status = 'replayed', resolved_at = ?, "
                "attempts = attempts + 1 WHERE id = ?",
                [now, quarantine_id],
            )
        for failure in failures:
            con.execute(
                "UPDATE __kenning_quarantine SET code = ?, message = ?, field = ?, "
                "attempts = attempts + 1 WHERE id = ?",
                list(failure),
            )

    result = store.write_events(events, also=mark).result()
    return ReplayResult(result.stored, result.duplicates, len(failures))
