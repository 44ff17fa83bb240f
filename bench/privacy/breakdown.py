"""Where a deletion's time goes: a ``DELETE`` regulation run in this process, on the store the
server left, with each of its steps and statements timed.

The receipt gives one figure, the writer's part. Here ``Regulations.run`` deletes a person as
the server does (``Regulations._delete``: ``find`` on a reader while ingest goes on, ``erase``
in a writer job while ingest waits, ``find_traces`` on a reader after the commit), with those
three wrapped where ``regulations.py`` finds them: each is timed as a whole, and is handed a
connection that times every statement, labelled by what it does and the tables it names. The
wrappers live only in this process; nothing of Kenning is changed.
"""

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from kenning.privacy import regulations
from kenning.privacy.erasure import parse_identifier
from kenning.store.store import Store

STEPS = {
    "find": "find them (a reader; ingest goes on)",
    "erase": "erase them (the writer; ingest waits)",
    "find_traces": "look for what is left (a reader, after the commit)",
}
_TABLE = re.compile(r'\b(?:FROM|JOIN|INTO|TABLE)\s+"?([\w.]+)"?', re.IGNORECASE)
_VERB = re.compile(r"\s*(DELETE|CREATE|INSERT|DROP|UPDATE|SELECT|WITH)", re.IGNORECASE)


def _label(sql: str) -> str:
    """``DELETE __kenning_events``, ``SELECT __kenning_event_profiles, __kenning_events``."""
    verb = _VERB.match(sql)
    tables = dict.fromkeys(t for t in _TABLE.findall(sql) if not t.startswith("__kenning_erased"))
    return f"{verb.group(1).upper() if verb else 'other'} {', '.join(tables)}".strip()


@dataclass
class Timings:
    steps: dict[str, float] = field(default_factory=dict)
    statements: dict[tuple[str, str], float] = field(default_factory=dict)  # (step, label)
    step: str = ""

    @contextmanager
    def timing_step(self, name: str) -> Iterator[None]:
        self.step = name
        started = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - started

    @contextmanager
    def timing_statement(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            key = (self.step, label)
            self.statements[key] = self.statements.get(key, 0.0) + time.perf_counter() - started


class _TimedResult:
    """The connection after ``execute``: fetching is timed with the statement."""

    def __init__(self, con: duckdb.DuckDBPyConnection, timings: Timings, label: str) -> None:
        self._con, self._timings, self._label = con, timings, label

    def fetchall(self) -> list[Any]:
        with self._timings.timing_statement(self._label):
            return self._con.fetchall()

    def fetchone(self) -> Any:
        with self._timings.timing_statement(self._label):
            return self._con.fetchone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class TimedConnection:
    """A DuckDB connection whose ``execute`` and ``executemany`` add their time to ``timings``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, timings: Timings) -> None:
        self._con, self._timings = con, timings

    def execute(self, sql: str, parameters: object = None) -> _TimedResult:
        label = _label(sql)
        with self._timings.timing_statement(label):
            self._con.execute(sql, parameters)
        return _TimedResult(self._con, self._timings, label)

    def executemany(self, sql: str, parameters: object = None) -> "TimedConnection":
        with self._timings.timing_statement(_label(sql)):
            self._con.executemany(sql, parameters)
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@dataclass(frozen=True)
class Breakdown:
    open_seconds: float  # Store.open: what a server's start-up loads
    seconds: float  # the regulation, from request to finished
    steps: dict[str, float]  # STEPS' names
    statements: dict[tuple[str, str], float]  # (step, label), largest first
    status: dict[str, Any]  # the finished regulation, with its receipt


def _timed_step(timings: Timings, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(con: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
        with timings.timing_step(name):
            return fn(TimedConnection(con, timings), *args, **kwargs)

    return run


def erase_breakdown(path: Path, identifier: str) -> Breakdown:
    """Delete the person ``identifier`` names from the store at ``path`` (no server may hold
    it) as a ``DELETE`` regulation, each step and statement timed."""
    timings = Timings()
    started = time.perf_counter()
    store = Store.open(path)
    opened = time.perf_counter() - started
    saved = {name: getattr(regulations, name) for name in STEPS}
    for name, fn in saved.items():
        setattr(regulations, name, _timed_step(timings, name, fn))
    try:
        requests = regulations.Regulations(store, lambda: [])
        person = [parse_identifier(identifier, store)]
        started = time.perf_counter()
        status = requests.run(regulations.DELETE, person, "bench-privacy")
        seconds = time.perf_counter() - started
    finally:
        for name, fn in saved.items():
            setattr(regulations, name, fn)
        store.close()
    statements = dict(sorted(timings.statements.items(), key=lambda item: -item[1]))
    return Breakdown(opened, seconds, timings.steps, statements, status)
