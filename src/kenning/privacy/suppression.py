"""Suppression: identifiers whose events are no longer stored, from the moment it is asked.

Kept as salted SHA-256 hashes of the normalised ``type:value`` text, never as the values: the
list of people who asked to be forgotten must not itself name them. The salt is the store's
own (written once from ``secrets``), so the hashes of one store say nothing about another's.
Every way into the log (the collection API, file imports, quarantine replay) passes through
``Store.write_events``, which asks ``admits`` first; an event carrying a suppressed identifier
is dropped there, before the writer sees it, and counted, never quarantined (the quarantine
would keep what the person asked us not to keep).
"""

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from threading import Lock
from typing import TYPE_CHECKING

import duckdb
import orjson

from kenning.identity.identifiers import Identifier
from kenning.identity.rules import IdentityRules
from kenning.identity.stitching import message_identifiers
from kenning.store.writer import EventRow, QuarantineRow

if TYPE_CHECKING:
    from kenning.store.store import Store


class Suppressions:
    """The store's suppressed identifiers, in memory as hashes; every check is a set lookup."""

    def __init__(self, store: "Store") -> None:
        self._store = store
        self._lock = Lock()
        self._salt = store.writer.run(_salt).result()
        with store.reader() as con:
            rows = con.execute("SELECT identifier_hash FROM __kenning_suppressions").fetchall()
        self._hashes: frozenset[str] = frozenset(row[0] for row in rows)

    def __len__(self) -> int:
        return len(self._hashes)

    def hash(self, identifier: Identifier) -> str:
        text = f"{self._salt}\x00{identifier.type}:{identifier.value}"
        return hashlib.sha256(text.encode()).hexdigest()

    def is_suppressed(self, identifier: Identifier) -> bool:
        return self.hash(identifier) in self._hashes

    def add(self, identifiers: Iterable[Identifier], regulation_id: str) -> int:
        """Suppress ``identifiers`` now (in memory first, so an event arriving while the rows
        are written is already refused), then durably; returns how many were new."""
        hashes = {self.hash(i) for i in identifiers}
        with self._lock:
            new = hashes - self._hashes
            self._hashes = self._hashes | new
        at = datetime.now(UTC)

        def insert(con: duckdb.DuckDBPyConnection) -> None:
            con.executemany(
                "INSERT INTO __kenning_suppressions VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [[h, regulation_id, at] for h in sorted(new)],
            )

        try:
            if new:
                self._store.writer.run(insert).result()
        except BaseException:
            with self._lock:
                self._hashes = self._hashes - new
            raise
        return len(new)

    def remove(self, identifiers: Iterable[Identifier]) -> int:
        """Lift the suppression of ``identifiers``; returns how many were suppressed."""
        hashes = sorted({self.hash(i) for i in identifiers})

        def delete(con: duckdb.DuckDBPyConnection) -> int:
            rows = con.execute(
                "DELETE FROM __kenning_suppressions WHERE identifier_hash = ANY(?) "
                "RETURNING identifier_hash",
                [hashes],
            ).fetchall()
            return len(rows)

        removed = int(self._store.writer.run(delete).result())
        with self._lock:
            self._hashes = self._hashes - set(hashes)
        return removed

    def admit(
        self, events: Sequence[EventRow], quarantine: Sequence[QuarantineRow]
    ) -> tuple[list[EventRow], list[QuarantineRow], int]:
        """The events and quarantined messages that carry no suppressed identifier, and how
        many were dropped. Free while nothing is suppressed."""
        if not self._hashes:
            return list(events), list(quarantine), 0
        rules = self._store.identity.rules
        kept = [
            row
            for row in events
            if not self._carries_suppressed(
                row.message if row.message is not None else _parsed(row.payload), rules
            )
        ]
        held = [
            row
            for row in quarantine
            if not self._carries_suppressed(_parsed(row.payload.encode()), rules)
        ]
        return kept, held, len(events) - len(kept) + len(quarantine) - len(held)

    def _carries_suppressed(self, message: object, rules: IdentityRules) -> bool:
        if not isinstance(message, dict):
            return False
        try:
            found = message_identifiers(message, rules)
        except Exception:  # a malformed message names nobody we could recognise
            return False
        return any(self.is_suppressed(i) for i in found)


def _parsed(payload: bytes) -> object:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def _salt(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT salt FROM __kenning_privacy_salt").fetchone()
    if row is not None:
        return str(row[0])
    salt = secrets.token_hex(32)
    con.execute("INSERT INTO __kenning_privacy_salt VALUES (?)", [salt])
    return salt
