"""Suppression: how soon a ``SUPPRESS`` request is in force, and what a list costs ingest.

``probe_suppressions``: for each person, a ``GET /health`` round trip (the reference: what any
request costs), then the ``SUPPRESS`` request naming one of their identifiers, timed from
sending to the answer (the suppression is in force when it answers), then at once a batch of
two messages, one carrying that identifier and one naming nobody: refused as it should be when
exactly one is suppressed.

``ingest_cost``: the ingest benchmark's load (wrk, batches of 100 of its own users, none of
them suppressed) with an empty suppression list and with ``SUPPRESSED`` identifiers of the
store's people on it, alternated: the list is lifted (``UNSUPPRESS``) between pairs. An empty
list costs nothing (``Suppressions.admit`` returns at once); a non-empty one costs every
event its identifiers and a hash each, whoever it names.
"""

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bench.ingest.run import Figures, ensure_wrk, wrk
from bench.privacy.client import PrivacyApi
from bench.privacy.people import PROBE_TYPES, Person, free_message, message_carrying

SUPPRESSED = int(os.environ.get("KENNING_BENCH_PRIVACY_SUPPRESSED", "10000"))
INGEST_SECONDS = int(os.environ.get("KENNING_BENCH_PRIVACY_SECONDS", "15"))
INGEST_PAIRS = 2
# The ingest benchmark's batch scenario: its wrk script cycles over 50,000 users of its own,
# and a warm-up long enough to meet them all leaves no new profile to the measured runs.
EVENTS_PER_REQUEST = 100
CONNECTIONS = 16
WARMUP_SECONDS = 10
# A regulation request names at most 1,000 identifiers (privacy/regulations.py).
IDENTIFIERS_PER_REQUEST = 1_000


@dataclass(frozen=True)
class Probe:
    identifier_type: str
    health_seconds: float
    suppress_seconds: float  # from sending the request to its answer: in force from then
    next_batch_seconds: float
    refused: bool  # the next batch: the person's message suppressed, the other one stored
    listed: int  # identifiers the request put on the list (all the person holds)


def probe_suppressions(api: PrivacyApi, people: Sequence[Person]) -> list[Probe]:
    probes: list[Probe] = []
    for turn, person in enumerate(people):
        identifier = person.first(PROBE_TYPES[turn % len(PROBE_TYPES)])
        started = time.perf_counter()
        api.health()
        health = time.perf_counter() - started
        started = time.perf_counter()
        status = api.regulation("SUPPRESS", [identifier])
        suppressed = time.perf_counter() - started
        if status["status"] != "finished":
            raise RuntimeError(f"a SUPPRESS answered {status}")
        started = time.perf_counter()
        answer = api.batch([message_carrying(identifier), free_message()])
        next_batch = time.perf_counter() - started
        probes.append(
            Probe(
                identifier.partition(":")[0],
                health,
                suppressed,
                next_batch,
                answer["suppressed"] == 1 and answer["accepted"] == 2 and not answer["rejected"],
                int(status["receipt"]["suppressed"]),
            )
        )
    return probes


@dataclass(frozen=True)
class IngestRun:
    suppressed: int  # identifiers on the list during the run
    figures: Figures

    @property
    def events_per_second(self) -> float:
        return self.figures.events_per_second(EVENTS_PER_REQUEST)


@dataclass(frozen=True)
class SuppressionList:
    people: int
    identifiers: int
    requests: int
    seconds: float  # to suppress them all, request after request


def _requests(people: Sequence[Person]) -> Iterator[list[str]]:
    chunk: list[str] = []
    for person in people:
        if len(chunk) + len(person.identifiers) > IDENTIFIERS_PER_REQUEST:
            yield chunk
            chunk = []
        chunk += person.identifiers
    if chunk:
        yield chunk


def list_people(people: Sequence[Person]) -> list[Person]:
    """The first of ``people`` holding ``SUPPRESSED`` identifiers between them."""
    taken: list[Person] = []
    held = 0
    for person in people:
        if held >= SUPPRESSED:
            break
        taken.append(person)
        held += len(person.identifiers)
    return taken


def suppress_all(api: PrivacyApi, people: Sequence[Person]) -> SuppressionList:
    started = time.perf_counter()
    chunks = list(_requests(people))
    added = sum(int(api.regulation("SUPPRESS", chunk)["receipt"]["suppressed"]) for chunk in chunks)
    return SuppressionList(len(people), added, len(chunks), time.perf_counter() - started)


def unsuppress_all(api: PrivacyApi, people: Sequence[Person], expected: int) -> None:
    lifted = sum(
        int(api.regulation("UNSUPPRESS", chunk)["receipt"]["unsuppressed"])
        for chunk in _requests(people)
    )
    if lifted != expected:
        raise RuntimeError(f"lifted {lifted} suppressions of {expected}: the list is not empty")


def ingest_cost(
    api: PrivacyApi, people: Sequence[Person]
) -> tuple[list[IngestRun], SuppressionList]:
    """Ingest runs alternating an empty list and ``people``'s identifiers suppressed."""
    binary = ensure_wrk()

    def run(seconds: int) -> Figures:
        return wrk(
            binary,
            api.base + "/v1/batch",
            api.basic_auth,
            EVENTS_PER_REQUEST,
            CONNECTIONS,
            seconds,
        )

    run(WARMUP_SECONDS)
    runs: list[IngestRun] = []
    listed = SuppressionList(0, 0, 0, 0.0)
    for _ in range(INGEST_PAIRS):
        time.sleep(2)
        runs.append(IngestRun(0, run(INGEST_SECONDS)))
        listed = suppress_all(api, people)
        time.sleep(2)
        runs.append(IngestRun(listed.identifiers, run(INGEST_SECONDS)))
        unsuppress_all(api, people, listed.identifiers)
    return runs, listed
