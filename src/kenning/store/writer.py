"""The single writer: every write to the store goes through one thread, which commits in groups.

DuckDB allows one writing process, and one writer thread within it keeps transactions from
conflicting. Collection requests hand their events to the writer and wait; the writer takes
everything queued while the previous commit ran (up to ``max_group_events``), stores it in one
transaction and only then completes the requests' futures. Durability therefore costs one commit
per group, not one per event, and a 2xx is never sent before the commit.
"""

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol, TypeVar

import duckdb
import pyarrow as pa

from kenning.store.rows import append_rows

log = logging.getLogger(__name__)
T = TypeVar("T")


# Not frozen: one is built for every event received, and a frozen dataclass's constructor
# costs four times as much (2.4 µs against 0.6 for these fields). Nothing changes one once built.
# (Rows prepared in an ingest worker are built without their message: ``keep_message``.)
@dataclass(slots=True)
class EventRow:
    """One event as the log stores it."""

    source_id: str
    message_id: str
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    received_at: datetime
    flags: tuple[str, ...]
    payload: bytes
    # Whether the payload carries identifiers beyond user_id and anonymous_id
    # (identifiers.holds_other_identifiers); None: not known, a rebuild parses it.
    other_identifiers: bool | None = None
    # The parsed payload when the caller has it, so real-time stages need not parse it again.
    message: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def __reduce__(self) -> tuple[Callable[..., "EventRow"], tuple[object, ...]]:
        # Rows come back from the ingest workers pickled (ingest/workers.py): rebuilt by the
        # constructor, they unpickle in half the time of the dataclass's own state protocol,
        # in the server process, whose interpreter lock is the limit of batched ingest.
        return EventRow, tuple(getattr(self, name) for name in _EVENT_ROW_FIELDS)


_EVENT_ROW_FIELDS = tuple(f.name for f in fields(EventRow))


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """A message that could not be stored, with the reason; replayable once the cause is fixed."""

    source_id: str
    received_at: datetime
    code: str
    message: str
    field: str | None
    payload: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored: int
    duplicates: int
    quarantined: int
    quarantine_ids: tuple[int, ...] = ()
    # Dropped before the writer because they carry a suppressed identifier (privacy/).
    suppressed: int = 0


@dataclass(slots=True)
class _EventWrite:
    events: Sequence[EventRow]
    quarantine: Sequence[QuarantineRow]
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None
    future: "Future[WriteResult]" = field(default_factory=Future)


@dataclass(slots=True)
class _Job:
    run: Callable[[duckdb.DuckDBPyConnection], Any]
    changes_stages: bool = False
    future: "Future[Any]" = field(default_factory=Future)


class Stage(Protocol):
    """A step of the real-time path, run in the group's transaction on the newly stored events
    (identity stitching, then profiles, audiences, ... as they land)."""

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read the stage's in-memory state from the store (at start, and after a rollback)."""

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        """Process newly stored events, given with their seq, in log order."""


class IdleWork(Protocol):
    """Work the writer does when no write waits, a step per transaction (documents to build,
    ...), checking for writes between steps."""

    def due(self) -> float | None:
        """When (``time.monotonic()``) the next step is due; None if there is none."""

    def step(self, con: duckdb.DuckDBPyConnection) -> object:
        """Do one step, short enough that a write arriving meanwhile does not wait long."""


# After a failed idle step, none is tried for this long (a failure that repeats would
# otherwise take the writer's whole time).
_IDLE_BACKOFF_SECONDS = 60.0
_STOP = object()
_TIMESTAMP = pa.timestamp("us", tz="UTC")
# Up to this many events a group, the appender (measured against an Arrow table: 1.0 ms
# against 2.2 for one event, 1.7 against 2.8 for 64; slower from a few hundred).
_APPENDED_EVENTS = 256


class Writer:
    """Owns the write connection. Thread-safe: call ``write_events`` or ``run`` from anywhere."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        max_group_events: int = 2_000,
        linger_seconds: float = 0.0,
        idle_checkpoint_seconds: float = 2.0,
        idle_after_seconds: float = 0.2,
        stages: Sequence[Stage] = (),
        idle: Sequence[IdleWork] = (),
    ) -> None:
        self._con = con
        self._stages = tuple(stages)
        self._idle = tuple(idle)
        self._idle_paused_until = 0.0
        # Idle work waits until no write has come for this long: under sustained ingest the
        # queue empties for a moment between groups, and a step taken then delays the next.
        self._idle_after = idle_after_seconds
        self._last_write = 0.0
        for stage in self._stages:
            stage.load(con)
        self._max_group_events = max_group_events
        self._linger = linger_seconds
        self._idle_checkpoint = idle_checkpoint_seconds
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        row = con.execute("SELECT coalesce(max(seq), 0) FROM __kenning_events").fetchone()
        self._next_seq = (int(row[0]) if row else 0) + 1
        row = con.execute("SELECT coalesce(max(id), 0) FROM __kenning_quarantine").fetchone()
        self._next_quarantine_id = (int(row[0]) if row else 0) + 1
        self._dirty = False
        self.groups_committed = 0
        # The last log position committed: set before the writers of the group are answered.
        self.committed_seq = self._next_seq - 1
        # Held around every job and idle step, from its start to its commit: work done beside
        # the writer on a connection of its own (the computed traits' catch-up) takes it, so
        # that a job never races it over rows both write.
        self.exclusive = threading.Lock()
        # Called on the writer thread after each commit (of a group or a job): what a stage
        # noted in the transaction is now visible to readers.
        self.on_commit: list[Callable[[], object]] = []
        self._thread = threading.Thread(target=self._loop, name="kenning-writer", daemon=True)
        self._thread.start()

    def write_events(
        self,
        events: Sequence[EventRow],
        quarantine: Sequence[QuarantineRow] = (),
        *,
        also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> "Future[WriteResult]":
        """Queue events (and quarantined messages) for the next group commit.

        ``also`` runs in the same transaction, after the inserts (e.g. marking replayed
        quarantine rows), so both happen or neither does.
        """
        item = _EventWrite(events, quarantine, also)
        self._queue.put(item)
        return item.future

    def run(
        self, fn: Callable[[duckdb.DuckDBPyConnection], T], *, changes_stages: bool = False
    ) -> "Future[T]":
        """Run ``fn(connection)`` in its own transaction on the writer thread.

        ``changes_stages``: ``fn`` changes the stages' memory (a rebuild, a match run); if it
        fails, the stages are reloaded from the rolled-back store before the next group runs,
        so no event is stitched against a graph the store does not hold.
        """
        job = _Job(fn, changes_stages=changes_stages)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    # -- the writer thread -------------------------------------------------------------------

    def _loop(self) -> None:
        pending: object | None = None
        while True:
            if pending is not None:
                item, pending = pending, None
            else:
                item = self._next_item()
            if item is _STOP:
                return
            if isinstance(item, _Job):
                self._run_job(item)
                continue
            assert isinstance(item, _EventWrite)
            group = [item]
            size = len(item.events) + len(item.quarantine)
            deadline = time.monotonic() + self._linger
            while size < self._max_group_events:
                try:
                    wait = deadline - time.monotonic()
                    nxt = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(nxt, _EventWrite):
                    pending = nxt
                    break
                group.append(nxt)
                size += len(nxt.events) + len(nxt.quarantine)
            self._commit_group(group)

    def _next_item(self) -> object:
        """The next write or job; while none waits, the idle work that is due, and once
        everything is quiet a checkpoint."""
        quiet_since = time.monotonic()
        while True:
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                pass
            now = time.monotonic()
            work, due = self._idle_due()
            due = max(due, self._last_write + self._idle_after)
            if work is not None and due <= now:
                self._run_idle(work)
                quiet_since = time.monotonic()
                continue
            checkpoint_at = quiet_since + self._idle_checkpoint if self._dirty else None
            wake = min((t for t in (due, checkpoint_at) if t is not None), default=math.inf)
            try:
                return self._queue.get(timeout=None if wake == math.inf else max(0.0, wake - now))
            except queue.Empty:
                pass
            if checkpoint_at is not None and time.monotonic() >= checkpoint_at:
                # Idle: fold the WAL into the database file now rather than under load. Not
                # while a catch-up writes beside the writer (it holds ``exclusive``): DuckDB
                # refuses a checkpoint with another write transaction open. Then once it has
                # been quiet again.
                if not self.exclusive.acquire(blocking=False):
                    quiet_since = time.monotonic()
                    continue
                try:
                    self._con.execute("CHECKPOINT")
                except duckdb.Error:
                    log.exception("idle checkpoint failed")
                finally:
                    self.exclusive.release()
                self._dirty = False

    def _idle_due(self) -> tuple[IdleWork | None, float]:
        """The idle work due soonest, and when (monotonic); (None, inf) if none."""
        if time.monotonic() < self._idle_paused_until:
            return None, self._idle_paused_until
        soonest: tuple[IdleWork | None, float] = (None, math.inf)
        for work in self._idle:
            due = work.due()
            if due is not None and due < soonest[1]:
                soonest = (work, due)
        return soonest

    def _run_idle(self, work: IdleWork) -> None:
        try:
            with self.exclusive:
                self._con.begin()
                try:
                    work.step(self._con)
                    self._con.commit()
                except Exception:
                    self._rollback()
                    raise
        except Exception:
            log.exception("the writer's idle work failed; trying again in a minute")
            self._reload_stages()
            self._idle_paused_until = time.monotonic() + _IDLE_BACKOFF_SECONDS
        else:
            self._dirty = True

    def wake(self) -> None:
        """Look for idle work now (it was just made wanted)."""
        self._queue.put(_Job(lambda con: None))

    def _run_job(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            with self.exclusive:
                self._con.begin()
                try:
                    result = job.run(self._con)
                    self._con.commit()
                except BaseException:
                    self._rollback()
                    raise
        except BaseException as error:
            if job.changes_stages:
                self._reload_stages()
            job.future.set_exception(error)
        else:
            self._dirty = True
            self._committed()
            job.future.set_result(result)
        finally:
            self._last_write = time.monotonic()

    def _commit_group(self, group: list[_EventWrite]) -> None:
        # Within a group the first copy of a (source, messageId) wins; across groups the
        # primary key refuses the later copy.
        seen: set[tuple[str, str]] = set()
        rows: list[EventRow] = []
        for write in group:
            for row in write.events:
                key = (row.source_id, row.message_id)
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
        try:
            self._con.begin()
            inserted = self._insert_events(rows) if rows else {}
            if self._stages and inserted:
                fresh = sorted(
                    (
                        (inserted[(r.source_id, r.message_id)], r)
                        for r in rows
                        if (r.source_id, r.message_id) in inserted
                    ),
                    key=lambda pair: pair[0],
                )
                for stage in self._stages:
                    stage.apply(self._con, fresh)
            quarantine_ids = self._insert_quarantine(group)
            for write in group:
                if write.also is not None:
                    write.also(self._con)
            self._con.commit()
        except BaseException as error:
            self._rollback()
            self._reload_stages()
            for write in group:
                write.future.set_exception(error)
            return
        self._dirty = True
        self._last_write = time.monotonic()
        self.groups_committed += 1
        if inserted:
            self.committed_seq = max(self.committed_seq, *inserted.values())
        self._committed()
        for write, ids in zip(group, quarantine_ids, strict=True):
            stored = 0
            for row in write.events:
                key = (row.source_id, row.message_id)
                if key in inserted:
                    stored += 1
                    del inserted[key]  # a second copy in the same request is a duplicate
            write.future.set_result(
                WriteResult(stored, len(write.events) - stored, len(ids), tuple(ids))
            )

    def _committed(self) -> None:
        for listener in self.on_commit:
            try:
                listener()
            except Exception:  # a listener's failure must not fail a committed write
                log.exception("a commit listener failed")

    def _insert_events(self, rows: list[EventRow]) -> dict[tuple[str, str], int]:
        """Insert, skipping keys already stored; returns the stored ones with their seq. The
        first statement of the group's transaction (a refused insert aborts it)."""
        first_seq = self._next_seq
        self._next_seq += len(rows)
        # A plain insert first: the primary key refuses a message stored before (a client's
        # retry), and ON CONFLICT DO NOTHING, which skips it, costs DuckDB 3 ms more a
        # statement, most of a small group's insert; retries are rare. A few rows go through
        # the appender (1 ms a group less than an Arrow table), many as an Arrow table.
        try:
            if len(rows) <= _APPENDED_EVENTS:
                append_rows(
                    self._con,
                    "__kenning_events",
                    (
                        (
                            first_seq + i, r.source_id, r.message_id, r.type, r.event,
                            r.user_id, r.anonymous_id, r.timestamp, r.original_timestamp,
                            r.sent_at, r.received_at, list(r.flags), r.payload.decode(),
                            r.other_identifiers,
                        )
                        for i, r in enumerate(rows)
                    ),
                )  # fmt: skip
            else:
                self._con.register("__kenning_incoming", self._event_table(rows, first_seq))
                try:
                    self._con.execute(
                        "INSERT INTO __kenning_events SELECT * FROM __kenning_incoming"
                    )
                finally:
                    self._con.unregister("__kenning_incoming")
            return {(r.source_id, r.message_id): first_seq + i for i, r in enumerate(rows)}
        except duckdb.ConstraintException:
            # The refusal aborted the transaction, empty till then.
            self._con.rollback()
            self._con.begin()
        self._con.register("__kenning_incoming", self._event_table(rows, first_seq))
        try:
            returned = self._con.execute(
                "INSERT INTO __kenning_events SELECT * FROM __kenning_incoming "
                "ON CONFLICT DO NOTHING RETURNING source_id, message_id, seq"
            ).fetchall()
        finally:
            self._con.unregister("__kenning_incoming")
        return {(str(s), str(m)): int(q) for s, m, q in returned}

    @staticmethod
    def _event_table(rows: list[EventRow], first_seq: int) -> pa.Table:
        return pa.table(
            {
                "seq": pa.array(range(first_seq, first_seq + len(rows)), pa.int64()),
                "source_id": [r.source_id for r in rows],
                "message_id": [r.message_id for r in rows],
                "type": [r.type for r in rows],
                "event": pa.array([r.event for r in rows], pa.string()),
                "user_id": pa.array([r.user_id for r in rows], pa.string()),
                "anonymous_id": pa.array([r.anonymous_id for r in rows], pa.string()),
                "timestamp": pa.array([r.timestamp for r in rows], _TIMESTAMP),
                "original_timestamp": pa.array([r.original_timestamp for r in rows], _TIMESTAMP),
                "sent_at": pa.array([r.sent_at for r in rows], _TIMESTAMP),
                "received_at": pa.array([r.received_at for r in rows], _TIMESTAMP),
                "flags": pa.array([list(r.flags) for r in rows], pa.list_(pa.string())),
                "payload": pa.array([r.payload for r in rows], pa.binary()).cast(pa.string()),
                "other_identifiers": pa.array([r.other_identifiers for r in rows], pa.bool_()),
            }
        )

    def _insert_quarantine(self, group: list[_EventWrite]) -> list[list[int]]:
        ids: list[list[int]] = []
        for write in group:
            write_ids: list[int] = []
            for row in write.quarantine:
                quarantine_id = self._next_quarantine_id
                self._next_quarantine_id += 1
                self._con.execute(
                    "INSERT INTO __kenning_quarantine "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, NULL)",
                    [
                        quarantine_id,
                        row.source_id,
                        row.received_at,
                        row.code,
                        row.message,
                        row.field,
                        row.payload,
                    ],
                )
                write_ids.append(quarantine_id)
            ids.append(write_ids)
        return ids

    def _reload_stages(self) -> None:
        # The stages' memory may hold changes the rollback just undid.
        try:
            for stage in self._stages:
                stage.load(self._con)
        except duckdb.Error:
            log.exception("reloading the real-time stages failed")

    def _rollback(self) -> None:
        with contextlib.suppress(duckdb.Error):  # when no transaction was open
            self._con.rollback()
