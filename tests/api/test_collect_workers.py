"""Batches prepared in an ingest worker answer and store what the server's own preparing does.

Two live servers, one with a worker and one without, are sent the same bodies; each body is
large enough to go to the worker (api/collect.py ``_POOLED_BYTES``).
"""

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.live import LiveServer, wait_gone

# Stored columns and payloads that do not depend on when the server received the event.
_KEPT = ("messageId", "type", "event", "userId", "anonymousId", "payload")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveServer]]:
    root = tmp_path_factory.mktemp("workers")
    started = {
        workers: LiveServer(
            root / f"w{workers}.duckdb", env={"KENNING_INGEST_WORKERS": workers}
        ).start()
        for workers in ("0", "1")
    }
    yield started
    for live in started.values():
        live.stop()


def _pad() -> str:
    return "x" * 200


def _mixed_batch(tag: str) -> dict[str, Any]:
    """Valid messages, invalid ones of several kinds, a copy within the batch, and fields
    given once for the batch: over 8 KB."""
    batch: list[Any] = [
        {
            "type": "track",
            "userId": f"{tag}-u{i}",
            "event": "Product Viewed",
            "messageId": f"{tag}-m{i}",
            "timestamp": "2026-01-01T10:00:00Z",
            "properties": {"note": _pad(), "price": i},
        }
        for i in range(40)
    ]
    batch += [
        {"type": "track", "userId": f"{tag}-bad", "messageId": f"{tag}-noevent"},  # no event
        {"type": "shout", "userId": f"{tag}-bad", "messageId": f"{tag}-type"},  # no such type
        {"type": "identify", "messageId": f"{tag}-noid", "traits": {"n": 1}},  # nobody
        "not a message",
        {"type": "track", "userId": 7, "event": "E", "messageId": f"{tag}-num"},  # id as text
        {**batch[0]},  # a second copy of the first message
        {
            "type": "identify",
            "anonymousId": f"{tag}-a",
            "messageId": f"{tag}-ctx",
            "context": {"ip": "203.0.113.9"},
            "traits": {"email": f"{tag}@example.com"},
        },
    ]
    return {
        "batch": batch,
        "sentAt": "2026-01-01T10:00:05Z",
        "context": {"library": {"name": "bench"}, "locale": "en-GB"},
        "integrations": {"All": True},
    }


def _send(live: LiveServer, body: bytes) -> tuple[httpx.Response, str]:
    name = f"s-{uuid.uuid4().hex[:8]}"
    key = live.create_source(name)
    response = httpx.post(
        live.url + "/v1/batch",
        content=body,
        auth=(key, ""),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    return response, name


def _stored(live: LiveServer, source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with live.admin() as admin:
        events = admin.get("/v1/events/export", params={"source": source})
        events.raise_for_status()
        sources = {s["name"]: s["id"] for s in admin.get("/v1/sources").json()["sources"]}
        items = admin.get("/v1/quarantine", params={"status": "all", "limit": 10_000})
        items.raise_for_status()
    rows = [orjson.loads(line) for line in events.content.splitlines() if line]
    kept = sorted(({k: row[k] for k in _KEPT} for row in rows), key=lambda r: r["messageId"])
    held = sorted(
        (
            {k: item[k] for k in ("code", "message", "field", "payload")}
            for item in items.json()["items"]
            if item["source_id"] == sources[source]
        ),
        key=lambda item: str(item["field"]),
    )
    return kept, held


def _workers(live: LiveServer) -> set[int]:
    """The server's ingest workers (its children's children), after checking that none died
    or refused a request so far."""
    log = live.log.read_text()
    assert "ingest worker died" not in log and "ingest pool refused" not in log
    assert live.process is not None
    children = _children(live.process.pid, depth=1)
    return _children(live.process.pid) - children


def _children(pid: int, depth: int | None = None) -> set[int]:
    """The processes whose parent is ``pid``, and theirs (to ``depth`` levels), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    level = 0
    while frontier and (depth is None or level < depth):
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
        level += 1
    return found


def test_a_mixed_batch_answers_and_stores_the_same_through_a_worker(
    servers: dict[str, LiveServer],
) -> None:
    body = orjson.dumps(_mixed_batch("mix"))
    assert len(body) > 8_192
    outcomes = {}
    for workers, live in servers.items():
        response, source = _send(live, body)
        assert response.status_code == 200, response.text
        outcomes[workers] = (response.json(), *_stored(live, source))
    answer, events, held = outcomes["1"]
    assert (answer, events, held) == outcomes["0"]
    assert answer["accepted"] == 43 and answer["duplicates"] == 1
    assert [r["field"] for r in answer["rejected"]] == [
        "batch[40].event",
        "batch[41].type",
        "batch[42].userId",
        "batch[43]",
    ]
    assert len(events) == 42 and len(held) == 4
    by_id = {e["messageId"]: e for e in events}
    assert by_id["mix-num"]["userId"] == "7"
    assert by_id["mix-ctx"]["payload"]["context"] == {
        "library": {"name": "bench"},
        "locale": "en-GB",
        "ip": "203.0.113.9",
    }
    # a worker did prepare it: the server with one has a worker (its fork server's child) and
    # logged no death (a dead worker's request is prepared in the server); the other has none
    assert _workers(servers["1"])
    assert not _children(servers["0"].process.pid)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b'{"batch": [' + b'{"type": "track"},' * 600 + b"]", 400, "invalid_json", None),
        (orjson.dumps({"batch": {"x": "y" * 9_000}}), 400, "invalid_request", "batch"),
        (
            orjson.dumps({"batch": [{"type": "track", "userId": "u", "event": "E"}] * 2_501}),
            400,
            "batch_too_large",
            "batch",
        ),
        (orjson.dumps([{"x": "y" * 9_000}]), 400, "invalid_json", None),
    ],
)
def test_a_refused_body_is_refused_alike_through_a_worker(
    servers: dict[str, LiveServer], body: bytes, status: int, code: str, field: str | None
) -> None:
    assert len(body) > 8_192
    answers = []
    for live in servers.values():
        response, source = _send(live, body)
        assert response.status_code == status
        answers.append(response.json())
        assert _stored(live, source) == ([], [])
    assert answers[0] == answers[1]
    assert answers[1]["code"] == code and answers[1]["field"] == field
    assert _workers(servers["1"])


def test_a_rate_limited_source_is_refused_through_a_worker(
    servers: dict[str, LiveServer],
) -> None:
    live = servers["1"]
    key = live.create_source(f"limited-{uuid.uuid4().hex[:6]}", rate_limit=5)
    body = orjson.dumps(
        {
            "batch": [
                {"type": "track", "userId": "u", "event": "E", "properties": {"p": _pad()}}
                for _ in range(50)
            ]
        }
    )
    # A batch larger than the bucket overdraws it once; the next is refused.
    first, response = (
        httpx.post(live.url + "/v1/batch", content=body, auth=(key, ""), timeout=60)
        for _ in range(2)
    )
    assert first.status_code == 200
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    # The rate is asked before the worker reads the body: a body it would refuse as bad
    # JSON is refused for the rate, unread.
    unread = httpx.post(live.url + "/v1/batch", content=body[:-1], auth=(key, ""), timeout=60)
    assert unread.status_code == 429 and unread.json()["code"] == "rate_limited"
    assert _workers(live)


def test_the_workers_exit_when_their_server_is_killed(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "k.duckdb", env={"KENNING_INGEST_WORKERS": "1"}).start()
    try:
        response, _ = _send(live, orjson.dumps(_mixed_batch("kill")))
        assert response.status_code == 200
        workers = _workers(live)
        assert workers
    finally:
        live.kill()
    left = wait_gone(workers)
    for pid in left:  # leave no process behind, whatever the assertion says
        os.kill(pid, signal.SIGKILL)
    assert not left
