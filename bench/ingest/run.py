"""The ingest benchmark: single events and batches of 100, Kenning against a null endpoint.

wrk (one thread, C) generates the load on the same 2-core machine; the server is Kenning's own,
with a null route that reads the body and answers (see nullapp.py). Each scenario runs the null
endpoint and Kenning back to back, and the figures are reported as a ratio of the two.
"""

import base64
import os
import platform
import re
import shutil
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

import duckdb
import httpx

from bench.results import write_section

HERE = Path(__file__).parent
TOKEN = "kn_bench_admin"
WARMUP_SECONDS = 3
RUN_SECONDS = int(os.environ.get("KENNING_BENCH_SECONDS", "15"))


@dataclass(frozen=True)
class Scenario:
    name: str
    events_per_request: int
    path: str
    null_path: str
    connections: int
    # KENNING_INGEST_WORKERS of the server; None: the default (one on a machine of 2 cores).
    ingest_workers: int | None = None


SCENARIOS = (
    Scenario("single events", 1, "/v1/track", "/v1/null/track", 32),
    Scenario("single events", 1, "/v1/track", "/v1/null/track", 64),
    Scenario("batches of 100", 100, "/v1/batch", "/v1/null/batch", 16),
    # The same load against a null route that also parses the JSON: the least any endpoint
    # reading the messages does, where the plain null route only reads the bytes.
    Scenario("batches of 100, null route parsing", 100, "/v1/batch", "/v1/parsed/batch", 16),
    # The same without the worker: what preparing batches beside the server is worth.
    Scenario("batches of 100, no ingest worker", 100, "/v1/batch", "/v1/null/batch", 16, 0),
)


@dataclass(frozen=True)
class Figures:
    requests: int
    ok: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    def events_per_second(self, per_request: int) -> float:
        return self.ok * per_request / self.seconds


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (Debian package) for the load generator ...")
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed for the ingest benchmark: apt-get install wrk")
    return found


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(
    binary: str, url: str, auth: str, per_request: int, connections: int, seconds: int
) -> Figures:
    output = subprocess.run(
        [
            binary,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-H",
            f"Authorization: {auth}",
            "-H",
            "Content-Type: application/json",
            "-s",
            str(HERE / "load.lua"),
            url,
            "--",
            _path(url),
            str(per_request),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", output).group(1))  # type: ignore[union-attr]
    duration = _ms(re.search(r"requests in ([\d.]+\w+)", output).group(1)) / 1000  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = sum(int(g) for g in socket.groups()) if socket else 0
    bad = int(non_2xx.group(1)) if non_2xx else 0
    return Figures(
        requests=requests,
        ok=requests - bad,
        seconds=duration,
        p50_ms=_ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),  # type: ignore[union-attr]
        errors=errors + bad,
    )


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def stored_events(base: str) -> int:
    response = httpx.get(
        base + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    )
    response.raise_for_status()
    return int(response.json()["events"])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}"
    )


def main() -> None:
    binary = ensure_wrk()
    rows: list[str] = []
    summary: list[str] = []
    for workers in dict.fromkeys(s.ingest_workers for s in SCENARIOS):
        with _server(workers) as (base, auth):
            for scenario in SCENARIOS:
                if scenario.ingest_workers == workers:
                    row, line = _run(binary, base, auth, scenario)
                    rows.append(row)
                    summary.append(line)
                    print(row, flush=True)
    table = "\n".join(
        [
            "| scenario | Kenning events/s | p50 ms | p99 ms | null events/s | null p50 ms "
            "| null p99 ms | Kenning / null | check |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
        ]
    )
    write_section(
        "ingest",
        (
            f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}. `make bench` "
            f"(or `.venv/bin/python -m bench ingest`); wrk with one thread on the same machine, "
            f"{RUN_SECONDS} s per run after a {WARMUP_SECONDS} s warm-up; each event ~700 bytes. "
            "Latency is the acknowledgement: the answer comes after the commit. "
            "The null endpoint is a route in the same server process that reads the body "
            "and answers, served as the collection routes are (by their front, "
            "api/collect.py CollectionFront, and with its body left to it by the hardening "
            "middleware); in the row 'null route parsing' the null "
            "route also parses the body with orjson. The server prepares batch bodies of "
            "8 KB or more in an ingest worker process (ingest/workers.py; one, the default on "
            "2 cores); the last row is "
            "the same load on a server without it, in the same run. Two pauses of the writer "
            "make the p99 under sustained batch load: "
            "the compaction of computed traits' tallies (profiles/computed/stage.py: about "
            "0.2 s, done when the writer is idle, or under load once 800,000 tally rows are "
            "waiting: every 90,000 of these events) and DuckDB's automatic checkpoint (every "
            "256 MB of write-ahead log, up to a second); the writer checkpoints when idle "
            "otherwise.\n\n" + table
        ),
    )
    print("\n".join(summary))


@contextmanager
def _server(ingest_workers: int | None) -> Iterator[tuple[str, str]]:
    """A benchmark server on a fresh store, its URL and a source's Basic authorization."""
    workdir = Path(tempfile.mkdtemp(prefix="kenning-bench-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KENNING_ADMIN_TOKEN": TOKEN}
    if ingest_workers is not None:
        env["KENNING_INGEST_WORKERS"] = str(ingest_workers)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.ingest.nullapp",
            "--db",
            str(workdir / "bench.duckdb"),
            "--port",
            str(port),
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(base)
        key = httpx.post(
            base + "/v1/sources",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()["write_key"]
        yield base, "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _run(binary: str, base: str, auth: str, scenario: Scenario) -> tuple[str, str]:
    """The scenario's table row and summary line: the null route, then Kenning's."""
    for path in (scenario.null_path, scenario.path):
        wrk(
            binary,
            base + path,
            auth,
            scenario.events_per_request,
            scenario.connections,
            WARMUP_SECONDS,
        )
    null = wrk(
        binary,
        base + scenario.null_path,
        auth,
        scenario.events_per_request,
        scenario.connections,
        RUN_SECONDS,
    )
    before = stored_events(base)
    real = wrk(
        binary,
        base + scenario.path,
        auth,
        scenario.events_per_request,
        scenario.connections,
        RUN_SECONDS,
    )
    time.sleep(0.5)
    stored = stored_events(base) - before
    acked = real.ok * scenario.events_per_request
    per = scenario.events_per_request
    ratio = real.events_per_second(per) / null.events_per_second(per)
    row = (
        f"| {scenario.name} ({scenario.connections} connections) "
        f"| {real.events_per_second(per):,.0f} | {real.p50_ms:.1f} | {real.p99_ms:.1f} "
        f"| {null.events_per_second(per):,.0f} | {null.p50_ms:.1f} | {null.p99_ms:.1f} "
        f"| {ratio:.0%} | {acked:,} acknowledged, {stored:,} stored, "
        f"{real.errors} errors |"
    )
    line = (
        f"{scenario.name}: {real.events_per_second(per):,.0f} events/s, "
        f"p99 {real.p99_ms:.1f} ms, {ratio:.0%} of null"
    )
    return row, line


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the benchmark server did not start")
