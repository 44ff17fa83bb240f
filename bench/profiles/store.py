"""The store every section of the profiles benchmark runs on: a million people's year, stitched.

Built once and kept (``KENNING_BENCH_PROFILES_CACHE``): the log is written by DuckDB in bulk
(``synthetic.py``), then Kenning's own code stitches it and computes profile state, as a
rebuild does (``kenning identity rebuild``): the bulk replay of the whole log
(``identity.rebuild.replay_log``), then ``ProfileStage.recompute``. The stable-id step of a
rebuild is left out: a store never stitched has no ids to keep.

Sections that write (ingest) should run on ``working_copy``, so the cache stays as built.
"""

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.profiles.synthetic import SOURCES, write_log
from kenning.identity.rebuild import replay_log
from kenning.store.store import Store

PEOPLE = int(os.environ.get("KENNING_BENCH_PROFILES_PEOPLE", "1000000"))
EVENTS_PER_PERSON = float(os.environ.get("KENNING_BENCH_PROFILES_EVENTS_PER_PERSON", "20"))
CACHE = os.environ.get("KENNING_BENCH_PROFILES_CACHE")
# DuckDB's default is 80% of RAM; the identity graph, in Python, needs room beside it.
MEMORY_LIMIT = os.environ.get("KENNING_BENCH_PROFILES_MEMORY", "8GB")
# Bumped whenever synthetic.py or the build changes what a store holds: older caches are rebuilt.
GENERATOR_VERSION = 1
STORE_FILE = "kenning.duckdb"
ABOUT_FILE = "store.json"

console = Console(stderr=True)


@dataclass
class BuiltStore:
    """A built store and what it holds; ``seconds`` per build stage."""

    path: Path
    people: int
    events_per_person: float
    events: int
    profiles: int
    identifiers: int
    merged_profiles: int
    trait_rows: int
    consent_rows: int
    file_bytes: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def build_seconds(self) -> float:
        return sum(self.seconds.values())


def _requested() -> dict[str, Any]:
    return {"version": GENERATOR_VERSION, "people": PEOPLE, "events_per_person": EVENTS_PER_PERSON}


def _reuse(directory: Path) -> BuiltStore | None:
    about = directory / ABOUT_FILE
    if not about.exists() or not (directory / STORE_FILE).exists():
        return None
    saved: dict[str, Any] = json.loads(about.read_text())
    if saved.get("requested") != _requested():
        return None
    return BuiltStore(path=directory / STORE_FILE, **saved["store"])


@contextmanager
def _stage(name: str, seconds: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    with console.status(f"{name} ..."):
        yield
    seconds[name] = time.perf_counter() - started
    console.print(f"{name}: {seconds[name]:.0f} s")


def _write(path: Path, seconds: dict[str, float]) -> int:
    with Store.open(path, stitch=False) as store:
        for name in SOURCES:
            store.sources.create(name)
    con = duckdb.connect(str(path), config={"memory_limit": MEMORY_LIMIT})
    try:
        started = time.perf_counter()
        with Progress(
            TextColumn("writing the log"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("events", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            size = write_log(con, PEOPLE, EVENTS_PER_PERSON, progress=progress)
            con.execute("CHECKPOINT")
        seconds["write the log (DuckDB)"] = time.perf_counter() - started
        console.print(
            f"wrote {size.events:,} events for {size.people:,} people: "
            f"{seconds['write the log (DuckDB)']:.0f} s"
        )
    finally:
        con.close()
    return size.events


def _stitch(path: Path, seconds: dict[str, float]) -> None:
    with Store.open(path) as store:

        def run(job: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
            return store.writer.run(job, changes_stages=True).result()

        run(lambda con: con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'"))
        run(lambda con: con.execute("SET enable_progress_bar = false"))
        with _stage("stitch the log (bulk replay)", seconds):
            run(lambda con: replay_log(con, store.identity))
        with _stage("compute profile state (recompute)", seconds):
            run(store.profiles.recompute)
        with _stage("checkpoint", seconds):
            store.writer.run(lambda con: con.execute("CHECKPOINT")).result()


def _describe(path: Path, seconds: dict[str, float]) -> BuiltStore:
    with Store.open(path, stitch=False) as store, store.reader() as con:
        stats = store.stats()
        row = con.execute(
            """SELECT (SELECT count(*) FROM __kenning_profile_redirects),
                      (SELECT count(*) FROM __kenning_profile_traits),
                      (SELECT count(*) FROM __kenning_consent)"""
        ).fetchone()
    assert row is not None
    return BuiltStore(
        path=path,
        people=PEOPLE,
        events_per_person=EVENTS_PER_PERSON,
        events=int(stats["events"]),
        profiles=int(stats["profiles"]),
        identifiers=int(stats["identifiers"]),
        merged_profiles=int(row[0]),
        trait_rows=int(row[1]),
        consent_rows=int(row[2]),
        file_bytes=path.stat().st_size,
        seconds=seconds,
    )


def build_store(directory: Path) -> BuiltStore:
    """The store for ``PEOPLE`` people in ``directory``: reused when it holds one built for the
    same sizes, built otherwise (minutes at a million people)."""
    directory.mkdir(parents=True, exist_ok=True)
    found = _reuse(directory)
    if found is not None:
        console.print(f"reusing the store in {directory} ({found.events:,} events)")
        return found
    for stale in directory.glob(STORE_FILE + "*"):
        stale.unlink() if stale.is_file() else shutil.rmtree(stale)
    (directory / ABOUT_FILE).unlink(missing_ok=True)
    path = directory / STORE_FILE
    seconds: dict[str, float] = {}
    _write(path, seconds)
    _stitch(path, seconds)
    built = _describe(path, seconds)
    saved = {k: v for k, v in asdict(built).items() if k != "path"}
    (directory / ABOUT_FILE).write_text(
        json.dumps({"requested": _requested(), "store": saved}, indent=2)
    )
    console.print(
        f"built in {built.build_seconds:.0f} s: {built.profiles:,} profiles, "
        f"{built.events:,} events, {built.file_bytes / 1e9:.1f} GB"
    )
    return built


def working_copy(built: BuiltStore, directory: Path) -> Path:
    """A copy of the built store in ``directory``, for a section that writes."""
    target = directory / STORE_FILE
    shutil.copyfile(built.path, target)
    return target
