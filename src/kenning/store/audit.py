"""The audit log: append-only, queryable, and free of personal data.

Entries are buffered and written by one writer job for everything buffered meanwhile, so a
burst of audited reads costs one commit, not one each; the request that caused an entry does
not wait for it (an entry may be lost only with the process, in the moment after its answer).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

if TYPE_CHECKING:
    from kenning.store.store import Store


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor_id: str  # a token's id, or "cli" for a command run on the store's file
    actor: str  # the token's name
    action: str  # "regulation.delete", "profile.export", "PUT /v1/audiences/{name}", ...
    target: str | None = None  # a profile number, a name: never an identifier's value
    status: int | None = None  # the HTTP status answered
    detail: dict[str, Any] | None = None
    at: datetime | None = None


class Audit:
    def __init__(self, store: "Store") -> None:
        self._store = store
        self._lock = Lock()
        self._buffer: list[AuditEntry] = []
        self._flushing = False

    def record(self, entry: AuditEntry) -> None:
        """Append ``entry`` (written with whatever else is buffered, soon)."""
        stamped = entry if entry.at is not None else _stamped(entry)
        with self._lock:
            self._buffer.append(stamped)
            if self._flushing:
                return
            self._flushing = True
        self._store.writer.run(self._flush)

    def flush(self) -> None:
        """Write what is buffered now, and wait (tests and the CLI read right after)."""
        self._store.writer.run(self._flush).result()

    def _flush(self, con: duckdb.DuckDBPyConnection) -> int:
        with self._lock:
            entries, self._buffer = self._buffer, []
            self._flushing = False
        if entries:
            con.executemany(
                """INSERT INTO __kenning_audit ("at", actor_id, actor, action, target, status,
                   detail) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [
                    [
                        e.at,
                        e.actor_id,
                        e.actor,
                        e.action,
                        e.target,
                        e.status,
                        None if e.detail is None else orjson.dumps(e.detail).decode(),
                    ]
                    for e in entries
                ],
            )
        return len(entries)

    def query(
        self,
        *,
        action: str | None = None,
        actor_id: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Entries, newest first; ``action`` matches a prefix (``regulation.``)."""
        self.flush()
        where, params = ["TRUE"], list[object]()
        if action:
            where.append("starts_with(action, ?)")
            params.append(action)
        if actor_id:
            where.append("actor_id = ?")
            params.append(actor_id)
        if target:
            where.append("target = ?")
            params.append(target)
        if since:
            where.append('"at" >= ?')
            params.append(since)
        if until:
            where.append('"at" < ?')
            params.append(until)
        if before_id:
            where.append("id < ?")
            params.append(before_id)
        with self._store.reader() as con:
            rows = con.execute(
                f"""SELECT id, "at", actor_id, actor, action, target, status, detail
                    FROM __kenning_audit WHERE {" AND ".join(where)}
                    ORDER BY id DESC LIMIT ?""",
                [*params, limit],
            ).fetchall()
        return [
            {
                "id": entry_id,
                "at": at.isoformat(),
                "actor_id": actor_id_,
                "actor": actor,
                "action": action_,
                "target": target_,
                "status": status,
                "detail": orjson.loads(detail) if detail else None,
            }
            for entry_id, at, actor_id_, actor, action_, target_, status, detail in rows
        ]


def _stamped(entry: AuditEntry) -> AuditEntry:
    return AuditEntry(
        entry.actor_id,
        entry.actor,
        entry.action,
        entry.target,
        entry.status,
        entry.detail,
        datetime.now(UTC),
    )
