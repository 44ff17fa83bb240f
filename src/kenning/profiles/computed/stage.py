"""The computed traits: their definitions, tallies kept from the log after each commit
(``catchup.py``), recomputed from the log when definitions change, windows refreshed on a
schedule.

Which definitions are active: the built-ins, then ``profiles.computed_traits`` from the
configuration, then those declared through the admin API (``__kenning_computed_traits``), a
later one replacing an earlier one of the same name. ``__kenning_trait_state`` records the
fingerprint each trait's tallies were computed with; ``sync`` recomputes the traits whose
definition changed and drops those no longer defined.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kenning.identity.stitching import IdentityStage, RebuiltProfiles
from kenning.profiles.computed import batch
from kenning.profiles.computed.definitions import (
    BUILT_IN,
    DefinitionError,
    TraitDefinition,
    combined,
    parse,
)
from kenning.profiles.computed.tally import Plan
from kenning.store.rows import insert_rows
from kenning.store.writer import EventRow

log = logging.getLogger(__name__)
_TIMESTAMP = pa.timestamp("us", tz="UTC")
# Compaction (``compact``) reads the whole table and its deletes cost the commit about a second
# per million rows: it waits until the rows appended since the last one reach the table's size
# then (so its cost per appended row stays constant), and at least this many.
_COMPACT_AFTER_ROWS = 1_000_000


class ComputedTraitStage:
    def __init__(
        self,
        identity: IdentityStage,
        configured: Sequence[TraitDefinition],
        *,
        builtin: bool = True,
    ) -> None:
        self.identity = identity
        self.builtin = BUILT_IN if builtin else ()
        self.configured = tuple(configured)
        self._declared: tuple[TraitDefinition, ...] = ()
        # Counters of audiences' event conditions (audiences/conditions.py), kept like any
        # other trait and shown by none of the profile's views.
        self.counters: tuple[TraitDefinition, ...] = ()
        self.definitions: dict[str, TraitDefinition] = combined(self.builtin, self.configured)
        self._source_names: dict[str, str] = {}
        self._unnamed: set[str] = set()  # source ids with no row (events written directly)
        self._plan: Plan | None = None
        # The watermark as of the last catch-up committed (``catchup.py`` keeps it).
        self.tallied_to = 0
        self._appended = 0  # tally rows appended since the last compaction
        self._compacted_rows = 0
        # Told, in the transaction, when the tallies of some traits were replaced or dropped.
        self.on_recomputed: list[Callable[[duckdb.DuckDBPyConnection], object]] = []

    # -- the writer stage ------------------------------------------------------------------

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        self._source_names = {
            str(i): str(n)
            for i, n in con.execute("SELECT id, name FROM __kenning_sources").fetchall()
        }
        self._declared = tuple(
            parse(str(name), orjson.loads(spec), "api")
            for name, spec in con.execute(
                "SELECT name, definition FROM __kenning_computed_traits ORDER BY created_at, name"
            ).fetchall()
        )
        self._combine()
        self._compacted_rows = _rows(con)
        self._appended = 0

    def source_name(self, source_id: str) -> str:
        """The name of a source (what traits' and triggers' ``source`` filters compare)."""
        return self._source_names.get(source_id, source_id)

    def _combine(self) -> None:
        self.definitions = combined(self.builtin, self.configured, self._declared, self.counters)
        self._plan = None

    def use_counters(self, counters: Sequence[TraitDefinition]) -> None:
        """Keep these audience counters beside the traits (``sync`` computes new ones)."""
        self.counters = tuple(counters)
        self._combine()

    @property
    def shown(self) -> dict[str, TraitDefinition]:
        """The definitions a profile shows: all but the audiences' counters."""
        return {n: d for n, d in self.definitions.items() if d.origin != "audience"}

    @property
    def plan(self) -> Plan:
        """The definitions as ``tally.py`` works through them (a read tallies the events after
        the watermark with it)."""
        if self._plan is None:
            self._plan = Plan(list(self.definitions.values()))
        return self._plan

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        """No tallying on the acknowledgement path: ``catch_up`` does it after the commit
        (``catchup.py``), and a read adds the events not tallied yet. Only a source created
        since is named (triggers' ``source`` filters read the name)."""
        if any(
            r.source_id not in self._source_names and r.source_id not in self._unnamed
            for _, r in rows
        ):
            self.load(con)
            self._unnamed |= {r.source_id for _, r in rows} - set(self._source_names)

    def catch_up(self, con: duckdb.DuckDBPyConnection) -> int:
        """Tally, in the caller's transaction, the events stored after the watermark and move
        it to the last of them; returns the new watermark (once committed, set it as
        ``tallied_to``).

        The caller holds the writer's exclusive lock (``Writer.exclusive``): two catch-ups at
        once would tally the same events twice (the second's update of the watermark would
        fail on commit)."""
        ((after, upto),) = con.execute(
            """SELECT w.seq, (SELECT max(seq) FROM __kenning_events WHERE seq > w.seq)
               FROM __kenning_trait_watermark w"""
        ).fetchall()
        if upto is None:
            return int(after)
        if self.definitions:
            self._appended += batch.tally_since(
                con, list(self.definitions.values()), datetime.now(UTC), int(after), int(upto)
            )
        con.execute("UPDATE __kenning_trait_watermark SET seq = ?", [upto])
        return int(upto)

    def _compact_after(self) -> int:
        return max(_COMPACT_AFTER_ROWS, self._compacted_rows)

    def compact(self, con: duckdb.DuckDBPyConnection) -> int:
        """Combine appended tallies (see ``compact``)."""
        removed = compact(con)
        self._compacted_rows = _rows(con)
        self._appended = 0
        return removed

    @property
    def compaction_due(self) -> bool:
        """Whether enough tallies were appended since the last compaction (the catch-up
        compacts then)."""
        return self._appended > self._compact_after()

    # -- from the log ------------------------------------------------------------------------

    def recompute(
        self, con: duckdb.DuckDBPyConnection, names: Sequence[str] | None = None
    ) -> list[str]:
        """Recompute ``names`` (default: every trait) from the log, inside the caller's
        transaction; returns the names recomputed."""
        wanted = None if names is None else set(names)
        chosen = [d for d in self.definitions.values() if wanted is None or d.name in wanted]
        unknown = sorted(set(names or ()) - set(self.definitions))
        if unknown:
            raise DefinitionError(f"no computed trait is named {unknown[0]!r}", "name")
        self._recompute(con, chosen)
        return [d.name for d in chosen]

    def rebuilt(self, con: duckdb.DuckDBPyConnection, only: RebuiltProfiles | None) -> None:
        """After an identity rebuild: recompute every trait of the profiles it changed
        (``only``; all of them when None), from the log, inside its transaction."""
        self.catch_up(con)  # else the events after the watermark would be tallied twice
        if only is None:
            self.recompute(con)
        elif only.profiles:
            batch.recompute(con, list(self.definitions.values()), datetime.now(UTC), only=only)
            self._recomputed(con)

    def sync(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """Bring the tallies in line with the definitions: recompute the new and changed ones,
        drop those no longer defined. Returns the names recomputed."""
        self.catch_up(con)
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
            self._recomputed(con)
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
        # Every event up to the last is then tallied, those of ``chosen`` from the log: none
        # is left after the watermark to be tallied a second time.
        self.catch_up(con)
        now = now or datetime.now(UTC)
        batch.recompute(con, chosen, now)
        self._recomputed(con)
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

    def _recomputed(self, con: duckdb.DuckDBPyConnection) -> None:
        for listener in self.on_recomputed:
            listener(con)

    def describe(self, con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
        """Every active definition, where it comes from and when it was last computed."""
        computed = {
            str(name): (fingerprint, at)
            for name, fingerprint, at in con.execute(
                "SELECT name, fingerprint, computed_at FROM __kenning_trait_state"
            ).fetchall()
        }
        listed = []
        for definition in self.shown.values():
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


def compact(con: duckdb.DuckDBPyConnection) -> int:
    """Combine the tallies each catch-up appended into one row per (profile, trait) and per
    (profile, trait, value), where there are several; returns the rows removed."""
    before = _rows(con)
    # One aggregation whose HAVING keeps the keys with several rows. The first and last are
    # each one min or max of a (time, seq, value) struct, which orders as arg_min by (time,
    # seq) does, at 60% of the cost.
    _compact_table(
        con,
        "__kenning_trait_tallies",
        ("profile_id", "trait"),
        """SELECT profile_id, trait, n, total, low, high,
                  f.v AS first_value, f.at AS first_at, f.seq AS first_seq,
                  l.v AS last_value, l.at AS last_at, l.seq AS last_seq, rows
           FROM (SELECT profile_id, trait, sum(n) AS n, fsum(total) AS total, min(low) AS low,
                        max(high) AS high,
                        min({'at': first_at, 'seq': first_seq, 'v': first_value}) AS f,
                        max({'at': last_at, 'seq': last_seq, 'v': last_value}) AS l,
                        count(*) AS rows
                 FROM __kenning_trait_tallies
                 GROUP BY profile_id, trait HAVING count(*) > 1)""",
    )
    _compact_table(
        con,
        "__kenning_trait_values",
        ("profile_id", "trait", "value"),
        """SELECT profile_id, trait, value, n, l.at AS last_at, l.seq AS last_seq, rows
           FROM (SELECT profile_id, trait, value, sum(n) AS n,
                        max({'at': last_at, 'seq': last_seq}) AS l, count(*) AS rows
                 FROM __kenning_trait_values
                 GROUP BY profile_id, trait, value HAVING count(*) > 1)""",
    )
    return before - _rows(con)


def _compact_table(
    con: duckdb.DuckDBPyConnection, table: str, key: tuple[str, ...], combined: str
) -> None:
    """Replace the rows of each key ``combined`` (a query of the combined rows, with the
    ``rows`` each combines) holds with its one row."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE __kenning_compacted AS {combined}")
    ((replaced, total),) = con.execute(
        f"""SELECT (SELECT coalesce(sum(rows), 0) FROM __kenning_compacted),
                  (SELECT count(*) FROM {table})"""
    ).fetchall()
    # Deleting indexed rows costs DuckDB's commit about a second a million, and a commit
    # holds up every other, the writer's included (the p99 of ingest): when most rows are
    # replaced, the table is rebuilt beside the old one and swapped in instead.
    beside = (
        batch.rebuilt_beside(con, table)
        if replaced >= max(total - replaced, batch.REBUILD_MIN_ROWS)
        else None
    )
    joined = " AND ".join(f"t.{c} = c.{c}" for c in key)
    if beside is None:
        con.execute(f"DELETE FROM {table} t USING __kenning_compacted c WHERE {joined}")
        con.execute(f"INSERT INTO {table} SELECT * EXCLUDE (rows) FROM __kenning_compacted")
    else:
        rebuilt, swap = beside
        con.execute(
            f"""INSERT INTO {rebuilt}
                SELECT * FROM {table} t
                WHERE NOT EXISTS (SELECT 1 FROM __kenning_compacted c WHERE {joined})
                UNION ALL SELECT * EXCLUDE (rows) FROM __kenning_compacted"""
        )
        swap()
    con.execute("DROP TABLE __kenning_compacted")


def _rows(con: duckdb.DuckDBPyConnection) -> int:
    ((rows,),) = con.execute(
        """SELECT (SELECT count(*) FROM __kenning_trait_tallies)
                + (SELECT count(*) FROM __kenning_trait_values)"""
    ).fetchall()
    return int(rows)
