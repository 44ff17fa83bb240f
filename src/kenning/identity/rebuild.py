"""Rebuilding the identity graph from the event log: the log is the truth, the graph derived.

A rebuild replays every event, in log order, through a fresh graph under the current rules and
overrides, then maps the replay's profile numbering onto the ids the profiles had before (see
``stable_ids``), so that nobody downstream sees a person renumbered.

The replay is done in bulk (``fast_replay``): array work for the identifiers no rule can
touch, event by event for the rest; its tables equal the event-by-event replay's, which stays
here (``sequential=True``) as the reference the tests hold it to.
"""

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from kenning.identity import links, log_links
from kenning.identity.fast_replay import Numbering, fast_replay
from kenning.identity.identifiers import Identifier
from kenning.identity.log_links import Codes
from kenning.identity.overrides import OverrideIndex
from kenning.identity.stable_ids import Holdings, Keys, StableIds, stable_ids_of
from kenning.identity.stitching import (
    IdentityStage,
    RebuiltProfiles,
    highest_profile_id,
    remember_highest_profile_id,
)
from kenning.store.rows import insert_rows
from kenning.store.store import Store
from kenning.store.writer import EventRow

DERIVED_TABLES = (
    "__kenning_identifiers",
    "__kenning_event_profiles",
    "__kenning_merges",
    "__kenning_profile_redirects",
)
_CHUNK = 50_000
Progress = Callable[[int, int], None]


@dataclass
class Rebuilt:
    events: int
    profiles_before: int
    profiles_after: int
    # For each identifier asked about: its profile before and after (None: in no profile).
    watched: dict[str, dict[str, int | None]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "profiles_before": self.profiles_before,
            "profiles_after": self.profiles_after,
            "watched": self.watched,
        }


def rebuild_identity(
    store: Store,
    *,
    first: Callable[[duckdb.DuckDBPyConnection], object] | None = None,
    watch: Sequence[Identifier] = (),
    progress: Progress | None = None,
) -> Rebuilt:
    """Drop the derived identity tables and stitch every event again in log order.

    ``first`` runs in the same transaction before the replay (recording an override, say), so
    the change and the graph it implies land together or not at all. Runs as one writer job:
    ingest waits, and a failure leaves the previous graph in place.
    """
    stage = store.identity

    def run(con: duckdb.DuckDBPyConnection) -> Rebuilt:
        if first is not None:
            first(con)
        return replay(con, stage, watch=watch, progress=progress)

    return store.writer.run(run, changes_stages=True).result()


def replay(
    con: duckdb.DuckDBPyConnection,
    stage: IdentityStage,
    *,
    watch: Sequence[Identifier] = (),
    progress: Progress | None = None,
    sequential: bool = False,
) -> Rebuilt:
    """Replay the log into a fresh graph on ``con`` (inside the caller's transaction).

    ``sequential`` stitches event by event, as ingest does (slow: the reference for tests);
    otherwise the log is replayed in bulk, with the same result.
    """
    with _collector_paused():
        return _replay(con, stage, watch=watch, progress=progress, sequential=sequential)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the while: a replay allocates millions of containers,
    none in a cycle, and the collections they set off walk the whole heap again and again
    (two seconds of a rebuild of 10M links)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _replay(
    con: duckdb.DuckDBPyConnection,
    stage: IdentityStage,
    *,
    watch: Sequence[Identifier],
    progress: Progress | None,
    sequential: bool,
) -> Rebuilt:
    old = stage.graph
    profiles_before = old.profile_count
    before = {str(i): old.profile_for(i) for i in watch}
    old_redirects = {
        int(m): int(c)
        for m, c in con.execute(
            "SELECT profile_id, canonical_id FROM __kenning_profile_redirects"
        ).fetchall()
    }
    merged_away = con.execute(
        """SELECT i.profile_id, i.type || ':' || i.value FROM __kenning_identifiers i
           SEMI JOIN __kenning_profile_redirects r USING (profile_id)"""
    ).fetchall()
    first_fresh = max(highest_profile_id(con), old.next_profile_id - 1) + 1
    remember_highest_profile_id(con, first_fresh - 1)  # the replay may retire it
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_BEFORE} AS
            SELECT seq, profile_id FROM __kenning_event_profiles"""
    )

    def numbering(
        keys: Keys, new: Holdings, transient_ids: Codes, transient: Holdings
    ) -> StableIds:
        return stable_ids_of(
            keys.held(*old.memberships()),
            new,
            transient_ids=transient_ids,
            transient=transient,
            old_redirects=old_redirects,
            merged_away=keys.held([p for p, _ in merged_away], [k for _, k in merged_away]),
            first_fresh=first_fresh,
            keys=len(keys),
        )

    done = replay_log(con, stage, progress=progress, sequential=sequential, numbering=numbering)
    changed = _changed_profiles(con)
    try:
        for listener in stage.on_rebuilt:
            listener(con, changed)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_BEFORE}")
        con.execute(f"DROP TABLE IF EXISTS {_CHANGED}")
    after = stage.graph
    return Rebuilt(
        events=done,
        profiles_before=profiles_before,
        profiles_after=after.profile_count,
        watched={str(i): {"before": before[str(i)], "after": after.profile_for(i)} for i in watch},
    )


# Each event's profile before the replay, and the profiles whose events changed.
_BEFORE = "__kenning_rebuild_before"
_CHANGED = "__kenning_rebuild_changed"
# When the changed profiles hold more than this share of the log's events, the state is
# recomputed whole: reading the log once costs less than picking most of it profile by profile.
_WHOLE_FROM = 0.5


def _changed_profiles(con: duckdb.DuckDBPyConnection) -> RebuiltProfiles | None:
    """The profiles some event left or joined in the replay (stable ids keep everyone else's
    events where they were): only their state need be recomputed. None when most events
    moved."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_CHANGED} AS
            SELECT DISTINCT profile_id FROM (
                SELECT unnest([b.profile_id, a.profile_id]) AS profile_id
                FROM {_BEFORE} b FULL JOIN __kenning_event_profiles a USING (seq)
                WHERE b.profile_id IS DISTINCT FROM a.profile_id)
            WHERE profile_id IS NOT NULL"""
    )
    row = con.execute(
        f"""SELECT (SELECT count(*) FROM {_CHANGED}),
                   (SELECT count(*) FROM __kenning_event_profiles
                    WHERE profile_id IN (SELECT profile_id FROM {_CHANGED})),
                   (SELECT count(*) FROM __kenning_event_profiles)"""
    ).fetchone()
    profiles, moved_events, events = row if row else (0, 0, 0)
    if moved_events > _WHOLE_FROM * events:
        return None
    return RebuiltProfiles(_CHANGED, int(profiles))


def replay_log(
    con: duckdb.DuckDBPyConnection,
    stage: IdentityStage,
    *,
    progress: Progress | None = None,
    sequential: bool = False,
    numbering: Numbering | None = None,
) -> int:
    """Empty the derived tables and stitch the log into them and into a fresh graph, each link
    joined where it was made, the profiles numbered by ``numbering`` (by default, the replay's
    own numbering); returns the events read."""
    for table in DERIVED_TABLES:
        con.execute(f"DELETE FROM {table}")
    stage.load_overrides(con)
    stage.reset()
    active = links.load(con)
    total_row = con.execute("SELECT count(*) FROM __kenning_events").fetchone()
    total = int(total_row[0]) if total_row else 0
    if sequential or not log_links.supported(stage.rules):
        done = _replay_event_by_event(con, stage, active, total, progress)
        if numbering is not None:
            _renumber(con, stage, numbering)
        return done
    # The tables are written under the numbering's ids at once: renumbering them afterwards
    # rewrote millions of rows (3-4 s of a rebuild of 10M links).
    replayed = fast_replay(
        con, stage.rules, OverrideIndex(stage.overrides), active, numbering=numbering
    )
    if replayed.ids is not None:
        _redirect(con, replayed.ids)
    stage.load(con, replayed.graph)  # the graph the replayed tables hold
    if progress is not None:
        progress(total, total)
    return total


def _replay_event_by_event(
    con: duckdb.DuckDBPyConnection,
    stage: IdentityStage,
    active: Sequence[links.Link],
    total: int,
    progress: Progress | None,
) -> int:
    pending = sorted(active, key=lambda link: (link.after_seq, link.id))
    next_link = 0

    def stitch(rows: list[tuple[int, EventRow]]) -> None:
        # The links made between these events join their profiles where they were made.
        nonlocal next_link
        start = 0
        for index, (seq, _) in enumerate(rows):
            due = next_link
            while due < len(pending) and pending[due].after_seq < seq:
                due += 1
            if due > next_link:
                if index > start:
                    stage.apply(con, rows[start:index])
                stage.apply_links(con, pending[next_link:due])
                next_link, start = due, index
        if start < len(rows):
            stage.apply(con, rows[start:])

    done = 0
    last_seq = 0
    # Chunks by seq, each fetched whole: the same connection then writes the results.
    while batch := con.execute(
        """SELECT seq, source_id, message_id, type, event, user_id, anonymous_id, timestamp,
                  original_timestamp, sent_at, received_at, flags, payload
           FROM __kenning_events WHERE seq > ? ORDER BY seq LIMIT ?""",
        [last_seq, _CHUNK],
    ).fetchall():
        rows = [
            (
                int(r[0]),
                EventRow(
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                    r[9],
                    r[10],
                    tuple(r[11]),
                    r[12].encode(),
                ),
            )
            for r in batch
        ]
        stitch(rows)
        last_seq = rows[-1][0]
        done += len(rows)
        if progress is not None:
            progress(done, total)
    stage.apply_links(con, pending[next_link:])  # links made after the last event
    return done


def _renumber(con: duckdb.DuckDBPyConnection, stage: IdentityStage, numbering: Numbering) -> None:
    """Give the profiles an event-by-event replay wrote the ids ``numbering`` gives them, in the
    tables and in the live graph."""
    transient: dict[int, set[str]] = {
        int(r[0]): set()
        for r in con.execute(
            "SELECT kept FROM __kenning_merges UNION SELECT merged FROM __kenning_merges"
        ).fetchall()
    }
    for type_, value, profile_id in con.execute(
        """SELECT type, value, profile_id FROM __kenning_identifiers
           WHERE profile_id IN (SELECT kept FROM __kenning_merges
                                UNION SELECT merged FROM __kenning_merges)"""
    ).fetchall():
        transient[int(profile_id)].add(str(Identifier(type_, value)))
    keys = Keys()
    ids = numbering(
        keys,
        keys.held(*stage.graph.memberships()),
        np.asarray(sorted(transient), np.int64),
        keys.grouped(transient),
    )
    # Only the ids that change: rewriting a row to its own value still costs a rewrite.
    changed = {new: stable for new, stable in ids.mapping.items() if new != stable}
    if changed:
        con.register(
            "__kenning_renumber",
            pa.table(
                {
                    "new_id": pa.array(list(changed), pa.int64()),
                    "stable_id": pa.array(list(changed.values()), pa.int64()),
                }
            ),
        )
        try:
            for table, column in (
                ("__kenning_identifiers", "profile_id"),
                ("__kenning_event_profiles", "profile_id"),
                ("__kenning_merges", "kept"),
                ("__kenning_merges", "merged"),
                ("__kenning_profile_redirects", "profile_id"),
                ("__kenning_profile_redirects", "canonical_id"),
            ):
                con.execute(
                    f"""UPDATE {table} SET {column} = m.stable_id FROM __kenning_renumber m
                        WHERE {table}.{column} = m.new_id"""
                )
        finally:
            con.unregister("__kenning_renumber")
    _redirect(con, ids)
    if changed or ids.redirects:
        stage.load(con)
    # else the graph already holds what the tables hold (ids and all): reading it back from
    # them costs about as much as the rest of a large rebuild.


def _redirect(con: duckdb.DuckDBPyConnection, ids: StableIds) -> None:
    """Old ids no longer live point at the profile that holds their people now."""
    if ids.redirects:
        insert_rows(
            con,
            "__kenning_profile_redirects",
            pa.table(
                {
                    "profile_id": pa.array(list(ids.redirects), pa.int64()),
                    "canonical_id": pa.array(list(ids.redirects.values()), pa.int64()),
                }
            ),
        )


def live_partition(stage: IdentityStage) -> dict[int, frozenset[str]]:
    """The graph's profiles as sets of identifiers: for comparing a rebuild with live state."""
    return stage.graph.partition()
