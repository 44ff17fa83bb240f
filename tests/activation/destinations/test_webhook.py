from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from kenning.activation.destinations.base import (
    NOT_ATTEMPTED_ORDER,
    NOT_ATTEMPTED_UNREACHABLE,
    DestinationConfigError,
    DestinationContext,
)
from kenning.activation.destinations.webhook import Webhook, sign, verify_signature
from tests.activation.destinations.make import delivery
from tests.activation.destinations.scripted import Reply, ScriptedServer
from tests.live import free_port

SECRET = "s3cret-of-at-least-16"
LOCAL = DestinationContext(allow_private=True, timeout_seconds=1.0)


def webhook(url: str, **config: Any) -> Webhook:
    return Webhook("crm", {"url": url, "secret": SECRET, **config}, LOCAL)


@pytest.fixture()
def hook(http_server: ScriptedServer) -> Iterator[Webhook]:
    destination = webhook(http_server.url + "/hook")
    yield destination
    destination.close()


def test_the_envelope_and_headers(hook: Webhook, http_server: ScriptedServer) -> None:
    [outcome] = hook.send_many([delivery(7)])
    assert (outcome.status, outcome.code) == ("delivered", 200)
    [request] = http_server.requests
    assert request.path == "/hook"
    assert orjson.loads(request.body) == {
        "id": "key-7",
        "kind": "audience",
        "destination": "test",
        "profile_id": 42,
        "created_at": "2026-03-01T12:00:00Z",
        "data": {
            "event": "Audience Entered",
            "audience_id": "vip",
            "audience": "vip",
            "profile_id": 42,
            "at": "2026-03-01T12:00:00Z",
            "traits": {"email": "ada@example.com"},
        },
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "key-7"
    assert request.headers["user-agent"] == "Kenning/0.1"
    timestamp = request.headers["x-kenning-timestamp"]
    assert request.headers["x-kenning-signature"] == sign(SECRET, timestamp, request.body)


def test_the_signature_verifies_and_nothing_else_does(
    hook: Webhook, http_server: ScriptedServer
) -> None:
    hook.send_many([delivery()])
    [request] = http_server.requests
    timestamp = request.headers["x-kenning-timestamp"]
    header = request.headers["x-kenning-signature"]
    assert verify_signature(SECRET, timestamp, request.body, header)
    assert not verify_signature("another-secret-16-chars", timestamp, request.body, header)
    assert not verify_signature(SECRET, timestamp, request.body.replace(b"42", b"43"), header)
    assert not verify_signature(SECRET, int(timestamp) + 1, request.body, header)
    assert not verify_signature(SECRET, "yesterday", request.body, header)
    # outside the replay window
    later = int(timestamp) + 301
    assert not verify_signature(SECRET, timestamp, request.body, header, now=later)
    assert verify_signature(SECRET, timestamp, request.body, header, 600, now=later)


def test_500_500_200_retries_then_delivers_with_one_key(
    hook: Webhook, http_server: ScriptedServer
) -> None:
    http_server.script(500, 500, 200)
    outcomes = [hook.send_many([delivery(1, attempt=n)])[0] for n in (1, 2, 3)]
    assert [(o.status, o.code) for o in outcomes] == [
        ("retry", 500),
        ("retry", 500),
        ("delivered", 200),
    ]
    assert {r.headers["idempotency-key"] for r in http_server.requests} == {"key-1"}
    assert len({r.body for r in http_server.requests}) == 1


@pytest.mark.parametrize(
    ("reply", "status", "code", "retry_after"),
    [
        (Reply(200), "delivered", 200, None),
        (Reply(204, b""), "delivered", 204, None),
        (Reply(400, b"bad field"), "failed", 400, None),
        (Reply(401), "failed", 401, None),
        (Reply(404), "failed", 404, None),
        (Reply(410), "failed", 410, None),
        (Reply(408), "retry", 408, None),
        (Reply(429, headers={"Retry-After": "7"}), "retry", 429, 7.0),
        (Reply(503, headers={"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}), "retry", 503, 0.0),
        (Reply(500), "retry", 500, None),
        (Reply(502), "retry", 502, None),
        (Reply(304), "failed", 304, None),
        (Reply(303, headers={"Location": "/elsewhere"}), "failed", 303, None),
        (Reply(302), "failed", 302, None),  # no Location: nothing to follow
    ],
)
def test_statuses_are_classified(
    hook: Webhook,
    http_server: ScriptedServer,
    reply: Reply,
    status: str,
    code: int,
    retry_after: float | None,
) -> None:
    http_server.script(reply)
    [outcome] = hook.send_many([delivery()])
    assert (outcome.status, outcome.code, outcome.retry_after) == (status, code, retry_after)


def test_a_failure_keeps_the_start_of_the_response(
    hook: Webhook, http_server: ScriptedServer
) -> None:
    http_server.script(Reply(422, b"x" * 10_000))
    [outcome] = hook.send_many([delivery()])
    assert (outcome.status, outcome.detail) == ("failed", "HTTP 422")
    assert outcome.response == "x" * 2048


def test_a_slow_answer_times_out_and_is_retried(http_server: ScriptedServer) -> None:
    http_server.script(Reply(hang=True))
    destination = webhook(http_server.url, timeout_seconds=0.2)
    try:
        outcomes = destination.send_many([delivery(1), delivery(2, profile_id=43)])
    finally:
        destination.close()
    assert [(o.status, o.detail) for o in outcomes] == [
        ("retry", "timed out"),
        ("retry", NOT_ATTEMPTED_UNREACHABLE),
    ]
    assert len(http_server.requests) == 1


def test_a_closed_port_is_retried_and_the_rest_not_tried() -> None:
    destination = webhook(f"http://127.0.0.1:{free_port()}/hook")
    try:
        outcomes = destination.send_many([delivery(1), delivery(2, profile_id=43)])
    finally:
        destination.close()
    assert [(o.status, o.detail) for o in outcomes] == [
        ("retry", "connection failed"),
        ("retry", NOT_ATTEMPTED_UNREACHABLE),
    ]


def test_a_profile_waiting_for_a_retry_holds_its_later_deliveries(
    hook: Webhook, http_server: ScriptedServer
) -> None:
    http_server.script(500, 200)
    outcomes = hook.send_many(
        [delivery(1, profile_id=1), delivery(2, profile_id=1), delivery(3, profile_id=2)]
    )
    assert [(o.status, o.detail) for o in outcomes] == [
        ("retry", "HTTP 500"),
        ("retry", NOT_ATTEMPTED_ORDER),
        ("delivered", "HTTP 200"),
    ]
    assert [r.headers["idempotency-key"] for r in http_server.requests] == ["key-1", "key-3"]


def test_a_failed_delivery_does_not_hold_the_next(
    hook: Webhook, http_server: ScriptedServer
) -> None:
    http_server.script(400, 200)
    outcomes = hook.send_many([delivery(1), delivery(2)])
    assert [o.status for o in outcomes] == ["failed", "delivered"]


def test_a_mapping_sends_only_the_mapped_fields(http_server: ScriptedServer) -> None:
    destination = webhook(
        http_server.url,
        mapping={
            "user.id": "profile_id",
            "user.email": "data.traits.email",
            "audience": "data.audience",
            "phone": "data.traits.phone",
        },
    )
    try:
        destination.send_many([delivery()])
    finally:
        destination.close()
    [request] = http_server.requests
    assert orjson.loads(request.body) == {
        "user": {"id": 42, "email": "ada@example.com"},
        "audience": "vip",
    }
    timestamp = request.headers["x-kenning-timestamp"]
    assert verify_signature(SECRET, timestamp, request.body, request.headers["x-kenning-signature"])


def test_extra_headers_are_sent(http_server: ScriptedServer) -> None:
    destination = webhook(http_server.url, headers={"Authorization": "Bearer t", "X-Team": "crm"})
    try:
        destination.send_many([delivery()])
    finally:
        destination.close()
    [request] = http_server.requests
    assert (request.headers["authorization"], request.headers["x-team"]) == ("Bearer t", "crm")


def test_a_payload_that_is_not_json_fails(hook: Webhook, http_server: ScriptedServer) -> None:
    [outcome] = hook.send_many([delivery(payload={"tags": {"a", "b"}})])
    assert (outcome.status, outcome.detail) == ("failed", "payload is not JSON")
    assert http_server.requests == []


GOOD = {"url": "https://hooks.example.com/in", "secret": SECRET}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"secret": SECRET}, "config.url"),
        ({**GOOD, "url": "ftp://example.com/x"}, "config.url"),
        ({**GOOD, "url": "file:///etc/passwd"}, "config.url"),
        ({**GOOD, "url": "https://"}, "config.url"),
        ({**GOOD, "url": "https://user:pw@example.com/"}, "config.url"),
        ({**GOOD, "url": "https://example.com:99999/"}, "config.url"),
        ({**GOOD, "url": "https://example.com:0/"}, "config.url"),
        ({**GOOD, "url": 5}, "config.url"),
        ({"url": GOOD["url"]}, "config.secret"),
        ({**GOOD, "secret": "short"}, "config.secret"),
        ({**GOOD, "colour": "red"}, "config.colour"),
        ({**GOOD, "headers": {"Idempotency-Key": "x"}}, "config.headers.Idempotency-Key"),
        ({**GOOD, "headers": {"X-Kenning-Signature": "x"}}, "config.headers.X-Kenning-Signature"),
        ({**GOOD, "headers": {"Bad Name": "x"}}, "config.headers.Bad Name"),
        ({**GOOD, "headers": {"X-A": "one\r\nX-B: two"}}, "config.headers.X-A"),
        ({**GOOD, "headers": {"X-A": 5}}, "config.headers.X-A"),
        ({**GOOD, "mapping": {}}, "config.mapping"),
        ({**GOOD, "mapping": {"user.id": "profile"}}, "config.mapping.user.id"),
        ({**GOOD, "mapping": {"user..id": "profile_id"}}, "config.mapping.user..id"),
        ({**GOOD, "mapping": {"a": "id", "a.b": "kind"}}, "config.mapping.a.b"),
        ({**GOOD, "timeout_seconds": 0}, "config.timeout_seconds"),
    ],
)
def test_config_errors_name_their_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(DestinationConfigError) as raised:
        Webhook("crm", config, DestinationContext())
    assert raised.value.field == field


def test_a_bad_allowed_network_names_it() -> None:
    with pytest.raises(DestinationConfigError) as raised:
        Webhook("crm", GOOD, DestinationContext(allowed_networks=("10.0.0.0/8", "ten")))
    assert raised.value.field == "context.allowed_networks[1]"


def test_the_config_schema_describes_every_key_and_refuses_others() -> None:
    schema = Webhook.config_schema()
    assert set(schema["properties"]) == {"url", "secret", "headers", "mapping", "timeout_seconds"}
    assert set(schema["required"]) == {"url", "secret"}
    assert schema["additionalProperties"] is False
