"""The store the batch section evaluates audiences over: the profiles benchmark's synthetic
year (``bench/profiles/synthetic.py``) at a chosen size, stitched, with profile state and
computed traits.

Built as the profiles benchmark builds its store (DuckDB writes the log in bulk, then Kenning's
own rebuild steps: the bulk replay of the log, the profile state's recompute), plus what
audiences read that it leaves out: every computed trait's tallies (the built-ins and
``EXTRA_TRAITS``) computed from the log. Kept per size under ``KENNING_BENCH_ACTIVATION_CACHE``
and reused; the benchmark works on a copy, so the cache stays as built.
"""

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from bench.profiles.store import MEMORY_LIMIT, _stage, _stitch, console
from bench.profiles.synthetic import SOURCES, write_log
from kenning.profiles.computed.definitions import parse_all
from kenning.profiles.state import ProfileSettings
from kenning.store.store import Store

CACHE = os.environ.get("KENNING_BENCH_ACTIVATION_CACHE")
EVENTS_PER_PERSON = 20.0
# Bumped whenever what a store holds changes: older caches are rebuilt.
VERSION = 1
STORE_FILE = "kenning.duckdb"
ABOUT_FILE = "store.json"
# Computed traits beside the ten built-ins, for audiences to compare with thresholds.
EXTRA_TRAITS = {
    "email_opens": {"kind": "count", "event": "Email Opened"},
    "biggest_order": {"kind": "max", "event": "Order Completed", "value": "properties.revenue"},
    "categories_viewed": {"kind": "unique_count", "event": "Product Viewed",
                          "value": "properties.category"},
    "last_email_open_at": {"kind": "last", "event": "Email Opened", "value": "timestamp"},
    "points_earned": {"kind": "sum", "event": "Points Earned", "value": "properties.points"},
}  # fmt: skip
# Every open of the store passes these: a configured trait left out would be dropped.
SETTINGS = ProfileSettings(computed_traits=parse_all(EXTRA_TRAITS, "config", "bench"))


@dataclass
class BuiltStore:
    path: Path
    people: int
    events: int
    profiles: int
    trait_rows: int
    tally_rows: int
    file_bytes: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def build_seconds(self) -> float:
        return sum(self.seconds.values())


def _requested(people: int) -> dict[str, Any]:
    return {
        "version": VERSION,
        "people": people,
        "events_per_person": EVENTS_PER_PERSON,
        "traits": EXTRA_TRAITS,
    }


def _write(path: Path, people: int, seconds: dict[str, float]) -> None:
    with Store.open(path, stitch=False) as store:
        for name in SOURCES:
            store.sources.create(name)
    con = duckdb.connect(str(path), config={"memory_limit": MEMORY_LIMIT})
    try:
        with _stage("write the log (DuckDB)", seconds):
            write_log(con, people, EVENTS_PER_PERSON)
            con.execute("CHECKPOINT")
    finally:
        con.close()


def _computed(path: Path, seconds: dict[str, float]) -> None:
    """The built-ins' tallies (computed when the log was still empty) and EXTRA_TRAITS' (new
    to the store: opening it with them computes them)."""
    with (
        _stage("compute the computed traits", seconds),
        Store.open(path, profiles=SETTINGS) as store,
    ):
        builtin = [d.name for d in store.computed.builtin]
        store.writer.run(
            lambda con: store.computed.recompute(con, builtin), changes_stages=True
        ).result()
        store.writer.run(lambda con: con.execute("CHECKPOINT")).result()


def _describe(path: Path, people: int, seconds: dict[str, float]) -> BuiltStore:
    with Store.open(path, stitch=False, profiles=SETTINGS) as store, store.reader() as con:
        stats = store.stats()
        row = con.execute(
            """SELECT (SELECT count(*) FROM __kenning_profile_traits),
                      (SELECT count(*) FROM __kenning_trait_tallies)"""
        ).fetchone()
    assert row is not None
    return BuiltStore(
        path=path,
        people=people,
        events=int(stats["events"]),
        profiles=int(stats["profiles"]),
        trait_rows=int(row[0]),
        tally_rows=int(row[1]),
        file_bytes=path.stat().st_size,
        seconds=seconds,
    )


def build_store(directory: Path, people: int) -> BuiltStore:
    """The store for ``people`` people in ``directory``: reused when it holds one built the
    same way, built otherwise (about a quarter of an hour at a million people)."""
    directory.mkdir(parents=True, exist_ok=True)
    about = directory / ABOUT_FILE
    if about.exists() and (directory / STORE_FILE).exists():
        saved: dict[str, Any] = json.loads(about.read_text())
        if saved.get("requested") == _requested(people):
            console.print(f"reusing the store in {directory}")
            return BuiltStore(path=directory / STORE_FILE, **saved["store"])
    for stale in directory.glob(STORE_FILE + "*"):
        stale.unlink() if stale.is_file() else shutil.rmtree(stale)
    about.unlink(missing_ok=True)
    path = directory / STORE_FILE
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    _write(path, people, seconds)
    _stitch(path, seconds)  # the bulk replay and the profile state's recompute
    _computed(path, seconds)
    built = _describe(path, people, seconds)
    saved = {k: v for k, v in asdict(built).items() if k != "path"}
    about.write_text(json.dumps({"requested": _requested(people), "store": saved}, indent=2))
    console.print(
        f"built in {time.perf_counter() - started:.0f} s: {built.profiles:,} profiles, "
        f"{built.events:,} events, {built.file_bytes / 1e9:.1f} GB"
    )
    return built


def working_copy(built: BuiltStore, directory: Path) -> Path:
    target = directory / STORE_FILE
    shutil.copyfile(built.path, target)
    return target
