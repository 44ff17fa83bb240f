"""The Segment forwarder: end to end against a real Kenning server, and batching against a
scripted one."""

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from kenning.activation.destinations.base import (
    NOT_ATTEMPTED_ORDER,
    NOT_ATTEMPTED_UNREACHABLE,
    DestinationConfigError,
    DestinationContext,
)
from kenning.activation.destinations.segment import SegmentForward, batch_key
from tests.activation.destinations.make import delivery
from tests.activation.destinations.scripted import ScriptedServer
from tests.conftest import SourceUnderTest
from tests.live import LiveServer, free_port

LOCAL = DestinationContext(allow_private=True, timeout_seconds=1.0)
Rows = Callable[[], list[dict[str, Any]]]


def event(n: int, profile_id: int | None = None, **message: Any) -> Any:
    payload = {
        "type": "track",
        "event": "Order Completed",
        "messageId": f"m-{n}",
        "userId": f"user-{n}",
        "timestamp": "2026-02-01T10:00:00.000Z",
        "properties": {"total": n},
        **message,
    }
    return delivery(n, kind="event", payload=payload, profile_id=profile_id or n)


def forward(url: str, write_key: str = "wk", **config: Any) -> SegmentForward:
    return SegmentForward("fwd", {"url": url, "write_key": write_key, **config}, LOCAL)


def test_events_are_stored_by_a_real_kenning(
    server: LiveServer, source: SourceUnderTest, stored: Rows
) -> None:
    destination = forward(server.url, source.write_key)
    deliveries = [
        event(1),
        event(2, type="identify", event=None, traits={"email": "ada@example.com"}),
        event(3, type="page", event=None, name="Home", properties={"path": "/"}),
        # no messageId: the delivery's idempotency key becomes it
        event(4),
        # an old sentAt and a write key from the first collection are not forwarded
        event(5, originalTimestamp="2026-02-01T09:00:00.000Z", sentAt="2026-02-01T09:00:01Z"),
    ]
    del deliveries[3].payload["messageId"]
    del deliveries[4].payload["timestamp"]
    deliveries[4].payload["writeKey"] = "the-first-source-secret"
    try:
        outcomes = destination.send_many(deliveries)
    finally:
        destination.close()
    assert [(o.status, o.code) for o in outcomes] == [("delivered", 200)] * 5
    rows = {r["messageId"]: r for r in stored()}
    assert set(rows) == {"m-1", "m-2", "m-3", "key-4", "m-5"}
    assert rows["m-1"]["event"] == "Order Completed"
    assert rows["m-1"]["userId"] == "user-1"
    assert rows["m-1"]["timestamp"] == "2026-02-01T10:00:00.000000Z"
    assert rows["m-1"]["payload"]["properties"] == {"total": 1}
    assert rows["m-2"]["payload"]["traits"] == {"email": "ada@example.com"}
    assert rows["m-3"]["payload"]["name"] == "Home"
    # the event kept its own time: the receiver corrected skew over the forwarding hop only
    assert rows["m-5"]["timestamp"].startswith("2026-02-01T09:00:0")
    assert "writeKey" not in rows["m-5"]["payload"]


def test_forwarding_again_stores_once(
    server: LiveServer, source: SourceUnderTest, stored: Rows
) -> None:
    destination = forward(server.url, source.write_key)
    try:
        first = destination.send_many([event(1), event(2)])
        again = destination.send_many([event(1), event(2)])
    finally:
        destination.close()
    assert [o.status for o in first + again] == ["delivered"] * 4
    assert sorted(r["messageId"] for r in stored()) == ["m-1", "m-2"]


def test_a_wrong_write_key_fails(server: LiveServer) -> None:
    destination = forward(server.url, "not-a-write-key")
    try:
        [outcome] = destination.send_many([event(1)])
    finally:
        destination.close()
    assert (outcome.status, outcome.code) == ("failed", 401)
    assert outcome.response is not None


def test_batches_of_at_most_100(http_server: ScriptedServer) -> None:
    destination = forward(http_server.url + "/base/")
    try:
        outcomes = destination.send_many([event(n) for n in range(250)])
    finally:
        destination.close()
    assert [o.status for o in outcomes] == ["delivered"] * 250
    bodies = [orjson.loads(r.body) for r in http_server.requests]
    assert [len(b["batch"]) for b in bodies] == [100, 100, 50]
    assert [m["messageId"] for b in bodies for m in b["batch"]] == [f"m-{n}" for n in range(250)]
    first = http_server.requests[0]
    assert first.path == "/base/v1/batch"
    assert first.headers["authorization"] == "Basic d2s6"  # "wk:"
    assert first.headers["content-type"] == "application/json"
    assert first.headers["idempotency-key"] == batch_key([f"key-{n}" for n in range(100)])
    assert bodies[0]["sentAt"].endswith("Z")


def test_batches_stay_under_500_kb(http_server: ScriptedServer) -> None:
    destination = forward(http_server.url)
    big = "x" * 20_000
    try:
        outcomes = destination.send_many([event(n, properties={"blob": big}) for n in range(60)])
    finally:
        destination.close()
    assert [o.status for o in outcomes] == ["delivered"] * 60
    sizes = [len(r.body) for r in http_server.requests]
    assert all(size < 500_000 for size in sizes)
    assert sum(len(orjson.loads(r.body)["batch"]) for r in http_server.requests) == 60
    assert len(sizes) == 3


def test_what_cannot_be_forwarded_fails_alone(http_server: ScriptedServer) -> None:
    destination = forward(http_server.url)
    try:
        outcomes = destination.send_many(
            [event(1, properties={"blob": "x" * 40_000}), delivery(2), event(3)]
        )
    finally:
        destination.close()
    assert [(o.status, o.detail) for o in outcomes] == [
        ("failed", "message over 32000 bytes"),
        ("failed", "segment forwards event deliveries only"),
        ("delivered", "HTTP 200"),
    ]
    [request] = http_server.requests
    assert [m["messageId"] for m in orjson.loads(request.body)["batch"]] == ["m-3"]


def test_a_retried_batch_holds_its_profiles_later_events(http_server: ScriptedServer) -> None:
    http_server.script(500, 200)
    destination = forward(http_server.url)
    # 150 events, profiles 0-99 in the first batch; the last one is profile 7's again
    deliveries = [event(n, profile_id=n + 1000) for n in range(149)] + [event(149, 1007)]
    try:
        outcomes = destination.send_many(deliveries)
    finally:
        destination.close()
    assert {(o.status, o.code) for o in outcomes[:100]} == {("retry", 500)}
    assert {o.status for o in outcomes[100:149]} == {"delivered"}
    assert (outcomes[149].status, outcomes[149].detail) == ("retry", NOT_ATTEMPTED_ORDER)
    assert len(orjson.loads(http_server.requests[1].body)["batch"]) == 49


def test_an_endpoint_that_does_not_answer(http_server: ScriptedServer) -> None:
    destination = forward(f"http://127.0.0.1:{free_port()}")
    try:
        outcomes = destination.send_many([event(n) for n in range(150)])
    finally:
        destination.close()
    assert (outcomes[0].status, outcomes[0].detail) == ("retry", "connection failed")
    assert {o.detail for o in outcomes[100:]} == {NOT_ATTEMPTED_UNREACHABLE}


def test_the_endpoint_goes_through_the_address_guard(http_server: ScriptedServer) -> None:
    destination = SegmentForward(
        "fwd", {"url": http_server.url, "write_key": "wk"}, DestinationContext()
    )
    try:
        [outcome] = destination.send_many([event(1)])
    finally:
        destination.close()
    assert (outcome.status, outcome.detail) == ("failed", "address not allowed")
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"write_key": "wk"}, "config.url"),
        ({"url": "api.segment.io", "write_key": "wk"}, "config.url"),
        ({"url": "https://api.segment.io"}, "config.write_key"),
        ({"url": "https://api.segment.io", "write_key": ""}, "config.write_key"),
        ({"url": "https://api.segment.io", "write_key": "wk", "batch": 5}, "config.batch"),
    ],
)
def test_config_errors_name_their_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(DestinationConfigError) as raised:
        SegmentForward("fwd", config, DestinationContext())
    assert raised.value.field == field
