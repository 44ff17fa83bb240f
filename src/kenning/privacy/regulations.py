"""Regulation requests: suppress, delete, or both, for a list of identifiers; a status each.

``SUPPRESS`` takes effect before the request is answered (the hashes are in memory at once),
so the next event carrying one of the identifiers is refused. ``DELETE`` runs on the writer
after the answer (``202``), as one transaction; the request's status says when it finished
and its receipt what it removed, as counts. No request keeps the identifiers it named.
``SUPPRESS_WITH_DELETE`` does both, suppressing first, so nothing stored while the deletion
runs escapes it. ``UNSUPPRESS`` lifts a suppression.

A suppression covers the identifiers named and every identifier the person's profile holds
then (suppressing ``user_id:42`` also stops events that carry only their email).
"""

import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

from kenning.errors import FieldError
from kenning.identity.identifiers import Identifier
from kenning.privacy.erasure import PROFILE_ID, erase, find, find_person, parse_identifier
from kenning.privacy.traces import find_traces, needles_of

if TYPE_CHECKING:
    from kenning.store.store import Store

log = logging.getLogger(__name__)

SUPPRESS = "SUPPRESS"
DELETE = "DELETE"
SUPPRESS_WITH_DELETE = "SUPPRESS_WITH_DELETE"
UNSUPPRESS = "UNSUPPRESS"
TYPES = (SUPPRESS, DELETE, SUPPRESS_WITH_DELETE, UNSUPPRESS)
MAX_IDENTIFIERS = 1_000


def parse_request(store: "Store", body: object) -> tuple[str, list[Identifier]]:
    """A request's type and identifiers, or a FieldError naming what is wrong."""
    if not isinstance(body, dict):
        raise FieldError("a JSON object with type and identifiers", "")
    unknown = sorted(set(body) - {"type", "identifiers"})
    if unknown:
        raise FieldError("not a field of a regulation request", unknown[0])
    kind = body.get("type")
    if kind not in TYPES:
        raise FieldError(f"one of {', '.join(TYPES)}", "type")
    given = body.get("identifiers")
    if not isinstance(given, list) or not given:
        raise FieldError("a non-empty list of TYPE:VALUE identifiers", "identifiers")
    if len(given) > MAX_IDENTIFIERS:
        raise FieldError(f"at most {MAX_IDENTIFIERS} identifiers a request", "identifiers")
    identifiers: list[Identifier] = []
    for index, text in enumerate(given):
        if not isinstance(text, str):
            raise FieldError("a TYPE:VALUE text", f"identifiers[{index}]")
        try:
            identifier = parse_identifier(text, store)
        except ValueError as error:
            raise FieldError(str(error), f"identifiers[{index}]") from None
        if identifier.type == PROFILE_ID and kind == UNSUPPRESS:
            raise FieldError(
                "lift a suppression by the identifiers suppressed", f"identifiers[{index}]"
            )
        identifiers.append(identifier)
    return str(kind), identifiers


class Regulations:
    """Runs regulation requests and keeps their status and receipts."""

    def __init__(self, store: "Store", export_folders: Callable[[], Sequence[Path]]) -> None:
        self._store = store
        self._export_folders = export_folders

    def request(
        self, kind: str, identifiers: Sequence[Identifier], actor_id: str
    ) -> dict[str, Any]:
        """Record and start a request; a suppression is effective when this returns, a
        deletion runs in the background (see ``status``)."""
        regulation_id = "reg_" + secrets.token_hex(8)
        now = datetime.now(UTC)
        self._store.writer.run(
            lambda con: con.execute(
                "INSERT INTO __kenning_regulations VALUES (?, ?, ?, 'running', ?, NULL, ?, NULL)",
                [regulation_id, kind, len(identifiers), now, actor_id],
            )
        ).result()
        receipt: dict[str, Any] = {}
        if kind in (SUPPRESS, SUPPRESS_WITH_DELETE):
            receipt["suppressed"] = self._suppress(regulation_id, identifiers)
        if kind == UNSUPPRESS:
            receipt["unsuppressed"] = self._store.suppressions.remove(identifiers)
        if kind in (DELETE, SUPPRESS_WITH_DELETE):
            threading.Thread(
                target=self._delete,
                args=(regulation_id, list(identifiers), receipt),
                name=f"kenning-{regulation_id}",
                daemon=True,
            ).start()
        else:
            self._finish(regulation_id, "finished", receipt)
        return self.status(regulation_id) or {}

    def run(self, kind: str, identifiers: Sequence[Identifier], actor_id: str) -> dict[str, Any]:
        """``request`` and wait until it has finished (the CLI)."""
        started = self.request(kind, identifiers, actor_id)
        while started.get("status") == "running":
            threading.Event().wait(0.05)
            started = self.status(started["id"]) or started
        return started

    def _suppress(self, regulation_id: str, identifiers: Sequence[Identifier]) -> int:
        with self._store.reader() as con:
            person = find_person(con, self._store, identifiers)
        named = {i for i in identifiers if i.type != PROFILE_ID}
        named |= {Identifier.parse(key) for key in person.keys}
        self._store.suppressions.add(named, regulation_id)
        return len(named)

    def _delete(
        self, regulation_id: str, identifiers: list[Identifier], receipt: dict[str, Any]
    ) -> None:
        folders = list(self._export_folders())
        store = self._store
        try:
            with store.reader() as con:  # the long searches: ingest goes on meanwhile
                found = find(con, store, identifiers)
            erased = store.writer.run(
                lambda con: erase(con, store, identifiers, found, folders), changes_stages=True
            ).result()
            with store.reader() as con:  # the proof, after the commit
                left = find_traces(con, needles_of(found.person.values), folders)
        except Exception as error:
            log.exception("regulation %s: the deletion failed", regulation_id)
            self._finish(regulation_id, "failed", {**receipt, "error": type(error).__name__})
            return
        erased["traces_left"] = len(left)
        status = "finished" if not left else "incomplete"
        self._finish(regulation_id, status, {**receipt, **erased})

    def _finish(self, regulation_id: str, status: str, receipt: dict[str, Any]) -> None:
        def update(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                """UPDATE __kenning_regulations SET status = ?, finished_at = now(), receipt = ?
                   WHERE id = ?""",
                [status, orjson.dumps(receipt).decode(), regulation_id],
            )

        self._store.writer.run(update).result()

    def status(self, regulation_id: str) -> dict[str, Any] | None:
        with self._store.reader() as con:
            rows = con.execute(_SELECT + " WHERE id = ?", [regulation_id]).fetchall()
        return _as_dict(rows[0]) if rows else None

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._store.reader() as con:
            rows = con.execute(_SELECT + " ORDER BY requested_at DESC LIMIT ?", [limit]).fetchall()
        return [_as_dict(row) for row in rows]


_SELECT = """SELECT id, type, identifiers, status, requested_at, finished_at, actor_id, receipt
             FROM __kenning_regulations"""


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    regulation_id, kind, count, status, requested, finished, actor_id, receipt = row
    return {
        "id": regulation_id,
        "type": kind,
        "identifiers": count,
        "status": status,
        "requested_at": requested.isoformat(),
        "finished_at": finished.isoformat() if finished else None,
        "actor_id": actor_id,
        "receipt": orjson.loads(receipt) if receipt else None,
    }
