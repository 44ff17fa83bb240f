"""Deletion: ``DELETE`` requests one after another, a verification scan, and the reference.

``delete_people``: for each person, a ``DELETE`` naming their email, timed from sending to the
status no longer ``running`` (polled); right after the request is answered, a batch of one
event naming nobody is sent, to time how long ingest waits (a deletion is one writer
transaction). ``verify_seconds``: ``POST /v1/privacy/verify`` with every identifier a deleted
person held. ``reference_scan``: one pass over every payload of the log looking for a text,
the least any deletion that must find a person's identifiers in other people's events costs.
"""

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from bench.privacy.client import PrivacyApi
from bench.privacy.people import Person, free_message
from kenning.privacy.traces import needles_of

REFERENCE_SQL = """SELECT count(*) FROM __kenning_events
                   WHERE contains(lower(payload), 'nobody@example.com')"""
REFERENCE_RUNS = 3
# One run: a scan of every column of a large store takes minutes, and the deletions before it
# have read the same data.
VERIFY_RUNS = 1


@dataclass(frozen=True)
class Deletion:
    person: Person
    seconds: float  # from sending the request to its status finished, as polled
    status: dict[str, Any]  # the finished request, with its receipt
    batch_waited: float  # a batch sent as the deletion started: seconds to its answer

    @property
    def receipt(self) -> dict[str, Any]:
        receipt: dict[str, Any] = self.status["receipt"]
        return receipt


def delete_people(api: PrivacyApi, people: Sequence[Person]) -> list[Deletion]:
    deletions: list[Deletion] = []
    for person in people:
        started = time.perf_counter()
        asked = api.regulation("DELETE", [person.first("email")])
        sent = time.perf_counter()
        api.batch([free_message()])
        waited = time.perf_counter() - sent
        status = api.finished(asked["id"])
        deletions.append(Deletion(person, time.perf_counter() - started, status, waited))
        if status["status"] != "finished":
            raise RuntimeError(f"a deletion ended {status['status']}: {status['receipt']}")
    return deletions


@dataclass(frozen=True)
class Verification:
    seconds: float  # median of VERIFY_RUNS
    identifiers: int
    clean: bool


def verify_seconds(api: PrivacyApi, person: Person) -> Verification:
    times: list[float] = []
    answer: dict[str, Any] = {}
    for _ in range(VERIFY_RUNS):
        started = time.perf_counter()
        answer = api.verify(person.identifiers)
        times.append(time.perf_counter() - started)
    return Verification(statistics.median(times), len(person.identifiers), bool(answer["clean"]))


@dataclass(frozen=True)
class Reference:
    seconds: float  # REFERENCE_SQL, median of REFERENCE_RUNS
    needles: int  # the texts a deletion of the first person looks for (traces.needles_of)
    needles_seconds: float  # the same scan with erase's condition over all of them


def reference_scan(path: Path, person: Person) -> Reference:
    """REFERENCE_SQL on the store (no server may hold it), DuckDB at its defaults as the
    server's; and the same scan with the condition ``erase`` puts on payloads for ``person``
    (one ``contains(lower(payload), …)`` per needle), to show what each text adds."""
    needles = [n.lower() for n in needles_of({i.partition(":")[2] for i in person.identifiers})]
    condition = " OR ".join("contains(lower(payload), ?)" for _ in needles)
    con = duckdb.connect(str(path), read_only=True)
    try:
        one = _median_seconds(con, REFERENCE_SQL, [])
        every = _median_seconds(
            con, f"SELECT count(*) FROM __kenning_events WHERE {condition}", needles
        )
    finally:
        con.close()
    return Reference(one, len(needles), every)


def _median_seconds(con: duckdb.DuckDBPyConnection, sql: str, parameters: list[str]) -> float:
    times: list[float] = []
    for _ in range(REFERENCE_RUNS):
        started = time.perf_counter()
        con.execute(sql, parameters).fetchall()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
