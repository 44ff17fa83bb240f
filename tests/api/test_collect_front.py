"""The collection front: POSTs to the collection routes are answered before FastAPI's routing,
errors as the API's JSON; every other request goes on to the app behind it."""

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from kenning.api.app import create_app
from kenning.api.collect import FRONT_ROUTES, CollectionFront
from kenning.api.errors import ApiError
from kenning.api.hardening import COLLECTION_PATHS
from kenning.settings import Settings


class _Behind:
    """The app behind the front: records what reaches it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await Response(b"behind", 200)(scope, receive, send)


def _call(front: CollectionFront, method: str, path: str, body: bytes = b"") -> list[Message]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"content-length", str(len(body)).encode())],
        "query_string": b"",
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(front(scope, receive, send))
    return sent


async def _echo(request: Request) -> Response:
    return Response(b"front:" + await request.body(), 200)


async def _refuse(request: Request) -> Response:
    raise ApiError(429, "rate_limited", "slow down", "writeKey", headers={"Retry-After": "3"})


def test_a_collection_post_is_answered_in_front_and_others_go_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(FRONT_ROUTES, "/v1/echo", _echo)
    behind = _Behind()
    front = CollectionFront(behind)
    answered = _call(front, "POST", "/v1/echo", b"hello")
    assert answered[1]["body"] == b"front:hello" and behind.paths == []
    for method, path in (("GET", "/v1/echo"), ("POST", "/v1/sources"), ("POST", "/v1/echo/")):
        assert _call(front, method, path)[1]["body"] == b"behind"
    assert behind.paths == ["/v1/echo", "/v1/sources", "/v1/echo/"]


def test_an_endpoint_s_error_is_the_api_s_json_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FRONT_ROUTES, "/v1/refuse", _refuse)
    start, body = _call(CollectionFront(_Behind()), "POST", "/v1/refuse")
    assert start["status"] == 429
    assert (b"retry-after", b"3") in start["headers"]
    assert orjson.loads(body["body"]) == {
        "code": "rate_limited",
        "message": "slow down",
        "field": "writeKey",
    }


def test_every_collection_route_is_in_front_of_the_app(tmp_path: Path) -> None:
    single = {f"/v1/{t}" for t in ("identify", "track", "page", "screen", "group", "alias")}
    assert set(FRONT_ROUTES) == single | {"/v1/batch", "/v1/import"} == COLLECTION_PATHS
    app = create_app(Settings(db_path=tmp_path / "k.duckdb"))
    assert CollectionFront in [middleware.cls for middleware in app.user_middleware]
