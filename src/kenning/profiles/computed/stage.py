"""The computed-traits stage of the writer: tallies kept on ingest, recomputed from the log when
definitions change, windows refreshed on a schedule.

Which definitions are active: the built-ins, then ``profiles.computed_traits`` from the
configuration, then those declared through the admin API (``__kenning_computed_traits``), a
later one replacing an earlier one of the same name. ``__kenning_trait_state`` records the
fingerprint each trait's tallies were computed with; ``sync`` recomputes the traits whose
definition changed and drops those no longer defined.
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kenning.identity.stitching import IdentityStage
from kenning.profiles.computed import batch
from kenning.profiles.computed.definitions import (
    BUILT_IN,
    DefinitionError,
    TraitDefinition,
    combined,
    parse,
)
from kenning.profiles.computed.tally import Event, Tallies
from kenning.store.rows import insert_rows
from kenning.store.writer import EventRow

log = logging.getLogger(__name__)
_TIMESTAMP = pa.timestamp("us", tz="UTC")


class ComputedTraitStage:
    def __init__(self, identity: IdentityStage, configured: Sequence[TraitDefinition]) -> None:
        self.identity = identity
        self.configured = tuple(configured)
        self.definitions: dict[str, TraitDefinition] = combined(BUILT_IN, self.configured)
        self._source_names: dict[str, str] = {}

    # -- the writer stage ------------------------------------------------------------------

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        self._source_names = {
            str(i): str(n)
            for i, n in con.execute("SELECT id, name FROM __kenning_sources").fetchall()
        }
        declared = tuple(
            parse(str(name), orjson.loads(spec), "api")
            for name, spec in con.execute(
                "SELECT name, definition FROM __kenning_computed_traits ORDER BY created_at, name"
            ).fetchall()
        )
        self.definitions = combined(BUILT_IN, self.configured, declared)

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        profile_of = dict(self.identity.resolved)
        if any(row.source_id not in self._source_names for _, row in rows):
            self.load(con)  # a source created since: its name is a value traits read
        now = datetime.now(UTC)
        definitions = list(self.definitions.values())
        tallies = Tallies()
        for seq, row in rows:
            profile_id = profile_of.get(seq)
            if profile_id is None:
                continue
            message = row.message if row.message is not None else orjson.loads(row.payload)
            source = self._source_names.get(row.source_id, row.source_id)
            event = Event(seq, profile_id, row.timestamp, row.type, row.event, source, message)
            tallies.add(definitions, event, now)
        write(con, tallies)

    # -- from the log ------------------------------------------------------------------------

    def recompute(
        self, con: duckdb.DuckDBPyConnection, names: Sequence[str] | None = None
    ) -> list[str]:
        """Recompute ``names`` (default: every trait) from the log, inside the caller's
        transaction; returns the names recomputed."""
        chosen = [d for d in self.definitions.values() if names is None or d.name in set(names)]
        unknown = sorted(set(names or ()) - set(self.definitions))
        if unknown:
            raise DefinitionError(f"no computed trait is named {unknown[0]!r}", "name")
        self._recompute(con, chosen)
        return [d.name for d in chosen]

    def sync(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """Bring the tallies in line with the definitions: recompute the new and changed ones,
        drop those no longer defined. Returns the names recomputed."""
        computed = dict(
            con.execute("SELECT name, fingerprint FROM __kenning_trait_state").fetchall()
        )
        gone = sorted(set(computed) - set(self.definitions))
        if gone:
            for table, key in (
                ("__kenning_trait_tallies", "trait"),
                ("__kenning_trait_values", "trait"),
                ("__kenning_trait_state", "name"),
            ):
                con.execute(f"DELETE FROM {table} WHERE {key} = ANY(?)", [gone])
        stale = [d for d in self.definitions.values() if computed.get(d.name) != d.fingerprint]
        if stale:
            log.info("computing %d trait(s) from the log", len(stale))
            self._recompute(con, stale)
        return [d.name for d in stale]

    def refresh_windows(
        self, con: duckdb.DuckDBPyConnection, now: datetime | None = None
    ) -> list[str]:
        """Recompute the windowed traits, so events that left a window (as of ``now``, by
        default the present) no longer count."""
        windowed = [d for d in self.definitions.values() if d.window is not None]
        self._recompute(con, windowed, now)
        return [d.name for d in windowed]

    def _recompute(
        self,
        con: duckdb.DuckDBPyConnection,
        chosen: list[TraitDefinition],
        now: datetime | None = None,
    ) -> None:
        if not chosen:
            return
        now = now or datetime.now(UTC)
        batch.recompute(con, chosen, now)
        insert_rows(
            con,
            "__kenning_trait_state",
            pa.table(
                {
                    "name": [d.name for d in chosen],
                    "kind": [d.kind.value for d in chosen],
                    "fingerprint": [d.fingerprint for d in chosen],
                    "computed_at": pa.array([now] * len(chosen), _TIMESTAMP),
                }
            ),
            on_conflict="""ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,
                fingerprint = excluded.fingerprint, computed_at = excluded.computed_at""",
        )

    def describe(self, con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
        """Every active definition, where it comes from and when it was last computed."""
        computed = {
            str(name): (fingerprint, at)
            for name, fingerprint, at in con.execute(
                "SELECT name, fingerprint, computed_at FROM __kenning_trait_state"
            ).fetchall()
        }
        listed = []
        for definition in self.definitions.values():
            fingerprint, at = computed.get(definition.name, (None, None))
            listed.append(
                {
                    "name": definition.name,
                    **definition.spec,
                    "origin": definition.origin,
                    "live": definition.window is None,
                    "computed_at": (
                        at.isoformat() if at and fingerprint == definition.fingerprint else None
                    ),
                }
            )
        return listed

    # -- declared through the API ------------------------------------------------------------

    def declare(self, con: duckdb.DuckDBPyConnection, definition: TraitDefinition) -> list[str]:
        """Add or replace an API-declared trait and compute it (a writer job that changes the
        stage: run it with ``changes_stages=True``)."""
        con.execute(
            """INSERT INTO __kenning_computed_traits VALUES (?, ?, now())
               ON CONFLICT (name) DO UPDATE SET definition = excluded.definition""",
            [definition.name, orjson.dumps(definition.spec).decode()],
        )
        self.load(con)
        return self.sync(con)

    def remove(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        """Remove an API-declared trait (a built-in or configured one declared again through
        the API comes back to its earlier definition)."""
        found = con.execute(
            "DELETE FROM __kenning_computed_traits WHERE name = ? RETURNING name", [name]
        ).fetchall()
        if not found:
            raise DefinitionError(f"no computed trait {name!r} was declared through the API", name)
        self.load(con)
        self.sync(con)


def write(con: duckdb.DuckDBPyConnection, tallies: Tallies) -> None:
    """Add a group's tallies to the stored ones."""
    if tallies.rows:
        keys = list(tallies.rows)
        rows = [tallies.rows[k] for k in keys]
        first = [r.first for r in rows]
        last = [r.last for r in rows]
        insert_rows(
            con,
            "__kenning_trait_tallies",
            pa.table(
                {
                    "profile_id": pa.array([k[0] for k in keys], pa.int64()),
                    "trait": [k[1] for k in keys],
                    "n": pa.array([r.n for r in rows], pa.int64()),
                    "total": pa.array([r.total for r in rows], pa.float64()),
                    "low": pa.array([r.low for r in rows], pa.float64()),
                    "high": pa.array([r.high for r in rows], pa.float64()),
                    "first_value": pa.array([f and f[2] for f in first], pa.string()),
                    "first_at": pa.array([f and f[0] for f in first], _TIMESTAMP),
                    "first_seq": pa.array([f and f[1] for f in first], pa.int64()),
                    "last_value": pa.array([f and f[2] for f in last], pa.string()),
                    "last_at": pa.array([f and f[0] for f in last], _TIMESTAMP),
                    "last_seq": pa.array([f and f[1] for f in last], pa.int64()),
                }
            ),
            on_conflict=_COMBINE_TALLIES,
        )
    if tallies.values:
        keys3 = list(tallies.values)
        values = [tallies.values[k] for k in keys3]
        insert_rows(
            con,
            "__kenning_trait_values",
            pa.table(
                {
                    "profile_id": pa.array([k[0] for k in keys3], pa.int64()),
                    "trait": [k[1] for k in keys3],
                    "value": [k[2] for k in keys3],
                    "n": pa.array([v.n for v in values], pa.int64()),
                    "last_at": pa.array(
                        [v.last[0] if v.last else None for v in values], _TIMESTAMP
                    ),
                    "last_seq": pa.array(
                        [v.last[1] if v.last else None for v in values], pa.int64()
                    ),
                }
            ),
            on_conflict="""ON CONFLICT (profile_id, trait, value) DO UPDATE SET
                n = __kenning_trait_values.n + excluded.n,
                last_at = CASE WHEN (excluded.last_at, excluded.last_seq)
                    > (__kenning_trait_values.last_at, __kenning_trait_values.last_seq)
                    THEN excluded.last_at ELSE __kenning_trait_values.last_at END,
                last_seq = CASE WHEN (excluded.last_at, excluded.last_seq)
                    > (__kenning_trait_values.last_at, __kenning_trait_values.last_seq)
                    THEN excluded.last_seq ELSE __kenning_trait_values.last_seq END""",
        )


_T = "__kenning_trait_tallies"


def _replace_if(better: str, columns: tuple[str, ...]) -> str:
    return ",\n".join(
        f"{c} = CASE WHEN {better} THEN excluded.{c} ELSE {_T}.{c} END" for c in columns
    )


_EARLIER = (
    f"excluded.first_at IS NOT NULL AND ({_T}.first_at IS NULL"
    f" OR (excluded.first_at, excluded.first_seq) < ({_T}.first_at, {_T}.first_seq))"
)
_LATER = (
    f"excluded.last_at IS NOT NULL AND ({_T}.last_at IS NULL"
    f" OR (excluded.last_at, excluded.last_seq) > ({_T}.last_at, {_T}.last_seq))"
)
# A group's tallies added to the stored ones: counts and sums add, extremes and the first and
# last value keep the winner (a NULL side is no contribution).
_COMBINE_TALLIES = f"""ON CONFLICT (profile_id, trait) DO UPDATE SET
    n = {_T}.n + excluded.n,
    total = CASE WHEN {_T}.total IS NULL THEN excluded.total
                 WHEN excluded.total IS NULL THEN {_T}.total
                 ELSE {_T}.total + excluded.total END,
    low = least({_T}.low, excluded.low),
    high = greatest({_T}.high, excluded.high),
    {_replace_if(_EARLIER, ("first_value", "first_at", "first_seq"))},
    {_replace_if(_LATER, ("last_value", "last_at", "last_seq"))}"""
