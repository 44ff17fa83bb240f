"""Reading a profile: found by any identifier, its state combined over the profiles merged into
it, shaped for the Profile API and the CLI."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

from kenning.identity.identifiers import Identifier, normalise

if TYPE_CHECKING:  # the store runs the profile stage
    from kenning.store.store import Store

PROFILE_ID = "profile_id"


class ProfileLookupError(ValueError):
    """The text names no identifier (``TYPE:VALUE``)."""


def find_profile(store: "Store", text: str) -> int | None:
    """The current profile of ``TYPE:VALUE`` (any identifier type, or ``profile_id:N``, an id
    merged away leading to the profile that holds it now); None if unknown."""
    try:
        identifier = Identifier.parse(text)
    except ValueError as error:
        raise ProfileLookupError(str(error)) from None
    graph = store.identity.graph
    if identifier.type == PROFILE_ID:
        try:
            profile_id = int(identifier.value)
        except ValueError:
            raise ProfileLookupError(f"{identifier.value!r} is not a profile id") from None
        if graph.identifiers_of(profile_id):
            return profile_id
        with store.reader() as con:
            rows = con.execute(
                "SELECT canonical_id FROM __kenning_profile_redirects WHERE profile_id = ?",
                [profile_id],
            ).fetchall()
        return int(rows[0][0]) if rows else None
    value = normalise(identifier.type, identifier.value, store.identity.rules)
    return graph.profile_for(Identifier(identifier.type, value)) if value else None


def profile_ids(con: duckdb.DuckDBPyConnection, profile_id: int) -> list[int]:
    """The profile and every profile merged into it: their rows are its state."""
    merged = con.execute(
        "SELECT profile_id FROM __kenning_profile_redirects WHERE canonical_id = ?", [profile_id]
    ).fetchall()
    return [profile_id, *(int(m) for (m,) in merged)]


@dataclass(frozen=True)
class TraitValue:
    value: Any
    source: str
    observed_at: datetime


def traits(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> dict[str, TraitValue]:
    """Each trait path's winning value among the rows of ``ids``."""
    rows = con.execute(
        """SELECT t.trait, t.value, coalesce(s.name, t.source_id), t.observed_at, t.rank, t.seq
           FROM __kenning_profile_traits t LEFT JOIN __kenning_sources s ON s.id = t.source_id
           WHERE t.profile_id = ANY(?)""",
        [list(ids)],
    ).fetchall()
    best: dict[str, tuple[tuple[int, datetime, int], TraitValue]] = {}
    for trait, value, source, at, rank, seq in rows:
        order = (int(rank), at, int(seq))
        if trait not in best or order > best[trait][0]:
            best[trait] = (order, TraitValue(orjson.loads(value), str(source), at))
    return {trait: found for trait, (_, found) in sorted(best.items())}


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted paths back into objects: ``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        node = nested
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return nested


def consent(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Each category's current choice, with when and where it was made."""
    rows = con.execute(
        """SELECT c.category, c.granted, coalesce(s.name, c.source_id), c.observed_at, c.rank, c.seq
           FROM __kenning_consent c LEFT JOIN __kenning_sources s ON s.id = c.source_id
           WHERE c.profile_id = ANY(?)""",
        [list(ids)],
    ).fetchall()
    best: dict[str, tuple[tuple[int, datetime, int], dict[str, Any]]] = {}
    for category, granted, source, at, rank, seq in rows:
        order = (int(rank), at, int(seq))
        if category not in best or order > best[category][0]:
            best[category] = (
                order,
                {"granted": bool(granted), "source": str(source), "at": at.isoformat()},
            )
    return {category: choice for category, (_, choice) in sorted(best.items())}


def consent_history(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Every change of a consent choice, oldest first (a repeated choice is no change)."""
    rows = con.execute(
        """SELECT category, granted, name, observed_at, seq FROM (
               SELECT l.category, l.granted, coalesce(s.name, l.source_id) AS name,
                      l.observed_at, l.seq,
                      lag(l.granted) OVER (PARTITION BY l.category
                                           ORDER BY l.observed_at, l.seq) AS before
               FROM __kenning_consent_log l LEFT JOIN __kenning_sources s ON s.id = l.source_id
               WHERE l.profile_id = ANY(?))
           WHERE before IS DISTINCT FROM granted
           ORDER BY observed_at, seq, category""",
        [list(ids)],
    ).fetchall()
    return [
        {"category": c, "granted": bool(g), "source": str(n), "at": at.isoformat()}
        for c, g, n, at, _ in rows
    ]


def profile(store: "Store", profile_id: int) -> dict[str, Any]:
    """The profile as the API returns it."""
    held = store.identity.graph.identifiers_of(profile_id)
    with store.reader() as con:
        ids = profile_ids(con, profile_id)
        found = traits(con, ids)
        choices = consent(con, ids)
    return {
        "profile_id": profile_id,
        "traits": nest({path: t.value for path, t in found.items()}),
        "trait_sources": {
            path: {"source": t.source, "at": t.observed_at.isoformat()} for path, t in found.items()
        },
        "identities": [
            {"type": i.type, "value": i.value, "first_seen": seen.isoformat()}
            for i, seen in sorted(held.items(), key=lambda item: (item[1], str(item[0])))
        ],
        "consent": choices,
        "merged_ids": ids[1:],
    }
