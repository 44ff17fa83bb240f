"""Rebuilding the identity graph from the event log: the log is the truth, the graph derived."""

from collections.abc import Callable

import duckdb

from kenning.identity.graph import IdentityGraph
from kenning.identity.stitching import IdentityStage
from kenning.store.store import Store
from kenning.store.writer import EventRow

DERIVED_TABLES = (
    "__kenning_identifiers",
    "__kenning_event_profiles",
    "__kenning_merges",
    "__kenning_profile_redirects",
)
_CHUNK = 50_000


def rebuild_identity(store: Store, *, progress: Callable[[int, int], None] | None = None) -> int:
    """Drop the derived identity tables and stitch every event again in log order.

    Runs as one writer job (one transaction): ingest waits, and a failure leaves the previous
    graph in place. Returns the number of events replayed.
    """
    stage = store.identity

    def run(con: duckdb.DuckDBPyConnection) -> int:
        for table in DERIVED_TABLES:
            con.execute(f"DELETE FROM {table}")
        stage.graph = IdentityGraph(stage.rules)
        stage.reset_counters()
        total_row = con.execute("SELECT count(*) FROM __kenning_events").fetchone()
        total = int(total_row[0]) if total_row else 0
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
            stage.apply(con, rows)
            last_seq = rows[-1][0]
            done += len(rows)
            if progress is not None:
                progress(done, total)
        return done

    try:
        return store.writer.run(run).result()
    except BaseException:
        store.writer.run(stage.load).result()  # back to what the store holds
        raise


def live_partition(stage: IdentityStage) -> dict[int, frozenset[str]]:
    """The graph's profiles as sets of identifiers: for comparing a rebuild with live state."""
    return stage.graph.partition()
