"""Event to webhook in real time: how long after a qualifying event its webhook arrives.

A real server (``kenning serve`` in a subprocess, on a fresh store) and a real receiver on
loopback (``receiver.py``, in this process). Declared through the API as a user would: a
source, the audience ``big_order`` (an ``Order Completed`` with a total of 100 or more) and a
webhook destination taking its entries. Then qualifying events (probes) are sent at a fixed
rate, each for a user never seen before, so each makes exactly one ``Audience Entered``:

- ``idle``: nothing else reaches the server (the reference);
- ``loaded``: steady background ingest (``load.py``, its own process: batches of many users'
  events, none qualifying) runs from a warm-up before the first probe until after the last.

Each probe's times: sent and acknowledged (here), the entry's recorded time (the evaluator
stamps it when it starts evaluating; read back through ``GET /v1/profiles/{id}/audiences``),
and the webhook's arrival (the receiver). A webhook names the profile, not the user; each
probe's user id is looked up afterwards (``GET /v1/profiles/user_id:<id>``), which is exact
because probe users are fresh and send one event (no merge can move them).

The same is then measured for the other route, an event-triggered campaign (its message is
scheduled in the ingest transaction and decided by the dispatcher): the destination is
declared again without the audience, so only the campaign's messages arrive. Last, the
campaign under load once more after the audience is removed: the real-time evaluator then
has no audience to evaluate, and the difference is what its work costs the rest.
"""

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.activation.receiver import Received, receiving
from bench.ingest.run import TOKEN, _free_port, _wait

PROBE_RATE = float(os.environ.get("KENNING_BENCH_ACTIVATION_PROBES", "5"))  # a second
LOADED_SECONDS = float(os.environ.get("KENNING_BENCH_ACTIVATION_SECONDS", "60"))
IDLE_SECONDS = max(10.0, LOADED_SECONDS / 2)
INGEST_RATE = float(os.environ.get("KENNING_BENCH_ACTIVATION_RATE", "1000"))  # events a second
INGEST_BATCH = 50  # events a request: 20 requests a second at 1,000 events a second
WARMUP_SECONDS = 10.0
DRAIN_SECONDS = 60.0  # how long to wait for the last webhooks
TARGET_P99_S = 1.0
AUDIENCE = "big_order"
DESTINATION = "hook"
CAMPAIGN = "thanks"
QUALIFYING = {"properties.total": {"gte": 100}}
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Probe:
    user: str
    sent: float
    acknowledged: float | None = None
    profile_id: int | None = None
    entered: float | None = None  # the entry's recorded time (audience route)
    arrived: float | None = None


@dataclass
class Phase:
    route: str  # audience, campaign
    loaded: bool
    seconds: float
    audience_declared: bool = True  # False: the campaign alone, the evaluator idle
    probes: list[Probe] = field(default_factory=list)
    load: dict[str, Any] | None = None  # load.py's summary
    server_cpu: float = 0.0  # cores, over the probes' time
    other_cpu: float = 0.0  # cores used by neither the server nor the load process

    @property
    def name(self) -> str:
        return self.route + ("" if self.audience_declared else " (no audience declared)")

    @property
    def label(self) -> str:
        background = f"{INGEST_RATE:,.0f} events/s background" if self.loaded else "idle"
        return f"{self.name}, {background}"

    def arrived(self) -> list[Probe]:
        return [p for p in self.probes if p.arrived is not None and p.acknowledged is not None]

    def latencies(self, start: str, end: str = "arrived") -> list[float]:
        values = []
        for probe in self.arrived():
            a, b = getattr(probe, start), getattr(probe, end)
            if a is not None and b is not None:
                values.append(b - a)
        return sorted(values)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q% of the values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the server ----------------------------------------------------------------------------


@dataclass
class Server:
    process: "subprocess.Popen[bytes]"
    base: str
    key: str  # the source's write key

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy so far (all processes, all cores)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving(workdir: Path) -> Iterator[Server]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KENNING_ADMIN_TOKEN": TOKEN, "KENNING_ALLOW_PRIVATE_DESTINATIONS": "1"}
    with (workdir / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kenning", "serve", "--db", str(workdir / "kenning.duckdb"),
             "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait(base)
        answer = httpx.post(base + "/v1/sources", json={"name": "web"}, headers=ADMIN)
        answer.raise_for_status()
        yield Server(process, base, answer.json()["write_key"])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _put(server: Server, path: str, body: dict[str, Any]) -> None:
    answer = httpx.put(server.base + path, json=body, headers=ADMIN, timeout=60)
    if answer.status_code != 200:
        raise RuntimeError(f"PUT {path}: {answer.status_code} {answer.text}")


def declare_audience_route(server: Server, url: str) -> None:
    condition = {"event": "Order Completed", "where": QUALIFYING}
    _put(server, f"/v1/audiences/{AUDIENCE}", {"condition": condition})
    _put(server, f"/v1/destinations/{DESTINATION}", _destination(url, [AUDIENCE]))


def declare_campaign_route(server: Server, url: str) -> None:
    """The destination without the audience (only the campaign's messages arrive), and the
    campaign: each qualifying order, a webhook message."""
    _put(server, f"/v1/destinations/{DESTINATION}", _destination(url, []))
    campaign = {
        "trigger": {"event": "Order Completed", "where": QUALIFYING},
        "message": {"body": "hi {{ traits.first_name }}"},
        "channel": "webhook",
        "channels": {"webhook": {"destination": DESTINATION}},
    }
    _put(server, f"/v1/campaigns/{CAMPAIGN}", campaign)


def _destination(url: str, audiences: list[str]) -> dict[str, Any]:
    return {
        "kind": "webhook",
        "config": {"url": url, "secret": "bench-activation-secret"},
        "audiences": audiences,
    }


# -- a phase -------------------------------------------------------------------------------


def _send_probes(server: Server, phase: Phase, tag: str) -> None:
    """Probes at PROBE_RATE for phase.seconds, each due at its time (open loop)."""
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=server.base, auth=(server.key, ""), timeout=60)
        made: httpx.Client = local.client
        return made

    def send(probe: Probe, n: int) -> None:
        body = {
            "type": "track",
            "userId": probe.user,
            "event": "Order Completed",
            "messageId": f"probe-{tag}-{n}",
            "properties": {"total": 150.0, "revenue": 150.0, "currency": "EUR"},
        }
        probe.sent = time.time()
        answer = client().post("/v1/track", json=body)
        if answer.status_code == 200:
            probe.acknowledged = time.time()

    count = int(PROBE_RATE * phase.seconds)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for n in range(count):
            wait = started + n / PROBE_RATE - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            probe = Probe(user=f"probe-{tag}-{n}", sent=time.time())
            phase.probes.append(probe)
            pool.submit(send, probe, n)


def _wait_for_arrivals(phase: Phase, received: Received, kind: str) -> None:
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        if sum(a.kind == kind for a in received.arrivals()) >= len(phase.probes):
            return
        time.sleep(0.5)


def _match(server: Server, phase: Phase, received: Received, kind: str) -> None:
    """Each probe's profile (looked up by its user id), entry time and webhook arrival."""
    arrivals = {a.profile_id: a for a in received.arrivals() if a.kind == kind}
    with httpx.Client(base_url=server.base, headers=ADMIN, timeout=60) as client:
        for probe in phase.probes:
            answer = client.get(f"/v1/profiles/user_id:{probe.user}")
            if answer.status_code != 200:
                continue
            probe.profile_id = int(answer.json()["profile_id"])
            arrival = arrivals.get(probe.profile_id)
            if arrival is not None:
                probe.arrived = arrival.at
            if kind == "audience":
                changes = client.get(f"/v1/profiles/user_id:{probe.user}/audiences").json()
                for change in changes["changes"]:
                    if change["audience"] == AUDIENCE and change["event"] == "Audience Entered":
                        probe.entered = datetime.fromisoformat(change["at"]).timestamp()


def run_phase(
    server: Server,
    received: Received,
    route: str,
    loaded: bool,
    seconds: float,
    audience_declared: bool = True,
) -> Phase:
    phase = Phase(route, loaded, seconds, audience_declared)
    kind = "audience" if route == "audience" else "message"
    tag = f"{route}-{'loaded' if loaded else 'idle'}{'' if audience_declared else '-alone'}"
    load: subprocess.Popen[bytes] | None = None
    if loaded:
        load = subprocess.Popen(
            # --key=: a write key may begin with "-".
            [sys.executable, "-m", "bench.activation.load", f"--url={server.base}",
             f"--key={server.key}", f"--tag={tag}", f"--rate={INGEST_RATE}",
             f"--batch={INGEST_BATCH}", f"--seconds={WARMUP_SECONDS + seconds + 2}"],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(WARMUP_SECONDS)
    before = time.perf_counter()
    server_before, busy_before = server.cpu_seconds(), busy_cpu_seconds()
    load_before = process_cpu_seconds(load.pid) if load else 0.0
    own_before = sum(os.times()[:2])
    _send_probes(server, phase, tag)
    elapsed = time.perf_counter() - before
    server_cpu = server.cpu_seconds() - server_before
    load_cpu = (process_cpu_seconds(load.pid) - load_before) if load else 0.0
    own_cpu = sum(os.times()[:2]) - own_before
    other = busy_cpu_seconds() - busy_before - server_cpu - load_cpu - own_cpu
    phase.server_cpu, phase.other_cpu = server_cpu / elapsed, max(0.0, other / elapsed)
    if load is not None:
        out, _ = load.communicate(timeout=WARMUP_SECONDS + seconds + 120)
        if load.returncode != 0:
            raise RuntimeError(f"the background load failed (exit {load.returncode})")
        phase.load = orjson.loads(out)
    _wait_for_arrivals(phase, received, kind)
    _match(server, phase, received, kind)
    return phase


def measure(workdir: Path) -> list[Phase]:
    """Both routes, idle then loaded; then the campaign under load once more with the audience
    removed, so the real-time evaluator has nothing to do: what it costs the rest."""
    phases: list[Phase] = []
    with receiving() as (url, received), serving(workdir) as server:
        declare_audience_route(server, url)
        for loaded in (False, True):
            phases.append(run_phase(server, received, "audience", loaded, _seconds(loaded)))
            _report(phases[-1])
        declare_campaign_route(server, url)
        for loaded in (False, True):
            phases.append(run_phase(server, received, "campaign", loaded, _seconds(loaded)))
            _report(phases[-1])
        answer = httpx.delete(f"{server.base}/v1/audiences/{AUDIENCE}", headers=ADMIN, timeout=60)
        answer.raise_for_status()
        phases.append(run_phase(server, received, "campaign", True, LOADED_SECONDS, False))
        _report(phases[-1])
    return phases


def _seconds(loaded: bool) -> float:
    return LOADED_SECONDS if loaded else IDLE_SECONDS


def _report(phase: Phase) -> None:
    found = phase.latencies("acknowledged")
    load = phase.load or {}
    print(
        f"{phase.label}: {len(found)}/{len(phase.probes)} arrived; acknowledged -> webhook "
        f"p50 {1000 * median(found):.0f} ms, p99 {1000 * percentile(found, 99):.0f} ms, "
        f"max {1000 * max(found, default=float('nan')):.0f} ms; server {phase.server_cpu:.2f} "
        f"cores; background {load.get('rate', 0):,.0f} events/s",
        flush=True,
    )
