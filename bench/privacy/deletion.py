"""Deletion: ``DELETE`` requests one after another, a verification scan, and the reference.

``delete_people``: for each person, a ``DELETE`` naming their email, timed from sending to the
status no longer ``running`` (polled). Meanwhile a trickle of batches (one event naming
nobody, TRICKLE_PAUSE apart, each sent when the last is answered) times how long ingest waits
for the deletion's writer job. ``verify_seconds``: ``POST /v1/privacy/verify`` with every
identifier a deleted person held. ``reference_scan``: one pass over every payload of the log
looking for a text, the least any deletion that must find a person's identifiers in other
people's events costs.
"""

import os
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from bench.privacy.client import PrivacyApi
from bench.privacy.people import Person, free_message
from kenning.privacy.traces import mentions, needles_of

REFERENCE_SQL = """SELECT count(*) FROM __kenning_events
                   WHERE contains(lower(payload), 'nobody@example.com')"""
REFERENCE_RUNS = 3
# One run: a scan of every column of a large store takes minutes, and the deletions before it
# have read the same data.
VERIFY_RUNS = 1
# Ten batches a second at most: enough to see ingest wait, too few to slow the deletion.
TRICKLE_PAUSE = 0.1


@dataclass(frozen=True)
class Sent:
    at: float  # perf_counter when sent
    seconds: float  # to its answer


@contextmanager
def trickle(api: PrivacyApi) -> Iterator[list[Sent]]:
    """Batches of one event, one at a time, until the block ends; the list fills as they are
    answered."""
    sent: list[Sent] = []
    stop = threading.Event()

    def send() -> None:
        with api.new_collector() as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.post("/v1/batch", json={"batch": [free_message()]}).raise_for_status()
                sent.append(Sent(started, time.perf_counter() - started))
                stop.wait(TRICKLE_PAUSE)

    thread = threading.Thread(target=send, name="bench-privacy-trickle", daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class Deletion:
    person: Person
    seconds: float  # from sending the request to its status finished, as polled
    status: dict[str, Any]  # the finished request, with its receipt
    batches: list[float]  # seconds to the answer of each trickled batch sent meanwhile
    load: float  # the machine's load average (1 minute) as it finished

    @property
    def receipt(self) -> dict[str, Any]:
        receipt: dict[str, Any] = self.status["receipt"]
        return receipt


def delete_people(api: PrivacyApi, people: Sequence[Person]) -> list[Deletion]:
    deletions: list[Deletion] = []
    with trickle(api) as sent:
        for person in people:
            started = time.perf_counter()
            asked = api.regulation("DELETE", [person.first("email")])
            status = api.finished(asked["id"])
            ended = time.perf_counter()
            # A batch still unanswered has waited at least this long.
            waiting = [ended - s.at for s in sent[-1:] if s.at + s.seconds > ended]
            meanwhile = [s.seconds for s in sent if started <= s.at <= ended] + waiting
            load = os.getloadavg()[0]
            deletions.append(Deletion(person, ended - started, status, meanwhile, load))
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
    needles_seconds: float  # the same scan with a deletion's condition over all of them


def reference_scan(path: Path, person: Person) -> Reference:
    """REFERENCE_SQL on the store (no server may hold it), DuckDB at its defaults as the
    server's; and the same scan with the condition a deletion of ``person`` puts on payloads
    (``traces.mentions`` over their needles)."""
    needles = needles_of({i.partition(":")[2] for i in person.identifiers})
    condition, parameters = mentions("payload", needles)
    con = duckdb.connect(str(path), read_only=True)
    try:
        one = _median_seconds(con, REFERENCE_SQL, [])
        every = _median_seconds(
            con, f"SELECT count(*) FROM __kenning_events WHERE {condition}", parameters
        )
    finally:
        con.close()
    return Reference(one, len(needles), every)


def _median_seconds(con: duckdb.DuckDBPyConnection, sql: str, parameters: list[object]) -> float:
    times: list[float] = []
    for _ in range(REFERENCE_RUNS):
        started = time.perf_counter()
        con.execute(sql, parameters).fetchall()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
