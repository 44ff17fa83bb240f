"""A new record resolved against a million profiles, through the running server.

A store is filled with PROFILES people (each a userId, an email and an anonymous id), then a
Kenning server is started on it, and single identify calls are sent one at a time: a returning
person on a new device (attaches to an existing profile), and a brand-new person (creates one).
The acknowledgement comes after the commit, in which the event was already resolved, so the
request latency is the resolution latency. The reference is `GET /health` on the same server.
"""

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.ingest.run import TOKEN, _free_port, _wait
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store

PROFILES = int(os.environ.get("KENNING_BENCH_PROFILES", "1000000"))
REQUESTS = 1_000
_GROUP = 2_000


def fill(path: Path) -> float:
    """Store PROFILES people through the writer; returns the seconds it took."""
    now = datetime.now(UTC)
    limits = Limits()
    started = time.perf_counter()
    with Store.open(path) as store:
        for first in range(0, PROFILES, _GROUP):
            messages = [
                {
                    "type": "identify",
                    "messageId": f"fill-{i}",
                    "userId": f"user-{i}",
                    "anonymousId": f"anon-{i}",
                    "traits": {"email": f"person{i}@example.com"},
                }
                for i in range(first, min(first + _GROUP, PROFILES))
            ]
            events = prepare_messages(
                messages, source_id="fill", received_at=now, limits=limits
            ).events
            store.write_events(events).result()
    return time.perf_counter() - started


def _timed(call: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    response = call(*args, **kwargs)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed * 1000


def measure(path: Path) -> dict[str, list[float]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "kenning", "serve", "--db", str(path), "--port", str(port)],
        env={**os.environ, "KENNING_ADMIN_TOKEN": TOKEN},
        stderr=subprocess.DEVNULL,
    )
    rng = random.Random(5)
    timings: dict[str, list[float]] = {"returning": [], "new": [], "health": []}
    try:
        _wait(base, seconds=600)  # start-up loads the graph of every profile
        admin = {"Authorization": f"Bearer {TOKEN}"}
        key = httpx.post(base + "/v1/sources", json={"name": "resolve"}, headers=admin).json()[
            "write_key"
        ]
        with httpx.Client(base_url=base, auth=(key, ""), timeout=30) as client:
            for n in range(REQUESTS):
                person = rng.randrange(PROFILES)
                returning = {
                    "anonymousId": f"new-device-{n}",
                    "traits": {"email": f"Person{person}@Example.com"},
                }
                newcomer = {
                    "anonymousId": f"walk-in-{n}",
                    "traits": {"email": f"newcomer{n}@example.com"},
                }
                timings["returning"].append(_timed(client.post, "/v1/identify", json=returning))
                timings["new"].append(_timed(client.post, "/v1/identify", json=newcomer))
                timings["health"].append(_timed(client.get, "/health"))
        stats = httpx.get(base + "/v1/stats", headers=admin).json()
        expected = PROFILES + REQUESTS
        if stats["profiles"] != expected:
            raise SystemExit(f"expected {expected:,} profiles, found {stats['profiles']:,}")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    return timings


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=100)[98]
