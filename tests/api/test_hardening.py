"""Hardening against a live server: security headers, bounded bodies and JSON, token rate
limits, no CDN-backed docs pages; collection keeps Segment's rules and quarantines what is too
deep."""

import asyncio
import doctest
import gzip
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response

from kenning.api import hardening
from kenning.api.app import create_app
from kenning.api.hardening import (
    SECURITY_HEADERS,
    Hardening,
    HardeningLimits,
    install_hardening,
)
from kenning.settings import Settings
from tests.live import LiveServer

LIMITS = HardeningLimits()
Rows = Callable[[], list[dict[str, Any]]]


def nested(depth: int) -> object:
    """A value nested ``depth`` containers deep: [[...[]...]]."""
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_create_app_installs_the_hardening(tmp_path: Path) -> None:
    app = create_app(Settings(db_path=tmp_path / "kenning.duckdb"))
    assert [m.cls for m in app.user_middleware].count(Hardening) == 1
    paths = {getattr(route, "path", None) for route in app.router.routes}
    assert "/openapi.json" in paths
    assert not paths & {"/docs", "/redoc", "/docs/oauth2-redirect"}


def test_the_limits_given_are_held_to_and_the_body_reaches_the_endpoint() -> None:
    app = FastAPI()

    @app.post("/v1/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body())

    small = HardeningLimits(max_body_bytes=10, token_rate=0.001, token_burst=2)
    install_hardening(app, Settings(), small)

    async def exchange() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kenning") as client:
            token = {"Authorization": "Bearer t"}
            return [
                await client.post("/v1/echo", content=b"0123456789"),
                await client.post("/v1/echo", content=b"0123456789+"),
                *[await client.post("/v1/echo", headers=token) for _ in range(3)],
            ]

    exact, over, *by_token = asyncio.run(exchange())
    assert (exact.status_code, exact.content) == (200, b"0123456789")
    assert over.status_code == 413
    assert [r.status_code for r in by_token] == [200, 200, 429]


def test_the_docstring_examples() -> None:
    result = doctest.testmod(hardening)
    assert result.failed == 0 and result.attempted > 0


# Headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/sources", 200),
        ("GET", "/v1/no-such-thing", 404),
        ("GET", "/health", 200),
        ("GET", "/openapi.json", 200),
    ],
)
def test_every_response_carries_the_security_headers(
    admin: httpx.Client, method: str, path: str, status: int
) -> None:
    response = admin.request(method, path)
    assert response.status_code == status
    for name, value in SECURITY_HEADERS:
        assert response.headers[name] == value
    assert "strict-transport-security" not in response.headers
    # Answers under /v1/ hold personal data: no cache may keep them.
    no_store = response.headers.get("cache-control") == "no-store"
    assert no_store is path.startswith("/v1/")


def test_errors_and_collection_carry_them_too(server: LiveServer, collector: httpx.Client) -> None:
    unauthorized = httpx.get(server.url + "/v1/stats")
    collected = collector.post("/v1/track", json={"userId": "h", "event": "Headers"})
    for response in (unauthorized, collected):
        assert response.status_code in (200, 401)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


def test_the_docs_pages_are_gone_and_the_schema_stays(server: LiveServer) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert httpx.get(server.url + path).status_code == 404
    schema = httpx.get(server.url + "/openapi.json").json()
    assert "/v1/sources" in schema["paths"]


# Bodies


def _audience_exists(admin: httpx.Client, name: str) -> bool:
    return admin.get(f"/v1/audiences/{name}").status_code == 200


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(admin: httpx.Client) -> None:
    name = f"big_{uuid.uuid4().hex[:8]}"
    body = b'{"description": "' + b"x" * LIMITS.max_body_bytes + b'", "condition": {}}'
    response = admin.put(f"/v1/audiences/{name}", content=body)
    assert response.status_code == 413
    assert response.json() == {
        "code": "request_too_large",
        "message": f"the request body is over {LIMITS.max_body_bytes} bytes",
        "field": None,
    }
    assert response.headers["x-content-type-options"] == "nosniff"
    assert not _audience_exists(admin, name)


def test_a_chunked_body_is_counted_as_it_arrives(admin: httpx.Client) -> None:
    """No Content-Length to refuse on: the server stops reading past the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "chunked", "pad": "'
        for _ in range(LIMITS.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = admin.post("/v1/sources", content=chunks())
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert "chunked" not in {s["name"] for s in admin.get("/v1/sources").json()["sources"]}


def test_an_upload_has_its_own_larger_limit(admin: httpx.Client) -> None:
    over = b"date,channel,campaign,spend\n" + b"x" * LIMITS.max_upload_bytes
    assert admin.put("/v1/spend", content=over).status_code == 413
    # Over the JSON limit but within the upload one: read by the endpoint, which refuses
    # the rows (not the size).
    within = b"date,channel,campaign,spend\n" + b"x" * (LIMITS.max_body_bytes + 1)
    response = admin.put("/v1/spend", content=within)
    assert response.status_code == 400, response.text
    assert response.json()["code"] != "request_too_large"


def test_json_nested_too_deep_is_400_with_its_path(admin: httpx.Client) -> None:
    name = f"deep_{uuid.uuid4().hex[:8]}"
    body = {"condition": {"and": [nested(LIMITS.max_json_depth)]}}
    response = admin.put(f"/v1/audiences/{name}", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "too_deep"
    assert error["message"] == f"JSON nested deeper than {LIMITS.max_json_depth} levels"
    # The body is level 1, condition 2, the list 3: the first level past the limit is here.
    assert error["field"] == "condition.and[0]" + "[0]" * (LIMITS.max_json_depth - 3)
    assert not _audience_exists(admin, name)


def test_json_deeper_than_the_parser_reads_is_400(admin: httpx.Client) -> None:
    response = admin.post("/v1/sources", content=b"[" * 5000 + b"]" * 5000)
    assert response.status_code == 400
    assert response.json()["code"] == "too_deep"


def test_json_at_the_depth_limit_is_read(admin: httpx.Client) -> None:
    # 32 levels in all: the body, then 31 lists. The endpoint refuses the value itself.
    body = {"name": "depth_ok", "rate_limit": nested(LIMITS.max_json_depth - 1)}
    response = admin.post("/v1/sources", json=body)
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_request", "rate_limit")


def test_a_string_too_long_is_400_with_its_path(admin: httpx.Client) -> None:
    name = f"long_{uuid.uuid4().hex[:8]}"
    response = admin.post(
        "/v1/sources", json={"name": name, "notes": ["x" * (LIMITS.max_string_chars + 1)]}
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "string_too_long",
        "message": f"a string is longer than {LIMITS.max_string_chars} characters",
        "field": "notes[0]",
    }
    assert name not in {s["name"] for s in admin.get("/v1/sources").json()["sources"]}


def test_a_gzip_body_is_checked_as_the_endpoint_reads_it(admin: httpx.Client) -> None:
    body = gzip.compress(orjson.dumps({"condition": nested(LIMITS.max_json_depth + 5)}))
    response = admin.post(
        "/v1/audiences/preview", content=body, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "too_deep"


# Collection: Segment's rules, and a too deep message quarantined, not refused


def test_a_message_at_the_depth_limit_is_stored(collector: httpx.Client, stored: Rows) -> None:
    message = {"userId": "d", "event": "Deep", "properties": {"a": nested(30)}}
    assert collector.post("/v1/track", json=message).status_code == 200
    [event] = stored()
    assert event["payload"]["properties"] == message["properties"]


def test_a_message_too_deep_is_quarantined_and_the_rest_stored(
    collector: httpx.Client, stored: Rows, quarantined: Rows
) -> None:
    deep = {"type": "track", "userId": "d", "event": "Deep", "properties": {"a": nested(31)}}
    fine = {"type": "track", "userId": "d", "event": "Fine"}
    response = collector.post("/v1/batch", json={"batch": [fine, deep]})
    assert response.status_code == 200
    [rejected] = response.json()["rejected"]
    assert (rejected["index"], rejected["code"]) == (1, "too_deep")
    assert rejected["field"] == "batch[1].properties.a" + "[0]" * 30
    assert [e["event"] for e in stored()] == ["Fine"]
    [item] = quarantined()
    assert item["code"] == "too_deep"
    assert orjson.loads(item["payload"]) == deep


def test_a_message_deeper_than_json_can_be_written_is_still_quarantined(
    collector: httpx.Client, stored: Rows, quarantined: Rows
) -> None:
    """orjson writes 254 levels; this message has 400 and must not turn into a 500."""
    message = {"userId": "d", "event": "Deeper", "properties": {"a": nested(398)}}
    response = collector.post("/v1/track", json=message)
    assert response.status_code == 400
    assert response.json()["code"] == "too_deep"
    assert response.json()["quarantined"] is True
    assert stored() == []
    [item] = quarantined()
    assert orjson.loads(item["payload"]) == {**message, "type": "track"}


def test_collection_keeps_its_own_size_limit(collector: httpx.Client, stored: Rows) -> None:
    """Segment's 500 KB a request, answered by api/collect.py as it always was."""
    batch = [{"type": "track", "userId": "s", "event": "Big", "properties": {"p": "x" * 600_000}}]
    response = collector.post("/v1/batch", json={"batch": batch})
    assert response.status_code == 413
    assert response.json()["message"] == "the request is over 512000 bytes"
    assert stored() == []


# Rate limits per token


def test_a_token_over_its_rate_is_429_then_recovers(admin: httpx.Client) -> None:
    token = admin.post(
        "/v1/tokens", json={"name": f"rate-{uuid.uuid4().hex[:8]}", "scopes": ["admin"]}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=str(admin.base_url), headers=headers, timeout=30) as client:
        assert client.get("/v1/sources").status_code == 200
        # Fast, cheap requests (the limit answers before routing) until the bucket is empty:
        # bounded, and far more than the burst and a few seconds of refill.
        bound = int(LIMITS.token_burst * 20)

        def probe(_: int) -> httpx.Response:
            return client.get("/v1/rate-limit-probe")

        with ThreadPoolExecutor(max_workers=4) as pool:
            responses = list(pool.map(probe, range(bound)))
        assert {r.status_code for r in responses} == {404, 429}
        refused = [r for r in responses if r.status_code == 429]
        assert refused[0].json() == {
            "code": "rate_limited",
            "message": "too many requests with this token; retry later",
            "field": "Authorization",
        }
        assert refused[0].headers["x-content-type-options"] == "nosniff"
        wait = int(refused[-1].headers["Retry-After"])
        assert wait >= 1
        # After the wait the bucket has refilled: the token works again.
        time.sleep(wait)
        assert client.get("/v1/sources").status_code == 200
    # Other tokens were never limited.
    assert admin.get("/v1/sources").status_code == 200
