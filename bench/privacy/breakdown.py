"""Where a deletion's time goes: the same ``erase`` as a ``DELETE`` request runs, in this
process on the store the server left, with each of its steps timed.

The receipt gives a deletion's seconds as one figure. Here ``erase`` is handed a connection
that times every statement (labelled by what it does: ``DELETE FROM <table>``, ``CREATE …
<temp table>``), and the steps that run many statements (reloading each in-memory stage,
finding the person, looking for what is left) are timed as a whole, by wrapping them where
``erase`` finds them. Nothing of Kenning is changed; the wrappers live only in this process.
"""

import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import duckdb

from kenning.privacy import erasure
from kenning.store.store import Store

_STATEMENT = re.compile(
    r"(DELETE FROM \S+|CREATE OR REPLACE TEMP TABLE \S+|INSERT INTO \S+|DROP TABLE IF EXISTS|"
    r"SELECT|CREATE|UPDATE)",
    re.IGNORECASE,
)


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)
    step: str | None = None  # the step running: its statements are its time, not their own

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] = self.seconds.get(label, 0.0) + seconds

    @contextmanager
    def timing(self, label: str) -> Iterator[None]:
        outer, self.step = self.step, label
        started = time.perf_counter()
        try:
            yield
        finally:
            self.step = outer
            if outer is None:
                self.add(label, time.perf_counter() - started)

    def statement(self, sql: str) -> AbstractContextManager[None]:
        return self.timing(_label(sql))


def _label(sql: str) -> str:
    found = _STATEMENT.match(" ".join(sql.split()))
    return found.group(1) if found else "other"


class _TimedResult:
    """The connection after ``execute``: fetching is timed with the statement."""

    def __init__(self, con: duckdb.DuckDBPyConnection, timings: Timings, label: str) -> None:
        self._con, self._timings, self._label = con, timings, label

    def fetchall(self) -> list[Any]:
        with self._timings.timing(self._label):
            return self._con.fetchall()

    def fetchone(self) -> Any:
        with self._timings.timing(self._label):
            return self._con.fetchone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class TimedConnection:
    """A DuckDB connection whose ``execute`` and ``executemany`` add their time to ``timings``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, timings: Timings) -> None:
        self._con, self._timings = con, timings

    def execute(self, sql: str, parameters: object = None) -> _TimedResult:
        with self._timings.statement(sql):
            self._con.execute(sql, parameters)
        return _TimedResult(self._con, self._timings, _label(sql))

    def executemany(self, sql: str, parameters: object = None) -> "TimedConnection":
        with self._timings.statement(sql):
            self._con.executemany(sql, parameters)
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@dataclass(frozen=True)
class Breakdown:
    open_seconds: float  # Store.open: what a server's start-up loads
    seconds: float  # erase, end to end
    steps: dict[str, float]  # by time, largest first
    receipt: dict[str, Any]


def _timed(timings: Timings, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        with timings.timing(label):
            return fn(*args, **kwargs)

    return run


def erase_breakdown(path: Path, identifier: str) -> Breakdown:
    """Delete the person ``identifier`` names from the store at ``path`` (no server may hold
    it), each step of ``erase`` timed."""
    timings = Timings()
    started = time.perf_counter()
    store = Store.open(path)
    opened = time.perf_counter() - started
    saved = {name: getattr(erasure, name) for name in ("find_person", "find_traces")}
    erasure.find_person = _timed(timings, "find the person (graph, redirects)", erasure.find_person)
    erasure.find_traces = _timed(
        timings, "look for what is left (find_traces, as verify)", erasure.find_traces
    )
    stages = {
        "reload the identity graph": store.identity,
        "reload real-time matching": store.matching,
        "reload the documents stage": store.documents,
    }
    for label, stage in stages.items():
        stage.load = _timed(timings, label, stage.load)  # type: ignore[method-assign]
    try:
        parsed = erasure.parse_identifier(identifier, store)

        def erase(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
            timed = cast(duckdb.DuckDBPyConnection, TimedConnection(con, timings))
            return erasure.erase(timed, store, [parsed], [])

        started = time.perf_counter()
        receipt = store.writer.run(erase, changes_stages=True).result()
        seconds = time.perf_counter() - started
    finally:
        for name, fn in saved.items():
            setattr(erasure, name, fn)
        for stage in stages.values():
            del stage.load  # type: ignore[misc]
        store.close()
    steps = dict(sorted(timings.seconds.items(), key=lambda item: -item[1]))
    return Breakdown(opened, seconds, steps, receipt)
