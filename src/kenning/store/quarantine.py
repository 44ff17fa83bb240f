"""The quarantine: messages that could not be stored, with a reason, kept for replay."""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from kenning.store.store import Store

PENDING = "pending"
REPLAYED = "replayed"


@dataclass(frozen=True, slots=True)
class QuarantinedMessage:
    id: int
    source_id: str
    received_at: datetime
    code: str
    message: str
    field: str | None
    payload: str
    status: str
    attempts: int
    resolved_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = (
    "id, source_id, received_at, code, message, field, payload, status, attempts, resolved_at"
)


class Quarantine:
    def __init__(self, store: "Store") -> None:
        self._store = store

    def list(
        self,
        *,
        status: str | None = PENDING,
        code: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[QuarantinedMessage]:
        with self._store.reader() as con:
            rows = con.execute(
                f"""SELECT {_COLUMNS} FROM __kenning_quarantine
                    WHERE id > $after AND ($status IS NULL OR status = $status)
                      AND ($code IS NULL OR code = $code)
                    ORDER BY id LIMIT $limit""",
                {"after": after_id, "status": status, "code": code, "limit": limit},
            ).fetchall()
        return [QuarantinedMessage(*row) for row in rows]

    def get(self, quarantine_id: int) -> QuarantinedMessage | None:
        with self._store.reader() as con:
            row = con.execute(
                f"SELECT {_COLUMNS} FROM __kenning_quarantine WHERE id = ?", [quarantine_id]
            ).fetchone()
        return QuarantinedMessage(*row) if row else None

    def set_payload(self, quarantine_id: int, payload: str) -> None:
        """Replace a pending message's payload: the way to fix a message before replaying it."""

        def update(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "UPDATE __kenning_quarantine SET payload = ? WHERE id = ? AND status = 'pending'",
                [payload, quarantine_id],
            )

        self._store.writer.run(update).result()
