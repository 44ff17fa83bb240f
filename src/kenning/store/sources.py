"""Sources: where events come from, each with its own write key (stored hashed)."""

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from kenning.store.store import Store


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    name: str
    write_key_prefix: str
    rate_limit: float | None
    created_at: datetime
    retention_days: int | None = None  # events older than this are deleted; None: kept


@dataclass(frozen=True, slots=True)
class CreatedSource:
    source: Source
    write_key: str  # shown once, at creation


class SourceExists(Exception):
    pass


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Sources:
    """Creates and looks up sources; write-key look-ups are served from memory."""

    def __init__(self, store: "Store") -> None:
        self._store = store
        self._lock = Lock()
        self._by_key_hash: dict[str, Source] = {}
        with store.reader() as con:
            for row in con.execute(
                "SELECT id, name, write_key_prefix, rate_limit, created_at, retention_days, "
                "write_key_hash FROM __kenning_sources"
            ).fetchall():
                self._by_key_hash[row[6]] = Source(*row[:6])

    def create(self, name: str, *, rate_limit: float | None = None) -> CreatedSource:
        write_key = secrets.token_urlsafe(24)
        source = Source(
            id="src_" + secrets.token_hex(8),
            name=name,
            write_key_prefix=write_key[:6],
            rate_limit=rate_limit,
            created_at=datetime.now(UTC),
        )
        key_hash = hash_secret(write_key)

        def insert(con: duckdb.DuckDBPyConnection) -> None:
            exists = con.execute(
                "SELECT 1 FROM __kenning_sources WHERE name = ?", [name]
            ).fetchone()
            if exists:
                raise SourceExists(f"a source named {name!r} already exists")
            con.execute(
                """INSERT INTO __kenning_sources
                   (id, name, write_key_hash, write_key_prefix, rate_limit, created_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                [source.id, name, key_hash, source.write_key_prefix, rate_limit, source.created_at],
            )

        self._store.writer.run(insert).result()
        with self._lock:
            self._by_key_hash[key_hash] = source
        return CreatedSource(source, write_key)

    def set_retention(self, name: str, days: int | None) -> Source:
        """Keep the source's events ``days`` days (None: for ever); KeyError if unknown."""
        source = self.by_name(name)
        if source is None:
            raise KeyError(name)

        def update(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "UPDATE __kenning_sources SET retention_days = ? WHERE id = ?", [days, source.id]
            )

        self._store.writer.run(update).result()
        changed = dataclasses.replace(source, retention_days=days)
        with self._lock:
            for key_hash, held in self._by_key_hash.items():
                if held.id == source.id:
                    self._by_key_hash[key_hash] = changed
        return changed

    def by_write_key(self, write_key: str) -> Source | None:
        return self._by_key_hash.get(hash_secret(write_key))

    def by_name(self, name: str) -> Source | None:
        return next((s for s in self.list() if s.name == name), None)

    def by_id(self, source_id: str) -> Source | None:
        return next((s for s in self.list() if s.id == source_id), None)

    def list(self) -> list[Source]:
        with self._lock:
            return sorted(self._by_key_hash.values(), key=lambda s: (s.created_at, s.name))
