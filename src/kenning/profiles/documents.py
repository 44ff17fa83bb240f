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
- documents are (re)built as the writer's idle work (``IdleWork`` in store/writer.py), once
  the person has not changed for a second, a step per transaction (thousands of people when
  many lack one), so a write waits at most one step. Under continuous ingest the people being
  changed are read from the tables until the writer has a moment.

What a document holds is what ``rows.person_rows`` reads, combined: per trait and consent
category the winning row, per computed trait one tally, per distinct value one count; and the
profile ids it combines. The read path turns both into a profile the same way.
"""

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kenning.identity.graph import Merge
from kenning.identity.stitching import IdentityStage
from kenning.profiles.computed.read import combined_tallies, counted_values
from kenning.profiles.computed.tally import Plan
from kenning.profiles.rows import PersonRows, read_people, winners
from kenning.store.writer import EventRow

log = logging.getLogger(__name__)

TABLE = "__kenning_profile_documents"
# People built in one idle step when many lack a document (a store opened for the first time,
# a recompute): the step reads the state tables whatever its size (about 0.2 s on 1M
# profiles), then about 80 µs a person; 5,000 take about 0.6 s, what a group of events
# arriving meanwhile may wait. Steps of 500 would build 1M documents in 9 minutes, not 2.
STEP = 5_000
# A person's document is built once they have not changed for this long: an active visitor
# sends events every few seconds, and each would otherwise cost a rebuild.
SETTLE_SECONDS = 1.0
# Up to this many ids, a delete lists them; more, it joins with them.
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

    def __init__(
        self,
        identity: IdentityStage,
        *,
        build: bool = False,
        plan: Callable[[], Plan | None] = lambda: None,
    ) -> None:
        self._identity = identity
        # What counts the events the computed traits' catch-up has not tallied yet (rows.py):
        # a document holds them, as a read would.
        self._plan = plan
        # Whether this process builds documents when idle (a server does; a CLI command that
        # opens the store for a moment does not).
        self.build = build
        self._held: set[int] = set()  # people with a document
        # People changed since their document was deleted, oldest change first, with when
        # (time.monotonic()); and people found without one, highest id first (popped from
        # the end: neighbouring ids share row groups).
        self._touched: dict[int, float] = {}
        self._backlog: list[int] = []
        self._unknown = True  # ``_backlog`` is yet to be found from the graph
        identity.on_merged.append(self.merged)
        identity.on_rebuilt.append(lambda con, _: self.invalidate_all(con))

    # -- the stage ---------------------------------------------------------------------------

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        self._held = {int(p) for (p,) in con.execute(f"SELECT profile_id FROM {TABLE}").fetchall()}
        self._touched = {}
        self._backlog = []
        self._unknown = True

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        self.invalidate(con, {profile for _, profile in self._identity.resolved})

    def merged(self, con: duckdb.DuckDBPyConnection, merges: Sequence[Merge]) -> None:
        # A profile merged away is no one's document any more: only the kept one is rebuilt.
        self.invalidate(con, {m.merged for m in merges}, rebuild=False)
        self.invalidate(con, {m.kept for m in merges})

    def invalidate(
        self, con: duckdb.DuckDBPyConnection, people: Iterable[int], *, rebuild: bool = True
    ) -> None:
        """Delete the documents of ``people``, whose state the caller's transaction changes
        (and build them again when they settle, unless ``rebuild`` is false)."""
        people = set(people)
        held = people & self._held
        if held:
            _delete(con, held)
            self._held -= held
        if not rebuild:
            for person in people:
                self._touched.pop(person, None)
            return
        now = time.monotonic()
        for person in people:
            self._touched.pop(person, None)  # to the end: changed last
            self._touched[person] = now

    def invalidate_all(self, con: duckdb.DuckDBPyConnection) -> None:
        """Delete every document (a recompute or a rebuild changed everyone's state)."""
        con.execute(f"DELETE FROM {TABLE}")
        self._held = set()
        self._touched = {}
        self._backlog = []
        self._unknown = True

    # -- the idle work -----------------------------------------------------------------------

    def due(self) -> float | None:
        """When the next step is due (``time.monotonic()``); None if there is nothing to build."""
        if not self.build:
            return None
        if self._unknown or self._backlog:
            return 0.0
        for changed_at in self._touched.values():
            return changed_at + SETTLE_SECONDS
        return None

    def step(self, con: duckdb.DuckDBPyConnection) -> int:
        """Build the documents of up to ``STEP`` people without one; returns how many."""
        graph = self._identity.graph
        if self._unknown:
            self._backlog = sorted(set(graph.profile_ids()) - self._held, reverse=True)
            self._unknown = False
        settled = time.monotonic() - SETTLE_SECONDS
        chosen: set[int] = set()
        while self._touched and len(chosen) < STEP:
            person, changed_at = next(iter(self._touched.items()))
            if changed_at > settled:
                break
            del self._touched[person]
            chosen.add(person)
        while self._backlog and len(chosen) < STEP:
            person = self._backlog.pop()
            self._touched.pop(person, None)  # built now, from the state as it is now
            chosen.add(person)
        # Not merged away since, and not built since (from the backlog, say).
        people = sorted(p for p in chosen if graph.holds(p) and p not in self._held)
        if people:
            _build(con, people, self._plan())
            self._held.update(people)
        return len(people)

    def status(self) -> dict[str, Any]:
        return {
            "documents": len(self._held),
            "to_build": None if self._unknown else len(self._backlog) + len(self._touched),
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
    # About 1 ms on 1M documents either way; a list of parameters is the faster for a few.
    if len(people) <= _LISTED:
        listed = ", ".join("?" for _ in people)
        con.execute(f"DELETE FROM {TABLE} WHERE profile_id IN ({listed})", list(people))
        return
    con.register("__kenning_stale", pa.table({"profile_id": pa.array(list(people), pa.int64())}))
    try:
        con.execute(
            f"DELETE FROM {TABLE} WHERE profile_id IN (SELECT profile_id FROM __kenning_stale)"
        )
    finally:
        con.unregister("__kenning_stale")


def _build(con: duckdb.DuckDBPyConnection, people: list[int], plan: Plan | None) -> None:
    """Write the documents of ``people`` (current profile ids without one, ascending)."""
    found = read_people(con, people, plan=plan)
    documents = [encode(ids, compact(rows)) for ids, rows in (found[p] for p in people)]
    _delete(con, set(people))  # none should be there; a failed step may have left one
    con.from_arrow(
        pa.table(
            {
                "profile_id": pa.array(people, pa.int64()),
                "document": pa.array(documents, pa.binary()),
            }
        )
    ).insert_into(TABLE)
