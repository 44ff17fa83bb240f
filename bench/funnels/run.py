"""``python -m bench.funnels`` (or ``python -m bench funnels``): funnels over a large log,
written to RESULTS.md as ``funnels``.

Target: a 5-step ordered funnel over 20M events in at most 5 s on 2 cores.

The store (``store.py``) is built once and kept: ``KENNING_BENCH_FUNNELS_CACHE`` (default
/tmp/funnelbench); building 20M events takes minutes. ``KENNING_BENCH_FUNNELS_EVENTS`` sets
the log's size (default 20000000; a quick run: 2000000), ``KENNING_BENCH_FUNNELS_RUNS`` the
timed runs of each funnel after a first one (default 3; the median is reported).
"""

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.activation.run import machine_check
from bench.funnels.store import cached_store
from bench.ingest.run import machine
from bench.results import write_section
from kenning.journeys.funnel_definition import FunnelDefinition, parse_funnel
from kenning.journeys.funnels import funnel_events_sql, run_funnel
from kenning.store.store import Store

EVENTS = int(os.environ.get("KENNING_BENCH_FUNNELS_EVENTS", "20000000"))
CACHE = Path(os.environ.get("KENNING_BENCH_FUNNELS_CACHE", "/tmp/funnelbench"))
RUNS = int(os.environ.get("KENNING_BENCH_FUNNELS_RUNS", "3"))
TARGET_SECONDS = 5.0
TARGET_EVENTS = 20_000_000

_STEPS: list[dict[str, Any]] = [
    {"event": "Product Viewed", "where": {"properties.category": "shoes"}, "name": "Viewed shoes"},
    {"event": "Product Added"},
    {"event": "Checkout Started"},
    {"event": "Payment Info Entered"},
    {"event": "Order Completed"},
]
_UNFILTERED = [{"event": "Product Viewed"}, *_STEPS[1:]]
TARGET_FUNNEL = "5-step ordered, a property filter on step 1"
FUNNELS: dict[str, dict[str, Any]] = {
    TARGET_FUNNEL: {"steps": _STEPS},
    "5-step strict": {"steps": _STEPS, "mode": "strict"},
    "5-step any order": {"steps": _STEPS, "mode": "any_order"},
    "5-step ordered, counting every attempt": {"steps": _STEPS, "count": "totals"},
    "5-step ordered, an exclusion (Search between steps 1 and 5)": {
        "steps": _STEPS,
        "exclusions": [{"event": "Search"}],
    },
    "5-step ordered, breakdown by channel": {"steps": _STEPS, "breakdown": "channel"},
    "5-step ordered, no filter, breakdown by properties.category": {
        "steps": _UNFILTERED,
        "breakdown": "properties.category",
    },
}


@dataclass(frozen=True)
class Timed:
    name: str
    first: float
    runs: list[float]
    query: float  # the funnel's query alone, fetched as Arrow
    entered: list[int]
    groups: int

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _time_funnel(store: Store, name: str, definition: FunnelDefinition) -> Timed:
    with store.reader() as con:
        started = time.perf_counter()
        result = run_funnel(con, definition)
        first = time.perf_counter() - started
        runs = [_seconds(lambda: run_funnel(con, definition)) for _ in range(RUNS)]
        params: list[Any] = []
        sql = funnel_events_sql(definition, params)
        query = statistics.median(
            _seconds(lambda: con.sql(sql, params=params).to_arrow_table()) for _ in range(RUNS)
        )
    return Timed(
        name, first, runs, query, [s.entered for s in result.overall.steps], len(result.groups)
    )


def _scan(store: Store) -> tuple[float, int]:
    """The floor: one scan counting the events the 5-step funnel reads."""
    names = [s["event"] for s in _STEPS]
    with store.reader() as con:
        sql = f"SELECT count(*) FROM __kenning_events WHERE event IN ({', '.join('?' * 5)})"
        rows: list[Any] = []

        def scan() -> None:
            rows[:] = con.execute(sql, names).fetchall()

        seconds = statistics.median(_seconds(scan) for _ in range(max(RUNS, 3)))
    return seconds, int(rows[0][0])


def main() -> None:
    started = time.perf_counter()
    path, built = cached_store(CACHE, EVENTS)
    build_seconds = time.perf_counter() - started
    python_check, duckdb_check = machine_check()
    load_before = os.getloadavg()[0]
    with Store.open(path, stitch=False) as store:
        with store.reader() as con:
            counts = con.execute(
                """SELECT (SELECT count(*) FROM __kenning_events),
                          (SELECT count(DISTINCT coalesce(r.canonical_id, ep.profile_id))
                           FROM __kenning_event_profiles ep
                           LEFT JOIN __kenning_profile_redirects r USING (profile_id))"""
            ).fetchall()
        events, people = (int(v) for v in counts[0])
        scan_seconds, scanned = _scan(store)
        timed = []
        for name, spec in FUNNELS.items():
            timed.append(_time_funnel(store, name, parse_funnel(spec)))
            print(f"{name}: {timed[-1].median:.2f} s")
    size = path.stat().st_size
    machine_note = (
        f"Machine check (bench/activation's fixed work; this shared machine's speed varies): "
        f"Python {python_check:.2f} s, DuckDB {duckdb_check:.2f} s; load average "
        f"{load_before:.1f} before the runs, {os.getloadavg()[0]:.1f} after."
    )
    text = _text(
        timed, events, people, scan_seconds, scanned, size, build_seconds if built else None
    )
    write_section("funnels", f"{text}\n\n{machine_note}")


def _text(
    timed: list[Timed],
    events: int,
    people: int,
    scan_seconds: float,
    scanned: int,
    size: int,
    build_seconds: float | None,
) -> str:
    rows = [
        f"| {t.name} | **{t.median:.2f}** | {t.first:.2f} | {t.query:.2f} "
        f"| {t.median - t.query:.2f} | {t.median / scan_seconds:.0f}x "
        f"| {' · '.join(f'{n:,}' for n in t.entered)}"
        f"{f' ({t.groups} groups)' if t.groups else ''} |"
        for t in timed
    ]
    table = "\n".join(
        [
            "| funnel | median s | first run s | query s | array pass and figures s "
            "| / scan | entered per step (unique people, or attempts) |",
            "|---|---:|---:|---:|---:|---:|---|",
            *rows,
        ]
    )
    target = next(t for t in timed if t.name == TARGET_FUNNEL)
    at_scale = events >= TARGET_EVENTS
    met = target.median <= TARGET_SECONDS
    verdict = (
        f"**{'met' if met else 'not met'}** ({target.median:.2f} s)"
        if at_scale
        else f"not measured at this size ({events:,} events; {target.median:.2f} s here)"
    )
    built = (
        f"built in this run in {build_seconds / 60:.1f} min"
        if build_seconds is not None
        else "built by an earlier run and reused"
    )
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}. "
        "`.venv/bin/python -m bench.funnels`; a store of "
        f"{events:,} events of {people:,} people (shop sessions over 180 days, "
        "`bench/funnels/store.py`), written by DuckDB straight into a store made by "
        f"`Store.open` and cached under `KENNING_BENCH_FUNNELS_CACHE` (default /tmp/funnelbench; "
        f"{size / 1e9:.1f} GB, {built}: generating 20M events takes minutes). "
        "`KENNING_BENCH_FUNNELS_EVENTS=2000000` for a quick run.\n\n"
        "Each funnel is `run_funnel` on a reader connection of the store, end to end: the "
        "query of the events a step or exclusion takes (name first, then the property filters "
        "over the JSON), with the canonical person after merges, sorted by person and time, "
        f"then the array pass and the figures. Median of {RUNS} runs after a first one; "
        "`query s` is the query alone, fetched as Arrow. The steps: Product Viewed "
        "(`properties.category` = shoes), Product Added, Checkout Started, Payment Info "
        "Entered, Order Completed; window 14 days. The reference is one scan counting the "
        f"events the funnel's steps name (`SELECT count(*) … WHERE event IN (…)`, "
        f"{scanned:,} events): {scan_seconds:.3f} s, the floor for any funnel over this log.\n\n"
        f"{table}\n\nTarget: the 5-step ordered funnel over 20M events in at most "
        f"{TARGET_SECONDS:.0f} s on 2 cores: {verdict}."
    )


if __name__ == "__main__":
    main()
