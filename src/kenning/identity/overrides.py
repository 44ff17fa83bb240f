"""Identity overrides: a person's word over the stitching rules.

Two kinds, both inputs to the graph like the event log (a rebuild keeps them and obeys them):

- ``never_join``: two identifiers must never share a profile (two people behind one family
  email, a call-centre agent's phone on many customers' records);
- ``detach``: an identifier links nothing: events that carry it resolve through their other
  identifiers, and it belongs to no profile unless an event carries it alone (then to a profile
  of its own). This is "unmerge": a profile that one shared identifier had glued together falls
  apart into the people it held.

Stitching treats a conflict with an override like a broken limit: the event's lowest-priority
identifier that takes part in the conflict is left out of matching, and matching is retried.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from kenning.identity.identifiers import Identifier, normalise
from kenning.identity.rules import IdentityRules

NEVER_JOIN = "never_join"
DETACH = "detach"
KINDS = (NEVER_JOIN, DETACH)


class OverrideError(ValueError):
    """An override that cannot be recorded; ``field`` names the offending input."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Override:
    id: int
    kind: str
    a: Identifier
    b: Identifier | None
    reason: str | None
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "a": str(self.a),
            "b": str(self.b) if self.b is not None else None,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
        }


class OverrideIndex:
    """The active overrides, indexed by identifier text for the stitching hot path."""

    def __init__(self, overrides: Iterable[Override] = ()) -> None:
        self.never: dict[str, set[str]] = {}
        self.detached: set[str] = set()
        for override in overrides:
            a = f"{override.a.type}:{override.a.value}"
            if override.kind == DETACH:
                self.detached.add(a)
            elif override.b is not None:
                b = f"{override.b.type}:{override.b.value}"
                self.never.setdefault(a, set()).add(b)
                self.never.setdefault(b, set()).add(a)

    def __bool__(self) -> bool:
        return bool(self.never or self.detached)

    def conflicts(self, union: set[str]) -> set[str]:
        """The identifiers of ``union`` that an override forbids to be together."""
        found: set[str] = set()
        if len(union) < 2:
            return found
        for key in union:
            if key in self.detached:
                found.add(key)
            partners = self.never.get(key)
            if partners and not partners.isdisjoint(union):
                found.add(key)
        return found


def parse_identifier(text: str, rules: IdentityRules, field: str) -> Identifier:
    """``TYPE:VALUE`` normalised as stitching normalises it, so the override matches."""
    try:
        raw = Identifier.parse(text)
    except ValueError as error:
        raise OverrideError(str(error), field) from None
    value = normalise(raw.type, raw.value, rules)
    if value is None:
        raise OverrideError(f"{text!r} is not a usable {raw.type} (blocked or malformed)", field)
    return Identifier(raw.type, value)


def validate(kind: str, a: Identifier, b: Identifier | None) -> None:
    if kind not in KINDS:
        raise OverrideError(f"kind must be one of {', '.join(KINDS)}", "kind")
    if kind == NEVER_JOIN:
        if b is None:
            raise OverrideError("never_join needs two identifiers", "b")
        if a == b:
            raise OverrideError("an identifier cannot be kept apart from itself", "b")
    elif b is not None:
        raise OverrideError("detach takes one identifier", "b")


def load(con: duckdb.DuckDBPyConnection) -> list[Override]:
    """The active overrides, oldest first."""
    return [
        _override(row)
        for row in con.execute(
            """SELECT id, kind, a, b, reason, created_at FROM __kenning_identity_overrides
               WHERE removed_at IS NULL ORDER BY id"""
        ).fetchall()
    ]


def insert(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    a: Identifier,
    b: Identifier | None,
    reason: str | None,
) -> Override:
    row = con.execute(
        "SELECT coalesce(max(id), 0) + 1 FROM __kenning_identity_overrides"
    ).fetchone()
    override = Override(int(row[0]) if row else 1, kind, a, b, reason, datetime.now(UTC))
    con.execute(
        "INSERT INTO __kenning_identity_overrides VALUES (?, ?, ?, ?, ?, ?, NULL)",
        [
            override.id,
            kind,
            str(a),
            str(b) if b is not None else None,
            reason,
            override.created_at,
        ],
    )
    return override


def remove(con: duckdb.DuckDBPyConnection, override_id: int) -> Override | None:
    """Lift an override (kept, marked removed: the record of what was decided stays)."""
    row = con.execute(
        """UPDATE __kenning_identity_overrides SET removed_at = now()
           WHERE id = ? AND removed_at IS NULL
           RETURNING id, kind, a, b, reason, created_at""",
        [override_id],
    ).fetchone()
    return _override(row) if row else None


def _override(row: Sequence[Any]) -> Override:
    return Override(
        int(row[0]),
        str(row[1]),
        Identifier.parse(str(row[2])),
        Identifier.parse(str(row[3])) if row[3] is not None else None,
        row[4],
        row[5],
    )
