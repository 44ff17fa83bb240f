"""Profile documents: each person's state rows, combined and kept as one value, so the Profile
API reads a profile with one index lookup of one column.

Why: DuckDB stores tables by column, and a point lookup costs about 0.1 ms per column it
fetches. A profile's state lives in four tables of 5 to 11 columns, keyed by the profiles merged
into it; reading them takes 2-4 ms on 1M profiles, a document 0.4 ms (bench/profiles).

A document is a cache, never the truth, and never stale:

- whatever changes a person's state deletes their document in the same transaction: an
  ingest group (the profiles its events were stitched to, and those merged), a merge made by a
  match run, and every recompute or rebuild (all documents);
- a read without a document reads the state tables (``read.py``), with the same result;
- documents are (re)built when the writer is idle (``Writer(idle=...)``), a few hundred
  profiles a transaction, so ingest waits at most one such step. Under continuous ingest the
  profiles being touched are read from the tables until ingest pauses.

What a document holds is what ``rows.person_rows`` reads, combined: per trait and consent
category the winning row, per computed trait one tally, per distinct value one count; and the
profile ids it combines. The read path turns both into a profile the same way.
"""

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kenning.identity.graph import Merge
from kenning.identity.stitching import IdentityStage
from kenning.profiles.computed.read import combined_tallies, counted_values
from kenning.profiles.rows import PersonRows, people_rows, winners
from kenning.store.writer import EventRow

log = logging.getLogger(__name__)

TABLE = "__kenning_profile_documents"
# People built in one idle step. A step reads the state tables whatever its size (about 0.2 s
# on 1M profiles), then about 80 µs a person: 5,000 take about 0.6 s, what a group of events
# arriving meanwhile may wait; 500 would take 0.25 s, and 1M profiles 9 minutes, not 2.
STEP = 5_000
# Above this many, a delete joins with the ids rather than listing them.
_LISTED = 64


def compact(rows: PersonRows) -> PersonRows:
    """The same person's rows, combined: what a profile read makes of either is the same."""
    return PersonRows(
        traits=list(winners(rows.traits).values()),
        consent=list(winners(rows.consent).values()),
        tallies=[(trait, *tally) for trait, tally in combined_tallies(rows.tallies).items()],
        values=[
            (trait, value, n, at, seq)
            for (trait, value), (n, at, seq) in counted_values(rows.values).items()
        ],
    )


def encode(ids: Sequence[int], rows: PersonRows) -> bytes:
    return orjson.dumps([list(ids), rows.traits, rows.consent, rows.tallies, rows.values])


def decode(document: bytes) -> tuple[list[int], PersonRows]:
    ids, traits, consent, tallies, values = orjson.loads(document)
    return ids, PersonRows(traits, consent, tallies, values)


class ProfileDocuments:
    """A real-time stage (deletes the documents of the people a group changes) and the
    writer's idle work (builds the missing ones)."""

    def __init__(self, identity: IdentityStage, *, build: bool = False) -> None:
        self._identity = identity
        # Whether this process builds documents when idle (a server does; a CLI command that
        # opens the store for a moment does not).
        self.build = build
        self._held: set[int] = set()  # people with a document
        self._missing: set[int] = set()  # people to build one for
        self._unknown = True  # ``_missing`` is yet to be found from the graph
        identity.on_merged.append(self.merged)
        identity.on_rebuilt.append(self.invalidate_all)

    # -- the stage ---------------------------------------------------------------------------

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        self._held = {int(p) for (p,) in con.execute(f"SELECT profile_id FROM {TABLE}").fetchall()}
        self._missing = set()
        self._unknown = True

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        self.invalidate(con, {profile for _, profile in self._identity.resolved})

    def merged(self, con: duckdb.DuckDBPyConnection, merges: Sequence[Merge]) -> None:
        self.invalidate(con, {p for m in merges for p in (m.kept, m.merged)})

    def invalidate(self, con: duckdb.DuckDBPyConnection, people: Iterable[int]) -> None:
        """Delete the documents of ``people``, whose state the caller's transaction changes."""
        people = set(people)
        held = people & self._held
        if held:
            _delete(con, held)
            self._held -= held
        self._missing |= people

    def invalidate_all(self, con: duckdb.DuckDBPyConnection) -> None:
        """Delete every document (a recompute or a rebuild changed everyone's state)."""
        con.execute(f"DELETE FROM {TABLE}")
        self._held = set()
        self._missing = set()
        self._unknown = True

    # -- the idle work -----------------------------------------------------------------------

    def wanted(self) -> bool:
        """Whether there are documents to build."""
        return self.build and (self._unknown or bool(self._missing))

    def step(self, con: duckdb.DuckDBPyConnection) -> int:
        """Build the documents of up to ``STEP`` people without one; returns how many."""
        graph = self._identity.graph
        if self._unknown:
            self._missing = set(graph.profile_ids()) - self._held
            self._unknown = False
        chunk = sorted(self._missing)[:STEP]  # neighbouring ids: their rows share row groups
        self._missing.difference_update(chunk)
        people = [p for p in chunk if graph.holds(p)]  # not merged away since
        if not people:
            return 0
        _build(con, people)
        self._held.update(people)
        return len(people)

    def status(self) -> dict[str, Any]:
        return {
            "documents": len(self._held),
            "to_build": None if self._unknown else len(self._missing),
            "building": self.build,
        }

    # -- reading -----------------------------------------------------------------------------

    def read(
        self, con: duckdb.DuckDBPyConnection, person: int
    ) -> tuple[list[int], PersonRows] | None:
        """The person's profile ids and combined rows, if they have a document."""
        if person not in self._held:
            return None
        row = con.execute(f"SELECT document FROM {TABLE} WHERE profile_id = ?", [person]).fetchone()
        return None if row is None else decode(row[0])


def _delete(con: duckdb.DuckDBPyConnection, people: set[int]) -> None:
    if len(people) <= _LISTED:
        con.execute(
            f"DELETE FROM {TABLE} WHERE profile_id IN (SELECT unnest(?::BIGINT[]))", [list(people)]
        )
        return
    con.register("__kenning_stale", pa.table({"profile_id": pa.array(list(people), pa.int64())}))
    try:
        con.execute(
            f"DELETE FROM {TABLE} WHERE profile_id IN (SELECT profile_id FROM __kenning_stale)"
        )
    finally:
        con.unregister("__kenning_stale")


def _build(con: duckdb.DuckDBPyConnection, people: list[int]) -> None:
    """Write the documents of ``people`` (current profile ids without one, ascending)."""
    members: dict[int, list[int]] = {p: [p] for p in people}
    for merged, kept in con.execute(
        """SELECT profile_id, canonical_id FROM __kenning_profile_redirects
           WHERE canonical_id BETWEEN ? AND ? ORDER BY profile_id""",
        [people[0], people[-1]],
    ).fetchall():
        if kept in members:
            members[kept].append(merged)
    con.register(
        "__kenning_members",
        pa.table(
            {
                "member": pa.array([m for ids in members.values() for m in ids], pa.int64()),
                "person": pa.array([p for p, ids in members.items() for _ in ids], pa.int64()),
            }
        ),
    )
    try:
        found = people_rows(con, "__kenning_members")
    finally:
        con.unregister("__kenning_members")
    documents = [encode(members[p], compact(found.get(p, PersonRows()))) for p in people]
    _delete(con, set(people))  # none should be there; a failed step may have left one
    con.from_arrow(
        pa.table(
            {
                "profile_id": pa.array(people, pa.int64()),
                "document": pa.array(documents, pa.binary()),
            }
        )
    ).insert_into(TABLE)
