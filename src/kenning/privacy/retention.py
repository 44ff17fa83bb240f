"""Retention: each source's events are kept ``retention_days`` (``kenning sources retention``;
unset: for ever). A job deletes the expired events, and the quarantined messages of the same
age, then rebuilds what derives from the log (traits, consent and its history, computed
traits) in the same transaction, so no expired event survives in what it fed.

The identity graph keeps its links: who is whom is not behavioural data, and splitting a
person because the event that joined them expired would send them two messages. Predictions
and audiences follow at their next run and evaluation. A server runs the job every
``privacy.retention_hours``; ``POST /v1/privacy/retention`` runs it now.
"""

import time
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from kenning.store.store import Store


def apply_retention(store: "Store") -> dict[str, Any]:
    """Delete what every source keeps no longer, and rebuild; a summary."""
    kept = {s.id: s.retention_days for s in store.sources.list() if s.retention_days}
    started = time.perf_counter()

    def run(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        events = quarantined = 0
        for source_id, days in kept.items():
            deleted = con.execute(
                """DELETE FROM __kenning_events
                   WHERE source_id = ? AND timestamp < now() - to_days(?::INTEGER)
                   RETURNING seq""",
                [source_id, days],
            ).fetchall()
            if deleted:
                con.execute(
                    "DELETE FROM __kenning_event_profiles WHERE seq = ANY(?)",
                    [[s for (s,) in deleted]],
                )
                events += len(deleted)
            row = con.execute(
                """DELETE FROM __kenning_quarantine
                   WHERE source_id = ? AND received_at < now() - to_days(?::INTEGER)
                   RETURNING 1""",
                [source_id, days],
            ).fetchall()
            quarantined += len(row)
        if events:
            store.profiles.recompute(con)
            store.computed.recompute(con)
        return {"events_deleted": events, "quarantine_deleted": quarantined}

    done = store.writer.run(run, changes_stages=True).result()
    if done["events_deleted"]:
        store.evaluate_audiences_now()
    return {
        **done,
        "sources": len(kept),
        "seconds": round(time.perf_counter() - started, 3),
    }
