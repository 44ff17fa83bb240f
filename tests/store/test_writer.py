"""The single writer: group commit, dedup by key, results per request, failures reported."""

import pickle
import time
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from kenning.store.store import Store, StoreLocked
from kenning.store.writer import EventRow, QuarantineRow, WriteResult

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def row(message_id: str, source: str = "src") -> EventRow:
    return EventRow(
        source, message_id, "track", "E", "u", None, NOW, None, None, NOW, (), b'{"type":"track"}'
    )


def test_concurrent_writes_share_commits_and_each_gets_its_result(store: Store) -> None:
    futures: list[Future[WriteResult]] = [
        store.write_events([row(f"m{i}"), row(f"n{i}")]) for i in range(300)
    ]
    results = [f.result(timeout=30) for f in futures]
    assert all(r.stored == 2 and r.duplicates == 0 for r in results)
    assert store.events.count() == 600
    # 300 requests queued at once must not take 300 commits.
    assert store.writer.groups_committed < 300


def test_duplicates_within_and_across_groups_are_stored_once(store: Store) -> None:
    first = store.write_events([row("a"), row("a"), row("b")]).result()
    assert (first.stored, first.duplicates) == (2, 1)
    second = store.write_events([row("a"), row("c"), row("a", source="other")]).result()
    assert (second.stored, second.duplicates) == (2, 1)
    assert store.events.count() == 4


def test_a_group_with_a_message_stored_before_stores_and_resolves_the_rest(store: Store) -> None:
    """The plain insert is refused by the key; the group is written again, skipping it."""

    def known(message_id: str) -> EventRow:
        return replace(row(message_id), payload=b'{"type":"track","userId":"u"}')

    store.write_events([known("a")]).result()
    again = store.write_events([known("a"), known("c")]).result()
    assert (again.stored, again.duplicates) == (1, 1)
    store.write_events([known("d")]).result()  # and the writer goes on
    with store.reader() as con:
        stored = con.execute(
            """SELECT e.message_id, p.profile_id FROM __kenning_events e
               LEFT JOIN __kenning_event_profiles p USING (seq) ORDER BY e.seq"""
        ).fetchall()
    assert [m for m, _ in stored] == ["a", "c", "d"]
    assert all(profile is not None for _, profile in stored)  # stitched, as any group is


def test_quarantine_rows_get_ids(store: Store) -> None:
    q = QuarantineRow("src", NOW, "missing_identity", "no id", "userId", "{}")
    result = store.write_events([], [q, q]).result()
    assert result.quarantined == 2
    assert [i.id for i in store.quarantine.list()] == list(result.quarantine_ids)


def test_a_failed_transaction_fails_its_requests_and_keeps_nothing(store: Store) -> None:
    def boom(con: duckdb.DuckDBPyConnection) -> None:
        raise RuntimeError("disk on fire")

    future = store.write_events([row("x")], also=boom)
    with pytest.raises(RuntimeError):
        future.result()
    assert store.events.count() == 0
    assert store.write_events([row("y")]).result().stored == 1


def test_events_survive_reopening_and_seq_continues(tmp_path: Path) -> None:
    path = tmp_path / "k.duckdb"
    with Store.open(path) as store:
        store.write_events([row("a"), row("b")]).result()
    with Store.open(path) as store:
        store.write_events([row("c")]).result()
        with store.reader() as con:
            seqs = [
                r[0]
                for r in con.execute("SELECT seq FROM __kenning_events ORDER BY seq").fetchall()
            ]
    assert seqs == [1, 2, 3]


def test_a_second_process_cannot_open_a_store_in_use(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "k.duckdb"
    with Store.open(path):
        code = (
            "import sys, pathlib\nfrom kenning.store.store import Store, StoreLocked\n"
            f"try:\n    Store.open(pathlib.Path({str(path)!r}))\n"
            "except StoreLocked:\n    sys.exit(3)\n"
        )
        assert subprocess.run([sys.executable, "-c", code]).returncode == 3
    assert StoreLocked.__name__ == "StoreLocked"


def test_a_failed_job_that_changes_the_stages_reloads_them_before_the_next_group(
    store: Store,
) -> None:
    from kenning.identity.identifiers import Identifier

    def tracked(message_id: str) -> EventRow:
        payload = b'{"type":"track","event":"E","userId":"u"}'
        return EventRow(
            "src", message_id, "track", "E", "u", None, NOW, None, None, NOW, (), payload
        )

    store.write_events([tracked("a")]).result()
    user = Identifier("user_id", "u")
    profile = store.identity.graph.profile_for(user)
    assert profile is not None

    def forget_then_fail(con: duckdb.DuckDBPyConnection) -> None:
        store.identity.reset()  # as a rebuild does before replaying the log
        raise RuntimeError("replay failed")

    with pytest.raises(RuntimeError):
        store.writer.run(forget_then_fail, changes_stages=True).result()
    store.write_events([tracked("b")]).result()
    # Stitched against the graph the store holds, not the one the failed job left in memory.
    assert store.identity.graph.profile_for(user) == profile
    with store.reader() as con:
        assert con.execute(
            "SELECT count(DISTINCT profile_id) FROM kenning_identifiers"
        ).fetchone() == (1,)


def test_the_idle_checkpoint_waits_for_a_write_beside_the_writer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The computed traits' catch-up writes on a connection of its own, holding the writer's
    ``exclusive`` lock. DuckDB refuses a checkpoint while that transaction is open, so the
    idle checkpoint waits for the lock and folds the log in once it is free."""
    path = tmp_path / "k.duckdb"
    wal = path.with_name(path.name + ".wal")
    with Store.open(path, stitch=False) as store:
        store.writer._idle_checkpoint = 0.05
        with store.writer.exclusive, store.reader() as beside:
            beside.begin()
            beside.execute("UPDATE __kenning_profile_ids SET highest = highest")
            store.write_events([row("a")]).result()
            time.sleep(0.5)  # ten idle intervals: each would have tried the checkpoint
            assert wal.stat().st_size > 0, "nothing folded in while the write is open"
            beside.commit()
        deadline = time.monotonic() + 10
        while wal.exists() and wal.stat().st_size > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not wal.exists() or wal.stat().st_size == 0, "checkpointed once it was free"
    assert "idle checkpoint failed" not in caplog.text


def test_an_event_row_pickles_to_the_same_row_with_its_message() -> None:
    """Rows cross back from the ingest workers pickled (ingest/workers.py)."""
    row = EventRow(
        source_id="src",
        message_id="m1",
        type="identify",
        event=None,
        user_id="u1",
        anonymous_id="a1",
        timestamp=datetime(2026, 1, 2, tzinfo=UTC),
        original_timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        sent_at=None,
        received_at=datetime(2026, 1, 3, tzinfo=UTC),
        flags=("future_timestamp",),
        payload=b'{"type":"identify"}',
        other_identifiers=True,
        message={"type": "identify"},
    )
    copy = pickle.loads(pickle.dumps(row))
    assert copy == row
    assert copy.message == {"type": "identify"}  # not compared by ==
    assert copy.other_identifiers is True
