"""A new record matched probabilistically, in real time, against a million profiles.

A store is filled with synthetic offline records (a CRM export, as in run.py: 1.2 records per
person, twins with a typo or a missing field), matched once in batch (which trains the model),
then a Kenning server is started on it and single identify calls are sent one at a time:

- a known customer typed again (one field with a typo, on a new device): its record is
  compared with the known records it shares a blocking key with and should merge;
- a brand-new person: compared, and left alone.

The acknowledgement comes after the commit, in which the record was already matched, so the
request latency is the matching latency. The reference is ``GET /health`` on the same server;
Splink's own incremental path (``find_matches_to_new_records``) takes 273 ms against 5,000
records by its documentation.
"""

import csv
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.ingest.run import TOKEN, _free_port, _wait, machine
from bench.matching.run import MAPPING, _import, _typo, write_records
from bench.results import write_section
from kenning.demo.names import FIRST_NAMES, LAST_NAMES, STREETS, TOWNS
from kenning.identity.matching.run import match_identities
from kenning.identity.matching.settings import MatchSettings
from kenning.store.store import Store

RECORDS = int(os.environ.get("KENNING_BENCH_REALTIME_RECORDS", "1200000"))
REQUESTS = 1_000
# A directory to keep the imported and batch-matched store in (and reuse, when it holds one for
# the same number of records): the import and batch run take minutes at a million records and
# are not what this benchmark measures. The served store is always a fresh copy of it.
CACHE = os.environ.get("KENNING_BENCH_REALTIME_CACHE")


def _traits(row: dict[str, str]) -> dict[str, Any]:
    """A record as identify traits, as the CRM import maps it (see run.py's MAPPING)."""
    address = {"street": row["street"], "city": row["city"], "postalCode": row["postal_code"]}
    traits = {
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "birthday": row["birthday"],
        "address": {part: value for part, value in address.items() if value},
    }
    return {name: value for name, value in traits.items() if value}


def _sample(path: Path, count: int, rng: random.Random) -> list[dict[str, str]]:
    """``count`` rows of the file, at random, without holding the file in memory."""
    with path.open(newline="") as handle:
        total = sum(1 for _ in handle) - 1
    chosen = set(rng.sample(range(total), count))
    with path.open(newline="") as handle:
        return [row for i, row in enumerate(csv.DictReader(handle)) if i in chosen]


def _retyped(row: dict[str, str], rng: random.Random) -> dict[str, str]:
    copy = dict(row)
    field = rng.choice(["first_name", "last_name", "street", "postal_code"])
    copy[field] = _typo(rng, copy[field])
    return copy


def _newcomer(rng: random.Random) -> dict[str, str]:
    town, area = rng.choice(TOWNS)
    return {
        "first_name": rng.choice(FIRST_NAMES),
        "last_name": rng.choice(LAST_NAMES),
        "birthday": (date(1940, 1, 1) + timedelta(days=rng.randrange(22_000))).isoformat(),
        "street": f"{rng.randrange(300, 900)} {rng.choice(STREETS)} Street",
        "city": town,
        "postal_code": f"{area}{rng.randrange(30, 60)} {rng.randrange(1, 10)}ZZ",
    }


def _timed(client: httpx.Client, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = client.post("/v1/identify", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed * 1000


def measure(path: Path, samples: list[dict[str, str]]) -> dict[str, Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "kenning", "serve", "--db", str(path), "--port", str(port)],
        env={**os.environ, "KENNING_ADMIN_TOKEN": TOKEN},
        stderr=subprocess.DEVNULL,
    )
    rng = random.Random(11)
    timings: dict[str, list[float]] = {"retyped": [], "new": [], "health": []}
    try:
        _wait(base, seconds=900)  # start-up loads the graph, the model and every record
        startup = time.perf_counter() - started
        admin = {"Authorization": f"Bearer {TOKEN}"}
        key = httpx.post(base + "/v1/sources", json={"name": "app"}, headers=admin).json()[
            "write_key"
        ]
        with httpx.Client(base_url=base, auth=(key, ""), timeout=60) as client:
            for n, row in enumerate(samples):
                retyped = {"anonymousId": f"device-{n}", "traits": _traits(_retyped(row, rng))}
                newcomer = {"anonymousId": f"walk-in-{n}", "traits": _traits(_newcomer(rng))}
                timings["retyped"].append(_timed(client, retyped))
                timings["new"].append(_timed(client, newcomer))
                started_health = time.perf_counter()
                client.get("/health").raise_for_status()
                timings["health"].append((time.perf_counter() - started_health) * 1000)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
    return {"timings": timings, "startup": startup}


def _merged(path: Path, before: int) -> tuple[int, int]:
    """Links the model made in real time, and those that joined a walk-in (false)."""
    with Store.open(path) as store, store.reader() as con:
        rows = con.execute(
            "SELECT a, b FROM __kenning_identity_links WHERE decided_by = 'model' AND id > ?",
            [before],
        ).fetchall()
    walk_ins = sum("walk-in-" in a or "walk-in-" in b for a, b in rows)
    return len(rows), walk_ins


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=100)[98]


def prepare(directory: Path) -> dict[str, Any]:
    """The records file and the store matched in batch, in ``directory``; what the batch run
    reported. Reused when ``directory`` already holds them for ``RECORDS`` records."""
    about = directory / "prepared.json"
    if about.exists():
        prepared: dict[str, Any] = json.loads(about.read_text())
        if prepared["requested"] == RECORDS:
            print(f"reusing the store matched in batch in {directory}", flush=True)
            return prepared
    for stale in ("records.csv", "kenning.duckdb", "kenning.duckdb.wal", "prepared.json"):
        (directory / stale).unlink(missing_ok=True)
    records = directory / "records.csv"
    write_records(records, RECORDS)
    path = directory / "kenning.duckdb"
    print(f"importing {RECORDS:,} records and matching them in batch ...", flush=True)
    with Store.open(path) as store:
        _import(store, records, "crm", MAPPING, "customer_id")
        report = match_identities(store, MatchSettings())
        profiles = store.stats()["profiles"]
    prepared = {
        "requested": RECORDS,
        "profiles": profiles,
        "records": report.records,
        "seconds": report.seconds,
    }
    about.write_text(json.dumps(prepared))
    return prepared


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kenning-bench-realtime-") as tmp:
        directory = Path(tmp)
        source = Path(CACHE) if CACHE else directory / "prepared"
        source.mkdir(parents=True, exist_ok=True)
        prepared = prepare(source)
        profiles = prepared["profiles"]
        samples = _sample(source / "records.csv", REQUESTS, random.Random(7))
        path = directory / "kenning.duckdb"
        shutil.copy(source / "kenning.duckdb", path)
        with Store.open(path) as store, store.reader() as con:
            row = con.execute("SELECT coalesce(max(id), 0) FROM __kenning_identity_links")
            links_before = int(row.fetchall()[0][0])
        print(f"{profiles:,} profiles; serving ...", flush=True)
        result = measure(path, samples)
        merged, false = _merged(path, links_before)
    timings = result["timings"]
    health = summary(timings["health"])
    rows = [
        "| measure | Kenning | reference |",
        "|---|---:|---:|",
    ]
    for label, name in (
        ("a known customer typed again (one typo, new device)", "retyped"),
        ("a brand-new person", "new"),
    ):
        median, p99 = summary(timings[name])
        rows.append(
            f"| {label}, matched against {profiles:,} profiles (HTTP, acknowledged after the "
            f"commit; {REQUESTS:,} sequential requests) | median {median:.1f} ms, p99 "
            f"{p99:.1f} ms | `GET /health` median {health[0]:.1f} ms, p99 {health[1]:.1f} ms |"
        )
    rows += [
        f"| retyped customers merged with their profile in real time | {merged - false:,} of "
        f"{REQUESTS:,} | |",
        f"| brand-new people merged with someone (false merges) | {false:,} of {REQUESTS:,} | |",
        f"| server start-up (graph, model and {prepared['records']:,} records loaded) "
        f"| {result['startup']:.0f} s | |",
        f"| the batch run that trained the model | {prepared['seconds']:.0f} s | |",
    ]
    write_section(
        "realtime-matching",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}. `make bench` (or "
        "`.venv/bin/python -m bench realtime`); "
        f"{RECORDS:,} synthetic offline records (`KENNING_BENCH_REALTIME_RECORDS`) matched "
        "once in batch, then a server on the store. Splink's incremental path "
        "(`find_matches_to_new_records`) is documented at 273 ms against 5,000 records.\n\n"
        + "\n".join(rows),
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
