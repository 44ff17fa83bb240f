"""The computed traits' catch-up: a thread beside the writer that tallies, in SQL, the events
committed since the watermark (``__kenning_trait_watermark``).

Why not on ingest: tallying each event in Python inside the group's transaction cost a quarter
to two fifths of ingest throughput (bench/RESULTS.md, computed-traits), all of it holding the
GIL on the one core the server's Python can use. The catch-up reads the new events once, in
DuckDB, on its own connection and mostly on the other core, and an acknowledgement waits for
none of it.

Nothing reads a stale value because of it: a profile read adds, in Python, the events of the
person after the watermark it sees (``rows.py``, ``read.py``), and what reads the tallies of
everyone in SQL (audience batches and previews, coverage) catches up first (``now``).

The catch-up and the writer's jobs exclude each other (``Writer.exclusive``): a job that
replaces tallies (a recompute, a rebuild's, a definition's sync) catches up inside its own
transaction first, so no event after the watermark is counted twice; and no catch-up may tally
against the state a job is changing (an erasure deleting a person's events and tallies would
otherwise see them come back). Compaction (``stage.compact``) is done here too, off the
writer.
"""

import contextlib
import logging
import threading
from typing import TYPE_CHECKING

import duckdb

from kenning.profiles.computed.stage import ComputedTraitStage

if TYPE_CHECKING:  # the store runs the catch-up
    from kenning.store.store import Store

log = logging.getLogger(__name__)

# At most one catch-up this often under continuous ingest. Each has a fixed cost (its
# statements wait for the GIL the server's Python holds, and its commit), so the more events
# it takes at once, the less each costs: at 0.25 s, batched ingest lost 26% of its throughput
# to the catch-up, at 1 s 7% (bench/RESULTS.md, computed-traits). A read is never stale for
# it.
INTERVAL_SECONDS = 1.0
_RETRY_SECONDS = 5.0


class TallyCatchUp:
    def __init__(
        self, store: "Store", stage: ComputedTraitStage, *, interval: float = INTERVAL_SECONDS
    ) -> None:
        self._store = store
        self._stage = stage
        self._interval = interval
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._wanted.set()  # events stored while no catch-up ran (a crash, a bulk load)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="kenning-tallies", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (``now`` still catches up when called)."""
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def committed(self) -> None:
        """A writer commit listener: events may have come."""
        self._wanted.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            try:
                self.now()
            except Exception:
                log.exception("the computed traits' catch-up failed; retried in 5 s")
                self._stop.wait(_RETRY_SECONDS)
                self._wanted.set()
                continue
            # Events that come meanwhile wait for the next run.
            self._stop.wait(self._interval)

    @property
    def caught_up(self) -> bool:
        """Whether every event committed is in the stored tallies, as of the last catch-up:
        then a read need not look for events not tallied yet."""
        return self._stage.tallied_to >= self._store.writer.committed_seq

    def now(self) -> int:
        """Catch up now, from the caller's thread; returns the watermark."""
        if self.caught_up:
            return self._stage.tallied_to
        with self._store.writer.exclusive, self._store.reader() as con:
            con.begin()
            try:
                tallied_to = self._stage.catch_up(con)
                if self._stage.compaction_due:
                    self._stage.compact(con)
                con.commit()
            except BaseException:
                _rollback(con)
                raise
        self._stage.tallied_to = tallied_to
        self.runs += 1
        return tallied_to


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # a failed commit ended the transaction already
        con.rollback()
