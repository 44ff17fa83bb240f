"""Computed traits: what keeping them live costs ingest, and a recompute of twenty over the store.

- ``ingest_section``: the ingest benchmark's load (wrk, the same Product Viewed events) against
  two servers that differ only in ``profiles.builtin_traits`` (the ten built-ins, six of which
  read such an event, or none), single events and batches of 100, each pair run back to back
  twice, the better run of each kept; and, without HTTP, the writer alone on the synthetic
  brand's messages (groups of 1,000), where the traits' share of the work is largest.
- ``recompute_section``: ``kenning traits recompute`` of twenty traits (the ten built-ins and
  ten more of every kind, two windowed) on a copy of the built store, beside the time DuckDB
  takes to read the log's payloads once (the physical floor of any recompute from the log).
"""

import base64
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx

from bench.ingest.run import TOKEN, WARMUP_SECONDS, _free_port, _wait, ensure_wrk, machine, wrk
from bench.profiles.store import CACHE, BuiltStore, build_store, console, working_copy
from bench.results import write_section
from kenning.profiles.computed.definitions import parse_all
from kenning.profiles.state import ProfileSettings
from kenning.store.store import Store

INGEST_SECONDS = int(os.environ.get("KENNING_BENCH_SECONDS", "15"))
# Ten more traits, so a recompute computes twenty: every kind, filters, two windows.
EXTRA_TRAITS = {
    "orders_30d": {"kind": "count", "event": "Order Completed", "window": "30d"},
    "spend_90d": {"kind": "sum", "event": "Order Completed", "value": "properties.revenue",
                  "window": "90d"},
    "biggest_order": {"kind": "max", "event": "Order Completed", "value": "properties.revenue"},
    "smallest_order": {"kind": "min", "event": "Order Completed", "value": "properties.revenue"},
    "first_category": {"kind": "first", "event": "Order Completed",
                       "value": "properties.category"},
    "last_viewed": {"kind": "last", "event": "Product Viewed", "value": "properties.product_id"},
    "categories_viewed": {"kind": "unique_count", "event": "Product Viewed",
                          "value": "properties.category"},
    "pages_viewed": {"kind": "count", "type": ["page", "screen"]},
    "email_opens": {"kind": "count", "event": "Email Opened"},
    "big_orders": {"kind": "count", "event": "Order Completed",
                   "where": {"properties.revenue": {"gte": 100}}},
}  # fmt: skip
_RUNS = itertools.count()


@dataclass(frozen=True)
class IngestFigures:
    scenario: str
    without: float  # events/s
    with_traits: float

    @property
    def cost(self) -> float:
        return 1 - self.with_traits / self.without


def _serve(workdir: Path, traits: bool) -> tuple["subprocess.Popen[bytes]", str, str]:
    run = next(_RUNS)
    config = workdir / f"kenning-{run}.yaml"
    config.write_text(f"profiles: {{builtin_traits: {'true' if traits else 'false'}}}\n")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.ingest.nullapp", "--db",
         str(workdir / f"ingest-{run}.duckdb"), "--port", str(port)],
        env={**os.environ, "KENNING_ADMIN_TOKEN": TOKEN, "KENNING_CONFIG": str(config)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    _wait(base)
    key = httpx.post(
        base + "/v1/sources", json={"name": "bench"}, headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()["write_key"]
    return server, base, "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def ingest_section(workdir: Path) -> list[IngestFigures]:
    binary = ensure_wrk()
    found = []
    for scenario, path, per, connections in (
        ("single events (32 connections)", "/v1/track", 1, 32),
        ("batches of 100 (16 connections)", "/v1/batch", 100, 16),
    ):
        best = {False: 0.0, True: 0.0}
        for _ in range(2):
            for traits in (False, True):
                server, base, auth = _serve(workdir, traits)
                try:
                    wrk(binary, base + path, auth, per, connections, WARMUP_SECONDS)
                    figures = wrk(binary, base + path, auth, per, connections, INGEST_SECONDS)
                    best[traits] = max(best[traits], figures.events_per_second(per))
                finally:
                    server.send_signal(signal.SIGINT)
                    server.wait(timeout=60)
        found.append(IngestFigures(scenario, best[False], best[True]))
        console.print(f"ingest, {scenario}: {best[False]:,.0f} without, {best[True]:,.0f} with")
    return found


@dataclass(frozen=True)
class RecomputeFigures:
    traits: int
    events: int
    seconds: float
    read_seconds: float  # DuckDB reading every payload's paths once, nothing else


def recompute_section(built: BuiltStore, workdir: Path) -> RecomputeFigures:
    path = working_copy(built, workdir)
    settings = ProfileSettings(computed_traits=parse_all(EXTRA_TRAITS, "config", "bench"))
    with Store.open(path, profiles=settings) as store:  # computes the new traits: not timed
        names = list(store.computed.definitions)
        started = time.perf_counter()
        store.writer.run(store.computed.recompute).result()
        seconds = time.perf_counter() - started
        events = store.stats()["events"]
    con = duckdb.connect(str(path), read_only=True)
    started = time.perf_counter()
    con.execute(
        """SELECT count(json_extract(payload, ['$.properties.revenue', '$.properties.category',
                  '$.properties.channel', '$.anonymousId', '$.properties.product_id']))
           FROM __kenning_events"""
    ).fetchall()
    read_seconds = time.perf_counter() - started
    con.close()
    console.print(f"recompute of {len(names)} traits over {events:,} events: {seconds:.1f} s")
    return RecomputeFigures(len(names), events, seconds, read_seconds)


def main() -> None:
    """``python -m bench traits``: both sections, written to RESULTS.md as ``computed-traits``."""
    workdir = Path(tempfile.mkdtemp(prefix="kenning-bench-traits-"))
    try:
        ingest = ingest_section(workdir)
        built = build_store(Path(CACHE) if CACHE else workdir / "store")
        recomputed = recompute_section(built, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = [
        f"| ingest, {f.scenario}, events/s | {f.with_traits:,.0f} with the ten built-ins "
        f"| {f.without:,.0f} without | {f.cost:.0%} of throughput |"
        for f in ingest
    ]
    rows.append(
        f"| recompute of {recomputed.traits} traits over {recomputed.events:,} events "
        f"| {recomputed.seconds:.1f} s | reading every payload's five paths once: "
        f"{recomputed.read_seconds:.1f} s | {recomputed.seconds / recomputed.read_seconds:.1f}x |"
    )
    write_section(
        "computed-traits",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}. `python -m bench traits` "
        "(sizes as `python -m bench profiles`; `KENNING_BENCH_PROFILES_CACHE` reuses its "
        "store). Ingest: the ingest benchmark's load (wrk, Product Viewed events, six of the "
        "ten built-ins read each) against two servers differing only in "
        "`profiles.builtin_traits`, each pair run twice, the better run kept. Recompute: the "
        "ten built-ins and ten more (every kind, filters, two windows) on a copy of the "
        "profiles store.\n\n| measure | Kenning | reference | ratio |\n|---|---:|---:|---:|\n"
        + "\n".join(rows),
    )
