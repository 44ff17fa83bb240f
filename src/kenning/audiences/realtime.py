"""The audience evaluator: a thread beside the writer that decides who enters and leaves.

After each commit that changed people (``AudienceStage.committed``) it reads their state on a
reader, evaluates every audience for them in Python and records the changes as a writer job:
an entry or exit is recorded within a few tens of milliseconds of the event's commit, and
reading happens off the writer thread, so ingest does not wait for it. Conditions that change
as time passes (windows, relative dates) and whatever a recompute or a rebuild changed are
caught by a batch evaluation in SQL, at start, every ``batch_minutes`` and on demand.

A batch reads at one moment and is applied later; the people changed in between are left to
real time (``AudienceStage.pending``), which evaluates them right after, so a batch never undoes
what real time has just decided. A crash between a commit and its evaluation loses nothing
that matters: membership is derived, and the batch at the next start finds what was missed.
"""

import logging
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kenning.audiences.membership import (
    Change,
    Recorded,
    apply_batch,
    apply_changes,
    evaluate_all,
)
from kenning.audiences.membership import evaluate_people as evaluate_people_now
from kenning.audiences.stage import AudienceStage

if TYPE_CHECKING:  # the store runs the evaluator
    from kenning.store.store import Store

log = logging.getLogger(__name__)


class AudienceEvaluator:
    def __init__(self, store: "Store", stage: AudienceStage, *, batch_minutes: float) -> None:
        self._store = store
        self._stage = stage
        self._batch_seconds = batch_minutes * 60
        self._next_batch = 0.0  # at start
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one evaluation at a time (the thread, or a caller)
        self._thread: threading.Thread | None = None
        self.evaluations = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kenning-audiences", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._stage.changed.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = max(0.0, self._next_batch - time.monotonic())
            self._stage.changed.wait(timeout=min(wait, 1.0))
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except Exception:
                log.exception("audience evaluation failed; retried in 5 s")
                self._stop.wait(5)

    def run_once(self) -> None:
        """Evaluate who changed, or everyone when a batch is due or wanted."""
        with self._lock:
            touched, everyone = self._stage.take()
            try:
                if everyone or time.monotonic() >= self._next_batch:
                    self._batch()
                    everyone = False
                    # People changed while the batch read were left out of it; a batch
                    # wanted meanwhile (an audience declared) may not have seen the change.
                    later, wanted_again = self._stage.take()
                    touched |= later
                    if wanted_again:
                        self._stage.put_back(set(), True)
                if touched:
                    self._people(touched)
            except BaseException:
                self._stage.put_back(touched, everyone)  # not lost: tried again
                raise
            self.evaluations += 1

    def evaluate_everyone(self) -> Recorded:
        """A batch evaluation now (the API's and the CLI's ``evaluate``)."""
        with self._lock:
            self._next_batch = time.monotonic() + self._batch_seconds
            return batch_evaluate(self._store, self._stage)

    def _people(self, touched: set[int]) -> list[Change]:
        audiences = list(self._stage.audiences)
        definitions = list(self._store.computed.definitions.values())
        at = datetime.now(UTC)
        with self._store.reader() as con:
            changes = evaluate_people_now(con, touched, audiences, definitions, at)
        if not changes:
            return []
        return self._store.writer.run(
            lambda con: apply_changes(con, changes, at, "realtime", self._stage.listeners)
        ).result()

    def _batch(self) -> Recorded | None:
        self._next_batch = time.monotonic() + self._batch_seconds
        if not self._stage.audiences:
            return None
        return batch_evaluate(self._store, self._stage)


def batch_evaluate(store: "Store", stage: AudienceStage) -> Recorded:
    """Evaluate every audience for everyone in SQL and record the changes."""
    chosen = list(stage.audiences)
    # Every event committed so far in the tallies the batch reads: people changed after
    # this are pending for real time (``skip``), which reads their events not tallied.
    store.tallies.now()
    at = datetime.now(UTC)
    started = time.perf_counter()
    with store.reader() as con:
        members = evaluate_all(con, chosen, store.computed.definitions, at)
    names = [a.name for a in chosen]
    changes = store.writer.run(
        lambda con: apply_batch(
            con,
            members,
            names,
            at,
            skip=stage.pending(),
            listeners=stage.listeners,
            watched=stage.watched(),
        )
    ).result()
    log.info(
        "evaluated %d audience(s) in %.1f s: %d change(s)",
        len(names),
        time.perf_counter() - started,
        len(changes),
    )
    return changes
