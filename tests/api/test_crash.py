"""Durability: a 2xx means committed. SIGKILL the server under load, again and again."""

import random
import threading
import uuid
from collections import Counter
from pathlib import Path

import httpx
import orjson

from tests.live import LiveServer

RESTARTS = 10
# Batches over 8 KB, so that they are prepared in the server's ingest worker (api/collect.py)
# while single events are prepared in the server: both paths are killed under load.
_NOTE = {"note": "x" * 400}


def _load(url: str, write_key: str, acked: list[str], stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, auth=(write_key, ""), timeout=5) as client:
        while not stop.is_set():
            batch = [uuid.uuid4().hex for _ in range(rng.choice((1, 1, 25)))]
            try:
                if len(batch) == 1:
                    response = client.post(
                        "/v1/track", json={"userId": "u", "event": "E", "messageId": batch[0]}
                    )
                else:
                    response = client.post(
                        "/v1/batch",
                        json={
                            "batch": [
                                {
                                    "type": "track",
                                    "userId": "u",
                                    "event": "E",
                                    "messageId": m,
                                    "properties": _NOTE,
                                }
                                for m in batch
                            ]
                        },
                    )
            except httpx.HTTPError:
                continue  # the server is down: not acknowledged, nothing to check
            if response.status_code == 200:
                acked.extend(batch)


def test_no_acknowledged_event_is_lost_or_duplicated_across_sigkills(tmp_path: Path) -> None:
    rng = random.Random(7)
    server = LiveServer(tmp_path / "crash.duckdb").start()
    write_key = server.create_source("crash")
    acked: list[str] = []
    try:
        for cycle in range(RESTARTS):
            stop = threading.Event()
            senders = [
                threading.Thread(
                    target=_load, args=(server.url, write_key, acked, stop, cycle * 10 + i)
                )
                for i in range(4)
            ]
            for sender in senders:
                sender.start()
            threading.Event().wait(rng.uniform(0.3, 1.2))
            server.kill()
            stop.set()
            for sender in senders:
                sender.join()
            server.start()
            # A client that did not hear the answer retries: the retry must not duplicate.
            retry = rng.sample(acked, min(50, len(acked)))
            response = httpx.post(
                server.url + "/v1/batch",
                auth=(write_key, ""),
                json={
                    "batch": [
                        {
                            "type": "track",
                            "userId": "u",
                            "event": "E",
                            "messageId": m,
                            "properties": _NOTE,
                        }
                        for m in retry
                    ]
                },
            )
            assert response.status_code == 200
        with server.admin() as admin:
            exported = admin.get("/v1/events/export", params={"source": "crash"}).content
    finally:
        server.stop()

    stored = Counter(orjson.loads(line)["messageId"] for line in exported.splitlines())
    assert len(acked) > 500, "the load generator should have been acknowledged many times"
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events were lost"
    assert max(stored.values()) == 1, "an event was stored twice"
