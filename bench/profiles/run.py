"""The profiles benchmark: a store of a million profiles, and what it costs to use them.

Sections, each a function over the built store (``store.build_store``), each giving its part of
the RESULTS.md section:

- ``store_section``: what the store holds and how long building it took;
- ``lookup_section``: Profile API lookup latency at fixed request rates (open loop, see
  openloop.py) against a real server on the store, beside a null route in the same process
  (server.py) at the same rates.

Sizes and the cache: ``KENNING_BENCH_PROFILES_PEOPLE`` (default 1,000,000),
``KENNING_BENCH_PROFILES_EVENTS_PER_PERSON`` (20), ``KENNING_BENCH_PROFILES_CACHE`` (a
directory to keep the built store in and reuse). The runs: ``KENNING_BENCH_PROFILES_RATES``
(requests/s, default 200,1000), ``KENNING_BENCH_PROFILES_SECONDS`` (per run, default 20).
"""

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx

from bench.ingest.run import TOKEN, _free_port, _wait, ensure_wrk, machine
from bench.profiles.openloop import Figures, open_loop
from bench.profiles.server import NULL_PATH
from bench.profiles.store import CACHE, BuiltStore, build_store, console
from bench.results import write_section

RATES = tuple(
    float(r) for r in os.environ.get("KENNING_BENCH_PROFILES_RATES", "200,1000").split(",")
)
RUN_SECONDS = float(os.environ.get("KENNING_BENCH_PROFILES_SECONDS", "20"))
WARMUP_SECONDS = 5.0
CAPACITY_SECONDS = 10
HERE = Path(__file__).parent
CONNECTIONS = 16
TARGET_P99_MS = 10.0
# Which identifiers the lookups use, and how often: what a website or an app holds.
IDENTIFIER_MIX = {"email": 0.45, "user_id": 0.45, "anonymous_id": 0.10}
LOOKUPS = 100_000


@dataclass(frozen=True)
class Route:
    label: str
    template: str  # {identifier} is replaced


ROUTES = (
    Route("`GET /v1/profiles/{id}`", "/v1/profiles/{identifier}"),
    Route("`GET /v1/profiles/{id}/traits`", "/v1/profiles/{identifier}/traits"),
)
NULL = Route("null route (same auth, answers at once)", NULL_PATH + "/{identifier}")


@dataclass
class Server:
    process: "subprocess.Popen[bytes]"
    port: int
    startup_seconds: float

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy so far (all processes, all cores)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def sample_identifiers(path: Path, count: int) -> list[str]:
    """``count`` identifiers held by profiles of the store, in the IDENTIFIER_MIX, shuffled."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        chosen: list[str] = []
        for type_, share in IDENTIFIER_MIX.items():
            rows = con.execute(
                """SELECT value FROM __kenning_identifiers WHERE type = ?
                   ORDER BY hash(value) LIMIT ?""",
                [type_, round(count * share)],
            ).fetchall()
            chosen += [f"{type_}:{value}" for (value,) in rows]
    finally:
        con.close()
    random.Random(7).shuffle(chosen)
    return chosen


@contextmanager
def serving(path: Path) -> Iterator[Server]:
    port = _free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.profiles.server", "--db", str(path), "--port", str(port)],
        env={**os.environ, "KENNING_ADMIN_TOKEN": TOKEN},
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{port}", seconds=1_800)  # start-up loads the identity graph
        yield Server(process, port, time.perf_counter() - started)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass(frozen=True)
class Documents:
    count: int
    seconds: float  # waited for the server to build the missing ones


def wait_for_documents(server: Server) -> Documents:
    """Wait until the server has built every profile's document (profiles/documents.py): the
    first time it opens the store, it builds them while idle."""
    started = time.perf_counter()
    while True:
        figures = httpx.get(
            f"http://127.0.0.1:{server.port}/v1/stats",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=120,
        ).json()
        if figures["profile_documents"] >= figures["profiles"]:
            return Documents(figures["profile_documents"], time.perf_counter() - started)
        console.print(
            f"profile documents: {figures['profile_documents']:,} of {figures['profiles']:,}"
        )
        time.sleep(10)


def read_token(server: Server) -> str:
    """A token scoped ``profiles:read`` only, made through the admin API as an admin would."""
    response = httpx.post(
        f"http://127.0.0.1:{server.port}/v1/tokens",
        json={"name": "bench-profiles", "scopes": ["profiles:read"]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


@dataclass
class Measured:
    route: Route
    figures: Figures
    server_cpu: float  # cores the server used on average during the run
    other_cpu: float  # cores used by neither the server nor this client: noise in the figures


def _paths(route: Route, identifiers: list[str]) -> list[str]:
    return [route.template.format(identifier=quote(i, safe=":@")) for i in identifiers]


def _run(
    server: Server, route: Route, identifiers: list[str], token: str, rate: float, seconds: float
) -> Measured:
    before = time.perf_counter()
    server_before, client_before, busy_before = (
        server.cpu_seconds(),
        sum(os.times()[:2]),
        _busy_cpu_seconds(),
    )
    figures = open_loop(
        "127.0.0.1",
        server.port,
        _paths(route, identifiers),
        headers={"Authorization": f"Bearer {token}"},
        rate=rate,
        seconds=seconds,
        connections=CONNECTIONS,
    )
    elapsed = time.perf_counter() - before
    server_cpu = server.cpu_seconds() - server_before
    client_cpu = sum(os.times()[:2]) - client_before
    other = _busy_cpu_seconds() - busy_before - server_cpu - client_cpu
    return Measured(route, figures, server_cpu / elapsed, max(0.0, other / elapsed))


def capacity(server: Server, route: Route, identifiers: list[str], token: str) -> float:
    """The most answers (200) a second the server gives on ``route``: closed loop (wrk, one
    thread, CONNECTIONS connections, each sending its next request when answered)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listed:
        listed.write("\n".join(_paths(route, identifiers)) + "\n")
        listed.flush()
        output = subprocess.run(
            [
                ensure_wrk(),
                "-t1",
                f"-c{CONNECTIONS}",
                f"-d{CAPACITY_SECONDS}s",
                "--timeout",
                "10s",
                "-H",
                f"Authorization: Bearer {token}",
                "-s",
                str(HERE / "paths.lua"),
                f"http://127.0.0.1:{server.port}/",
                "--",
                listed.name,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    found = re.search(r"(\d+) requests in ([\d.]+)s", output)
    if found is None:
        raise RuntimeError(f"wrk said: {output}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    answered = int(found.group(1)) - (int(bad.group(1)) if bad else 0)
    return answered / float(found.group(2))


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def _row(rate: float, measured: Measured, null: Measured) -> str:
    f, n = measured.figures, null.figures
    ratio = "" if measured is null else f"{f.percentile(99) / n.percentile(99):.1f}x"
    problems = f"{f.errors:,} errors" + (f", {f.unfinished:,} unanswered" if f.unfinished else "")
    return (
        f"| {rate:,.0f} | {measured.route.label} | {f.achieved:,.0f} | {_ms(f.median_ms)} "
        f"| {_ms(f.percentile(95))} | {_ms(f.percentile(99))} | {_ms(f.max_ms)} | {ratio} "
        f"| {measured.server_cpu:.2f} | {measured.other_cpu:.2f} | {f.response_bytes:,.0f} "
        f"| {problems} |"
    )


def store_section(built: BuiltStore) -> str:
    """What the store holds, and the build's stages with their times."""
    stages = "; ".join(f"{name} {seconds:.0f} s" for name, seconds in built.seconds.items())
    return (
        f"The store: {built.people:,} synthetic people, {built.events:,} events (about "
        f"{built.events_per_person:.0f} a person, the synthetic brand's kinds of messages from "
        f"8 sources, written by DuckDB in bulk: `bench/profiles/synthetic.py`), stitched and "
        f"profiled by Kenning's own rebuild: **{built.profiles:,} profiles** "
        f"({built.merged_profiles:,} more merged into them), {built.identifiers:,} identifiers, "
        f"{built.trait_rows:,} trait rows, {built.consent_rows:,} consent rows; "
        f"{built.file_bytes / 1e9:.1f} GB. Built in {built.build_seconds / 60:.1f} min "
        f"({stages}); kept and reused with `KENNING_BENCH_PROFILES_CACHE`."
    )


def lookup_section(built: BuiltStore) -> tuple[str, list[str]]:
    """Lookup latency at each of RATES, per route, beside the null route; the table and a
    one-line summary per rate."""
    identifiers = sample_identifiers(built.path, LOOKUPS)
    rows: list[str] = []
    summary: list[str] = []
    with serving(built.path) as server:
        console.print(f"server up in {server.startup_seconds:.0f} s")
        documents = wait_for_documents(server)
        token = read_token(server)
        offset = 0
        for rate in RATES:
            ran: list[Measured] = []
            for route in (NULL, *ROUTES):
                # Each run reads identifiers no earlier run of the benchmark has asked for.
                chunk = int(rate * (WARMUP_SECONDS + RUN_SECONDS))
                ids = (identifiers * 2)[offset : offset + chunk]
                offset = (offset + chunk) % len(identifiers)
                _run(server, route, ids, token, rate, WARMUP_SECONDS)
                time.sleep(1)
                measured = _run(
                    server, route, ids[int(rate * WARMUP_SECONDS) :], token, rate, RUN_SECONDS
                )
                ran.append(measured)
                console.print(_row(rate, measured, ran[0]), soft_wrap=True)
                time.sleep(2)
            null = ran[0]
            rows += [_row(rate, measured, null) for measured in ran]
            lookup = ran[1].figures
            summary.append(
                f"{rate:,.0f}/s: profile lookup p50 {lookup.median_ms:.1f} ms, p99 "
                f"{lookup.percentile(99):.1f} ms (null p99 {null.figures.percentile(99):.1f} ms)"
            )
        time.sleep(5)  # answers owed to runs that gave up waiting
        most = {route: capacity(server, route, identifiers, token) for route in (NULL, *ROUTES)}
    summary.append(
        "most answered/s (closed loop): "
        + ", ".join(f"{route.label} {value:,.0f}" for route, value in most.items())
    )
    table = "\n".join(
        [
            "| requests/s asked | route | answered/s | p50 ms | p95 ms | p99 ms | max ms "
            "| p99 / null p99 | server CPU (cores) | other CPU (cores) | body bytes | errors |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
        ]
    )
    text = (
        f"Profile lookups at a fixed rate (open loop: request n is due at n / rate whatever the "
        f"answers, latency counted from when it was due; `bench/profiles/openloop.py`, Python "
        f"asyncio and raw HTTP/1.1 on {CONNECTIONS} keep-alive connections, on the same 2 cores "
        f"as the server) against `kenning serve` on the store (server up in "
        f"{server.startup_seconds:.0f} s, the identity graph loaded; every profile's document "
        f"built: {documents.count:,}, waited for {documents.seconds:.0f} s; see "
        f"profiles/documents.py), with a `profiles:read` "
        f"token. {RUN_SECONDS:.0f} s per run after a {WARMUP_SECONDS:.0f} s warm-up at the "
        f"same rate, each run on identifiers not asked for before: "
        f"{', '.join(f'{share:.0%} {t}' for t, share in IDENTIFIER_MIX.items())}, picked at "
        f"random among the store's. The null route is in the same process behind the same "
        f"token check (`bench/profiles/server.py`). Requests still unanswered when a run gives up "
        f"waiting (60 s after the last was due) are left out of the percentiles, which are then "
        f"lower bounds. Other CPU: what processes other than the server and the client used of "
        f"the 2 cores during the run. Target: p99 at most {TARGET_P99_MS:.0f} ms at 200 "
        f"requests/s.\n\n{table}\n\n"
        f"The most the server answers a second, closed loop (wrk, one thread, {CONNECTIONS} "
        f"connections, each sending its next request when answered, {CAPACITY_SECONDS} s): "
        + ", ".join(f"{route.label} **{value:,.0f}**" for route, value in most.items())
        + "."
    )
    return text, summary


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kenning-bench-profiles-") as tmp:
        directory = Path(CACHE) if CACHE else Path(tmp) / "store"
        built = build_store(directory)
        lookups, summary = lookup_section(built)
    write_section(
        "profiles",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}. `make bench` (or "
        "`.venv/bin/python -m bench profiles`).\n\n" + store_section(built) + "\n\n" + lookups,
    )
    print("\n".join(summary))


if __name__ == "__main__":
    main()
