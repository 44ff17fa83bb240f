"""Reading the event log back out: a customer's data is never locked in."""

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from kenning.store.store import Store

# The exported columns, named as in the Segment spec so an export can be re-imported.
_EXPORT_SELECT = """
    SELECT e.seq, e.message_id AS "messageId", e.type, s.name AS source, e.event,
           e.user_id AS "userId", e.anonymous_id AS "anonymousId",
           strftime(e.timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS timestamp,
           strftime(e.original_timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')
               AS "originalTimestamp",
           strftime(e.sent_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS "sentAt",
           strftime(e.received_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS "receivedAt",
           e.flags, e.payload
    FROM __kenning_events e LEFT JOIN __kenning_sources s ON s.id = e.source_id
    WHERE ($since IS NULL OR e.timestamp >= $since)
      AND ($source IS NULL OR s.name = $source)
    ORDER BY e.seq
"""
EXPORT_FORMATS = ("jsonl", "parquet")


class Events:
    def __init__(self, store: "Store") -> None:
        self._store = store

    def count(self) -> int:
        with self._store.reader() as con:
            row = con.execute("SELECT count(*) FROM __kenning_events").fetchone()
        return int(row[0]) if row else 0

    def iter_export(
        self, *, since: datetime | None = None, source: str | None = None, chunk: int = 10_000
    ) -> Iterator[dict[str, Any]]:
        """Every stored event in log order, as a dict; ``payload`` is the raw message."""
        with self._store.reader() as con:
            result = con.execute(_EXPORT_SELECT, {"since": since, "source": source})
            columns = [d[0] for d in result.description or ()]
            while rows := result.fetchmany(chunk):
                for row in rows:
                    record = dict(zip(columns, row, strict=True))
                    record["payload"] = orjson.Fragment(record["payload"])
                    yield record

    def iter_jsonl(
        self, *, since: datetime | None = None, source: str | None = None
    ) -> Iterator[bytes]:
        """The export as JSON lines, in chunks of bytes ready to stream."""
        lines: list[bytes] = []
        for record in self.iter_export(since=since, source=source):
            lines.append(orjson.dumps(record))
            if len(lines) >= 1_000:
                yield b"\n".join(lines) + b"\n"
                lines = []
        if lines:
            yield b"\n".join(lines) + b"\n"

    def write_parquet(
        self, path: Path, *, since: datetime | None = None, source: str | None = None
    ) -> int:
        """Write the export to a Parquet file; returns the number of events written."""
        with self._store.reader() as con:
            con.execute(
                f"COPY ({_EXPORT_SELECT}) TO '{_sql_path(path)}' (FORMAT parquet)",
                {"since": since, "source": source},
            )
            row = con.execute(f"SELECT count(*) FROM read_parquet('{_sql_path(path)}')").fetchone()
        return int(row[0]) if row else 0


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


_IDENTITIES_SELECT = """
    SELECT i.profile_id, i.type, i.value, s.name AS source,
           strftime(i.first_seen AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS first_seen
    FROM kenning_identifiers i LEFT JOIN __kenning_sources s ON s.id = i.source_id
    ORDER BY i.profile_id, i.type, i.value
"""
IDENTITY_COLUMNS = ("profile_id", "type", "value", "source", "first_seen")


def iter_identities(store: "Store", fmt: str, chunk: int = 10_000) -> Iterator[bytes]:
    """The identity graph as CSV (with a header) or JSON lines, in chunks of bytes."""
    import csv
    import io

    with store.reader() as con:
        result = con.execute(_IDENTITIES_SELECT)
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(IDENTITY_COLUMNS)
            while rows := result.fetchmany(chunk):
                writer.writerows(rows)
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
            if buffer.tell():
                yield buffer.getvalue().encode()
            return
        while rows := result.fetchmany(chunk):
            yield b"".join(
                orjson.dumps(dict(zip(IDENTITY_COLUMNS, row, strict=True))) + b"\n" for row in rows
            )
