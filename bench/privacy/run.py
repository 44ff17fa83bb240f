"""``python -m bench privacy``: suppression and deletion against a real server on the profiles
benchmark's store of a million people, written to RESULTS.md as ``privacy``.

Targets (the privacy issue): a suppression is effective at ingest within 1 s of the request
(Segment: usually within 24 h); a deletion completes in minutes (Segment: up to 30 days).

One run, on a copy of the store (``bench/profiles/store.py``, built once and kept under
``KENNING_BENCH_PROFILES_CACHE``), with ``kenning serve`` on it (``bench/profiles/server.py``):

1. ``suppression.probe_suppressions``: PROBES people suppressed one after another, each
   followed by a batch carrying their identifier; beside a ``GET /health`` round trip each.
   The probes' suppressions are lifted afterwards, so the list is empty again.
2. ``suppression.ingest_cost``: batch ingest throughput with an empty list and with SUPPRESSED
   identifiers on it, alternated.
3. ``deletion.delete_people``: DELETIONS people deleted one after another, then a verification
   scan; against one scan of the log's payloads, timed on the copy before the server opens it.
4. ``breakdown.erase_breakdown``: one more deletion, in this process once the server has
   stopped, each of its steps timed.

Knobs: ``KENNING_BENCH_PROFILES_PEOPLE`` (the store's size, default 1,000,000; 50000 for a
quick run) and ``KENNING_BENCH_PROFILES_CACHE`` as for the profiles benchmark;
``KENNING_BENCH_PRIVACY_PROBES`` (50), ``KENNING_BENCH_PRIVACY_SUPPRESSED`` (10000),
``KENNING_BENCH_PRIVACY_SECONDS`` (per ingest run, 15), ``KENNING_BENCH_PRIVACY_DELETIONS`` (5).
"""

import os
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.activation.run import machine_check
from bench.ingest.run import machine
from bench.privacy.breakdown import STEPS, Breakdown, erase_breakdown
from bench.privacy.client import PrivacyApi
from bench.privacy.deletion import (
    REFERENCE_RUNS,
    REFERENCE_SQL,
    VERIFY_RUNS,
    Deletion,
    Reference,
    Verification,
    delete_people,
    reference_scan,
    verify_seconds,
)
from bench.privacy.people import PROBE_TYPES, sample_people
from bench.privacy.suppression import (
    CONNECTIONS,
    EVENTS_PER_REQUEST,
    INGEST_SECONDS,
    SUPPRESSED,
    WARMUP_SECONDS,
    IngestRun,
    Probe,
    SuppressionList,
    ingest_cost,
    list_people,
    probe_suppressions,
    unsuppress_all,
)
from bench.profiles.run import serving, wait_for_documents
from bench.profiles.store import CACHE, BuiltStore, build_store, console, working_copy
from bench.results import write_section

PROBES = int(os.environ.get("KENNING_BENCH_PRIVACY_PROBES", "50"))
DELETIONS = int(os.environ.get("KENNING_BENCH_PRIVACY_DELETIONS", "5"))
TARGET_SUPPRESS_SECONDS = 1.0
# "Minutes, not Segment's 30 days": held here to at most five minutes a request.
TARGET_DELETE_SECONDS = 300.0


@dataclass
class Measured:
    built: BuiltStore
    startup_seconds: float
    documents_seconds: float
    probes: list[Probe]
    ingest: list[IngestRun]
    listed: SuppressionList
    reference: Reference
    deletions: list[Deletion]
    verification: Verification
    breakdown: Breakdown
    machine_before: tuple[float, float]
    machine_after: tuple[float, float]
    load: tuple[float, float]
    commit: str


def _commit() -> str:
    """The commit measured: Kenning changes under a benchmark that runs for an hour."""
    found = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or "unknown"


def measure() -> Measured:
    commit = _commit()
    load_before = os.getloadavg()[0]
    machine_before = machine_check()
    with tempfile.TemporaryDirectory(prefix="kenning-bench-privacy-") as tmp:
        built = build_store(Path(CACHE) if CACHE else Path(tmp) / "store")
        (Path(tmp) / "work").mkdir()
        path = working_copy(built, Path(tmp) / "work")
        # Every group takes people no other took: enough for the list at one identifier each.
        people = list(sample_people(path, SUPPRESSED + PROBES + DELETIONS + 1))
        listed_people = list_people(people)
        rest = people[len(listed_people) :]
        probe_people, rest = rest[:PROBES], rest[PROBES:]
        deleted_people, rest = rest[:DELETIONS], rest[DELETIONS:]
        console.print("scanning the log for the reference ...")
        reference = reference_scan(path, deleted_people[0])
        with serving(path) as server:
            console.print(f"server up in {server.startup_seconds:.0f} s")
            documents = wait_for_documents(server)
            api = PrivacyApi(server.port)
            try:
                console.print(f"suppressing {len(probe_people)} people one by one ...")
                probes = probe_suppressions(api, probe_people)
                unsuppress_all(api, probe_people, sum(p.listed for p in probes))
                console.print("ingest with and without a suppression list ...")
                ingest, listed = ingest_cost(api, listed_people)
                # Ingest made profiles whose documents are built while the writer is idle:
                # let that finish, so the deletions meet a server at rest.
                wait_for_documents(server)
                console.print(f"deleting {len(deleted_people)} people one by one ...")
                deletions = delete_people(api, deleted_people)
                verification = verify_seconds(api, deleted_people[0])
            finally:
                api.close()
        console.print("one more deletion in this process, step by step ...")
        breakdown = erase_breakdown(path, rest[0].first("email"))
    return Measured(
        built=built,
        startup_seconds=server.startup_seconds,
        documents_seconds=documents.seconds,
        probes=probes,
        ingest=ingest,
        listed=listed,
        reference=reference,
        deletions=deletions,
        verification=verification,
        breakdown=breakdown,
        machine_before=machine_before,
        machine_after=machine_check(),
        load=(load_before, os.getloadavg()[0]),
        commit=commit,
    )


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:,.1f}"


def _runs(count: int) -> str:
    return "one run" if count == 1 else f"median of {count}"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _suppression_text(m: Measured) -> tuple[str, str]:
    health = [p.health_seconds for p in m.probes]
    suppress = [p.suppress_seconds for p in m.probes]
    batch = [p.next_batch_seconds for p in m.probes]
    refused = sum(p.refused for p in m.probes)
    kinds = ", ".join(
        f"{sum(p.identifier_type == t for p in m.probes)} by {t}"
        for t in dict.fromkeys(PROBE_TYPES)
    )
    ratio = statistics.median(suppress) / statistics.median(health)
    table = "\n".join(
        [
            "| request | median ms | max ms | / `GET /health` (median) | |",
            "|---|---:|---:|---:|---|",
            f"| `GET /health` round trip (the reference) | {_ms(statistics.median(health))} "
            f"| {_ms(max(health))} | | |",
            f"| `POST /v1/regulations` `SUPPRESS`, sent to answered: **in force** "
            f"| **{_ms(statistics.median(suppress))}** | {_ms(max(suppress))} | {ratio:.0f}x "
            f"| {len(m.probes)} people ({kinds}) |",
            f"| the next `POST /v1/batch` (their event and one of nobody's) "
            f"| {_ms(statistics.median(batch))} | {_ms(max(batch))} | "
            f"| refused as it should be: {refused} of {len(m.probes)} |",
        ]
    )
    runs = "\n".join(
        f"| {n} | {run.suppressed:,} | {run.events_per_second:,.0f} | {run.figures.p50_ms:.1f} "
        f"| {run.figures.p99_ms:.1f} | {run.figures.errors} |"
        for n, run in enumerate(m.ingest, 1)
    )
    empty = statistics.mean(r.events_per_second for r in m.ingest if not r.suppressed)
    full = statistics.mean(r.events_per_second for r in m.ingest if r.suppressed)
    in_force = max(suppress)
    text = (
        f"**Suppression** (`bench/privacy/suppression.py`). {len(m.probes)} people one after "
        "another, each named by one identifier in a `SUPPRESS` request (the request also "
        "suppresses every identifier their profile holds), timed from sending it to its answer; "
        "then at once a batch of two track events, one carrying that identifier and one of a "
        "new anonymous visitor: refused as it should be when the answer says `suppressed: 1`, "
        "`accepted: 2`. Before each, a `GET /health` round trip on the same keep-alive "
        f"connection: the reference, what any request costs. Suppression in force "
        f"**{_ms(statistics.median(suppress))} ms** after the request (median; max "
        f"{_ms(in_force)} ms; reference: null endpoint {_ms(statistics.median(health))} ms).\n\n"
        f"{table}\n\n"
        "**Ingest with a suppression list**: the ingest benchmark's batch load (wrk, one "
        f"thread, {CONNECTIONS} connections, batches of {EVENTS_PER_REQUEST} track events of "
        f"its 50,000 users, none suppressed; `bench/ingest/load.lua`), {INGEST_SECONDS} s a run "
        f"after a {WARMUP_SECONDS} s warm-up that meets every user, alternating an empty list "
        f"and {m.listed.identifiers:,} identifiers suppressed (every identifier of "
        f"{m.listed.people:,} people of the store, {m.listed.requests} requests, "
        f"{m.listed.seconds:.1f} s; lifted by `UNSUPPRESS` between pairs). An empty list is "
        "skipped outright; a non-empty one costs every event its identifiers and a salted "
        "hash each.\n\n"
        "| run | identifiers suppressed | events/s | p50 ms | p99 ms | errors |\n"
        "|---:|---:|---:|---:|---:|---:|\n"
        f"{runs}\n\n"
        f"With the list, ingest runs at **{full / empty:.0%}** of its throughput without "
        f"({full:,.0f} against {empty:,.0f} events/s, the runs' means)."
    )
    target = (
        f"- Suppression effective at ingest within {TARGET_SUPPRESS_SECONDS:.0f} s of the "
        f"request: {_met(in_force <= TARGET_SUPPRESS_SECONDS and refused == len(m.probes))} "
        f"(in force at the answer, {_ms(in_force)} ms at most; the next batch refused "
        f"{refused} times of {len(m.probes)})."
    )
    return text, target


def _share_row(label: str, seconds: float, total: float) -> str:
    return f"| {label} | {seconds:.2f} | {seconds / total:.0%} |"


def _deletion_text(m: Measured) -> tuple[str, str]:
    rows = []
    for n, d in enumerate(m.deletions, 1):
        receipt = d.receipt
        events = receipt["rows"].get("__kenning_events", 0)
        waited = (
            f"{statistics.median(d.batches) * 1000:,.0f} / {max(d.batches) * 1000:,.0f} "
            f"({len(d.batches)})"
            if d.batches
            else ""
        )
        rows.append(
            f"| {n} | {receipt['identifiers']} | {receipt['profiles']} "
            f"| {receipt['rows_deleted']:,} | {events:,} | **{d.seconds:.1f}** "
            f"| {receipt['seconds']:.1f} | {waited} | {receipt['traces_left']} | {d.load:.1f} |"
        )
    walls = [d.seconds for d in m.deletions]
    median_wall = statistics.median(walls)
    v, b, r = m.verification, m.breakdown, m.reference
    steps: list[str] = []
    for step, label in STEPS.items():
        seconds = b.steps.get(step, 0.0)
        steps.append(f"| **{label}** | **{seconds:.2f}** | **{seconds / b.seconds:.0%}** |")
        shown = [
            (statement, taken)
            for (within, statement), taken in b.statements.items()
            if within == step and taken >= 0.01 * b.seconds
        ]
        steps += [_share_row(f"· `{statement}`", taken, b.seconds) for statement, taken in shown]
        rest = seconds - sum(taken for _, taken in shown)
        steps.append(_share_row("· the rest (Python, smaller statements)", rest, b.seconds))
    other = b.seconds - sum(b.steps.values())
    steps.append(_share_row("the request's own bookkeeping and polling", other, b.seconds))
    text = (
        f"**Deletion** (`bench/privacy/deletion.py`). {len(m.deletions)} people one after "
        "another, each by a `DELETE` naming their email, timed from sending the request to "
        "its status `finished` (`GET /v1/regulations/{id}` polled every 50 ms). Meanwhile a "
        "trickle of batches of one event of nobody's, each sent 0.1 s after the last was "
        "answered, shows how long ingest waits for the deletion's writer job (the receipt's "
        "seconds). Load average: the machine's at the end of each deletion (1 minute).\n\n"
        "| person | identifiers | profiles | rows deleted | of which events "
        "| request to finished s | writer job s (receipt) "
        "| batches sent meanwhile: answered in ms, median / max (count) "
        "| traces left | load average |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
        f"One `POST /v1/privacy/verify` with every identifier of the first person deleted "
        f"({v.identifiers}; every text column of every table): **{v.seconds:.1f} s** "
        f"({_runs(VERIFY_RUNS)}), {'clean' if v.clean else 'traces found'}.\n\n"
        f"The reference: one scan of the log's payloads for a text, "
        f"`{' '.join(REFERENCE_SQL.split())}`, on the copy before the server opened it, DuckDB "
        f"at its defaults: **{r.seconds:.2f} s** (median of {REFERENCE_RUNS}), the least a "
        f"deletion that must find a person's identifiers in anyone's events costs. A deletion "
        f"takes **{median_wall / r.seconds:.0f}x** the scan (median), a verification "
        f"{v.seconds / r.seconds:.0f}x. The same scan with the condition a deletion of the "
        f"first person puts on payloads (`traces.mentions` over the {r.needles} texts "
        f"`traces.needles_of` gives for their identifiers): {r.needles_seconds:.2f} s.\n\n"
        f"Where a deletion's time goes (`bench/privacy/breakdown.py`): one more person deleted "
        f"by a `DELETE` regulation in the benchmark's process, on the store the server left "
        f"(opening it, which loads what a server's start-up loads: {b.open_seconds:.1f} s), "
        f"each step and statement timed (statements under 1% left in the rest): "
        f"**{b.seconds:.1f} s** in all ({b.status['receipt']['rows_deleted']:,} rows, "
        f"{b.status['status']}).\n\n"
        "| step | s | share |\n|---|---:|---:|\n" + "\n".join(steps)
    )
    target = (
        f"- Deletion completes in minutes (held here to at most "
        f"{TARGET_DELETE_SECONDS / 60:.0f} min a request): "
        f"{_met(max(walls) <= TARGET_DELETE_SECONDS)} (median {median_wall:.1f} s, longest "
        f"{max(walls):.1f} s, request to finished)."
    )
    return text, target


def section(m: Measured) -> str:
    b = m.built
    suppressed, suppress_target = _suppression_text(m)
    deleted, delete_target = _deletion_text(m)
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}; Kenning at {m.commit}. "
        "`make bench` (or "
        "`.venv/bin/python -m bench privacy`); `KENNING_BENCH_PROFILES_PEOPLE=50000` for a "
        "quick run. Machine check (bench/activation's fixed work; this shared machine's speed "
        f"varies): Python {m.machine_before[0]:.2f} s and {m.machine_after[0]:.2f} s, DuckDB "
        f"{m.machine_before[1]:.2f} s and {m.machine_after[1]:.2f} s, before and after; load "
        f"average {m.load[0]:.1f} before, {m.load[1]:.1f} after.\n\n"
        f"The store: the profiles benchmark's ({b.people:,} people, {b.events:,} events, "
        f"{b.profiles:,} profiles, {b.identifiers:,} identifiers, {b.file_bytes / 1e9:.1f} GB; "
        "`bench/profiles/store.py`, kept with `KENNING_BENCH_PROFILES_CACHE`), copied for the "
        "run, with `kenning serve` on the copy (`bench/profiles/server.py`: up in "
        f"{m.startup_seconds:.0f} s, then every profile's document built, waited "
        f"{m.documents_seconds:.0f} s). A `privacy:admin` token and a source's write key made "
        "through the API. The people named are the store's, picked at random among those who "
        "signed up (they hold an email), each group of them different.\n\n"
        f"{suppressed}\n\n{deleted}\n\nTargets, on 2 cores:\n\n{suppress_target}\n{delete_target}"
    )


def main() -> None:
    measured = measure()
    write_section("privacy", section(measured))
    deletions = [d.seconds for d in measured.deletions]
    in_force = statistics.median(p.suppress_seconds for p in measured.probes)
    print(
        f"suppression in force: median {_ms(in_force)} ms; "
        f"deletion: median {statistics.median(deletions):.1f} s, longest {max(deletions):.1f} s"
    )


if __name__ == "__main__":
    main()
