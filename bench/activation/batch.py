"""Fifty audiences evaluated in batch over every profile of a large store.

On a copy of the built store (``store.py``), in one process as ``kenning audiences evaluate``
runs on a local store: the fifty audiences of ``audiences.py`` are declared (their event
counters computed from the log, as a declaration does), then a batch evaluation is timed as
``realtime.batch_evaluate`` runs it, in its two steps:

- the SQL evaluation (``membership.evaluate_all`` on a reader: the facts row of every current
  profile, then each audience's condition over it);
- the apply step (``membership.apply_batch``, a writer job: the difference with the members
  held, recorded as entries and exits, and each audience's size).

The first batch enters everyone (every member is new); the second finds almost nothing to
change, as the periodic batch of a running server does. ``store.evaluate_audiences_now()``,
the public call, is then timed whole. The references, in the same run: one trivial audience
through the same evaluation, and one scan of the profiles the facts row is built on. The SQL
evaluation is also taken apart (the facts row alone; each condition's scan) to show where its
time goes.
"""

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from bench.activation.audiences import TRIVIAL, conditions
from bench.activation.realtime import busy_cpu_seconds
from bench.activation.store import SETTINGS, BuiltStore, working_copy
from bench.profiles.store import console
from kenning.audiences.audience import Audience, parse_audience
from kenning.audiences.compile import Inputs, condition_sql, facts_sql
from kenning.audiences.membership import apply_batch, evaluate_all
from kenning.store.store import Store

TARGET_SECONDS = 30.0
STEADY_RUNS = 3


@dataclass
class Batch:
    sql_seconds: float
    apply_seconds: float
    members: int
    changes: int

    @property
    def seconds(self) -> float:
        return self.sql_seconds + self.apply_seconds


@dataclass
class BatchFigures:
    built: BuiltStore
    audiences: int
    counters: int
    declare_seconds: float
    first: Batch
    steady: Batch
    public_seconds: float  # store.evaluate_audiences_now(), steady state
    trivial_seconds: float  # one trivial audience through evaluate_all
    scan_seconds: float  # one scan of the profile spine
    facts_seconds: float  # the facts row of all fifty audiences' inputs, alone
    slowest: list[tuple[str, float]] = field(default_factory=list)  # conditions' scans
    conditions_seconds: float = 0.0
    steady_runs: list[Batch] = field(default_factory=list)  # every steady batch, in order
    other_cpu: float = 0.0  # cores other processes used while the batches ran


def timed_batch(store: Store) -> Batch:
    """``realtime.batch_evaluate``, with each step timed."""
    chosen = list(store.audiences.audiences)
    at = datetime.now(UTC)
    started = time.perf_counter()
    with store.reader() as con:
        members = evaluate_all(con, chosen, store.computed.definitions, at)
    evaluated = time.perf_counter()
    names = [a.name for a in chosen]
    stage = store.audiences
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
    return Batch(
        evaluated - started, time.perf_counter() - evaluated, members.num_rows, len(changes)
    )


def _declare(store: Store, audiences: list[Audience]) -> None:
    for audience in audiences:

        def declare(con: duckdb.DuckDBPyConnection, audience: Audience = audience) -> None:
            store.audiences.declare(con, audience)

        store.writer.run(declare, changes_stages=True).result()


def _parts(store: Store) -> tuple[float, list[tuple[str, float]], float]:
    """The SQL evaluation taken apart as ``evaluate_all`` runs it: the facts table, then each
    condition's scan (and insert) in turn."""
    audiences = list(store.audiences.audiences)
    at = datetime.now(UTC)
    params: list[Any] = []
    inputs = Inputs.of(a.condition for a in audiences)
    with store.reader() as con:
        started = time.perf_counter()
        facts = facts_sql(inputs, store.computed.definitions, params)
        con.execute(f"CREATE OR REPLACE TEMP TABLE bench_facts AS {facts}", params)
        facts_seconds = time.perf_counter() - started
        con.execute(
            "CREATE OR REPLACE TEMP TABLE bench_batch (audience VARCHAR, profile_id BIGINT)"
        )
        each: list[tuple[str, float]] = []
        for audience in audiences:
            params = [audience.name]
            where = condition_sql(audience.condition, inputs, params, at, "bench_batch")
            started = time.perf_counter()
            con.execute(
                f"INSERT INTO bench_batch SELECT ?, f.profile_id FROM bench_facts f WHERE {where}",
                params,
            )
            each.append((audience.name, time.perf_counter() - started))
        con.execute("DROP TABLE bench_facts")
        con.execute("DROP TABLE bench_batch")
    return facts_seconds, sorted(each, key=lambda x: -x[1]), sum(s for _, s in each)


def evaluate_section(built: BuiltStore, workdir: Path) -> BatchFigures:
    path = working_copy(built, workdir)
    declared = [parse_audience({"condition": c}, name) for name, c in conditions().items()]
    with Store.open(path, profiles=SETTINGS) as store:
        started = time.perf_counter()
        _declare(store, declared)
        declare_seconds = time.perf_counter() - started
        counters = len({c.name for a in declared for c in a.counters})
        console.print(f"declared {len(declared)} audiences: {declare_seconds:.0f} s")
        with store.reader() as con:
            started = time.perf_counter()
            con.execute(
                "SELECT count(*) FROM (SELECT DISTINCT profile_id FROM kenning_identifiers)"
            ).fetchall()
            scan_seconds = time.perf_counter() - started
            trivial = parse_audience({"condition": TRIVIAL}, "trivial")
            timings = []
            for _ in range(STEADY_RUNS):
                started = time.perf_counter()
                evaluate_all(con, [trivial], store.computed.definitions, datetime.now(UTC))
                timings.append(time.perf_counter() - started)
            trivial_seconds = sorted(timings)[len(timings) // 2]
        started, busy, own = time.perf_counter(), busy_cpu_seconds(), sum(os.times()[:2])
        first = timed_batch(store)
        console.print(f"first batch: {first}")
        # The machine is shared: the steady batch is run STEADY_RUNS times, the median kept.
        runs = [timed_batch(store) for _ in range(STEADY_RUNS)]
        console.print(f"steady batches: {runs}")
        steady = sorted(runs, key=lambda b: b.seconds)[len(runs) // 2]
        public_started = time.perf_counter()
        store.evaluate_audiences_now()
        public_seconds = time.perf_counter() - public_started
        facts_seconds, slowest, conditions_seconds = _parts(store)
        elapsed = time.perf_counter() - started
        other = busy_cpu_seconds() - busy - (sum(os.times()[:2]) - own)
    return BatchFigures(
        built=built,
        audiences=len(declared),
        counters=counters,
        declare_seconds=declare_seconds,
        first=first,
        steady=steady,
        public_seconds=public_seconds,
        trivial_seconds=trivial_seconds,
        scan_seconds=scan_seconds,
        facts_seconds=facts_seconds,
        slowest=slowest[:5],
        conditions_seconds=conditions_seconds,
        steady_runs=runs,
        other_cpu=max(0.0, other / elapsed),
    )
