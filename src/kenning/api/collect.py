"""The collection API, compatible with Segment's HTTP Tracking API.

Existing Segment and RudderStack SDKs work by pointing them at this host. A 2xx is returned only
after the request's events (and quarantined messages) are committed.

The routes are FastAPI routes (so the OpenAPI schema documents them), but a request to one is
answered by ``CollectionFront``, a plain ASGI layer in front of FastAPI's routing: the SDKs'
requests are most of a server's traffic, and FastAPI's request machinery (routing through every
router, dependency solving, the exception and audit middleware) cost a third of the
single-event rate.
"""

import asyncio
import gzip
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kenning.api.auth import authenticate_source, write_key_from
from kenning.api.errors import ApiError, error_response, json_response
from kenning.api.hardening import COLLECTION_PATHS
from kenning.api.ratelimit import RateLimiter
from kenning.ingest.pipeline import BatchDefaults, Prepared, prepare_messages
from kenning.ingest.workers import PreparePool
from kenning.settings import Settings
from kenning.spec.limits import Limits
from kenning.store.sources import Source
from kenning.store.store import Store
from kenning.store.writer import WriteResult

router = APIRouter()

_SUCCESS = orjson.dumps({"success": True})
# Batch bodies from this size (a dozen typical events) are prepared in an ingest worker when the
# server has them; below it, the hop to the worker and back costs more than it spares.
_POOLED_BYTES = 8_192


async def read_json_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, within the size limit; gzip bodies are accepted."""
    return json_object(await read_body(request, max_bytes))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body within the size limit, inflated if it is gzip."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = await request.body()
    if len(body) > max_bytes:
        raise _too_large(max_bytes)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            # Bound the inflated size too: a small gzip body can expand without limit.
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = inflater.decompress(body, max_bytes + 1)
        except (zlib.error, gzip.BadGzipFile):
            raise ApiError(400, "invalid_body", "the body is not valid gzip") from None
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return body


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "request_too_large", f"the request is over {max_bytes} bytes")


async def _store(store: Store, prepared: Prepared) -> WriteResult:
    try:
        return await asyncio.wrap_future(store.write_events(prepared.events, prepared.quarantine))
    except Exception:
        # Nothing is acknowledged: the client retries, and dedup makes the retry safe.
        raise ApiError(503, "store_unavailable", "the event could not be stored; retry") from None


async def _accept(request: Request, message_type: str | None) -> Response:
    received_at = datetime.now(UTC)
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    limits = settings.limits
    raw = await read_body(request, limits.max_request_bytes)
    pool: PreparePool | None = request.app.state.prepare_pool
    if (
        pool is not None
        and message_type is None
        and len(raw) >= _POOLED_BYTES
        and (source := _source_of_header(store, request)) is not None
    ):
        # A source over its rate is refused before the worker's time is spent on its body;
        # its events are counted once the worker has read them.
        limiter: RateLimiter = request.app.state.rate_limiter
        _refuse_if_waiting(limiter.admit(source.id, source.rate_limit))
        counted = 0
        try:
            prepared = _refused_or(
                await pool.run(prepare_batch_apart, raw, source.id, received_at, limits)
            )
            counted = len(prepared.events) + len(prepared.quarantine)
        finally:
            limiter.charge(source.id, source.rate_limit, counted)
    else:
        body = json_object(raw)
        source = authenticate_source(store, request, body)
        body.pop("writeKey", None)
        if message_type is None:
            messages, defaults = batch_messages(body, limits)
        else:
            # The path decides the type, as in Segment's API.
            body["type"] = message_type
            messages, defaults = [body], None
        _check_rate(request, source, len(messages))
        prepared = prepare_messages(
            messages,
            source_id=source.id,
            received_at=received_at,
            limits=limits,
            defaults=defaults,
            field_prefix="batch" if message_type is None else None,
        )
    result = await _store(store, prepared)

    if message_type is not None:
        if prepared.rejections and result.quarantine_ids:
            rejection = prepared.rejections[0]
            raise ApiError(
                400,
                rejection.code,
                rejection.message,
                rejection.field,
                extra={"quarantined": True, "quarantine_id": result.quarantine_ids[0]},
            )
        return Response(_SUCCESS, media_type="application/json")
    return json_response(
        {
            "success": True,
            "accepted": len(prepared.events),
            "duplicates": result.duplicates,
            "suppressed": result.suppressed,
            "rejected": [r.as_dict() for r in prepared.rejections],
        }
    )


def batch_messages(body: dict[str, Any], limits: Limits) -> tuple[list[Any], BatchDefaults]:
    """A batch request's messages and the fields given once for all of them."""
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise ApiError(400, "invalid_request", "batch must be an array of messages", "batch")
    if len(messages) > limits.max_batch_events:
        raise ApiError(
            400,
            "batch_too_large",
            f"a batch holds at most {limits.max_batch_events} events; it has {len(messages)}",
            "batch",
        )
    defaults = BatchDefaults(
        body.get("sentAt"),
        _dict_or_none(body.get("context")),
        _dict_or_none(body.get("integrations")),
    )
    return messages, defaults


@dataclass(frozen=True, slots=True)
class _Refusal:
    """An ``ApiError`` as a worker returns it (an exception's own fields do not survive
    pickling)."""

    status: int
    code: str
    message: str
    field: str | None


def prepare_batch_apart(
    raw: bytes, source_id: str, received_at: datetime, limits: Limits
) -> Prepared | _Refusal:
    """A batch request's body as rows, in an ingest worker (``ingest/workers.py``): the
    messages are left off the rows, which cross back to the server pickled."""
    try:
        messages, defaults = batch_messages(json_object(raw), limits)
    except ApiError as error:
        return _Refusal(error.status, error.code, error.message, error.field)
    return prepare_messages(
        messages,
        source_id=source_id,
        received_at=received_at,
        limits=limits,
        defaults=defaults,
        keep_messages=False,
    )


def _refused_or(outcome: Prepared | _Refusal) -> Prepared:
    if isinstance(outcome, _Refusal):
        raise ApiError(outcome.status, outcome.code, outcome.message, outcome.field)
    return outcome


def _source_of_header(store: Store, request: Request) -> Source | None:
    """The source whose write key the request's Basic header names, if it names one; a request
    that authenticates otherwise, or not at all, is answered in the server (as it was)."""
    key = write_key_from(request, {})
    return store.sources.by_write_key(key) if key is not None else None


def _check_rate(request: Request, source: Source, events: int) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    _refuse_if_waiting(limiter.check(source.id, source.rate_limit, events))


def _refuse_if_waiting(retry_after: int | None) -> None:
    if retry_after is not None:
        raise ApiError(
            429,
            "rate_limited",
            "the source's rate limit is exceeded; retry later",
            headers={"Retry-After": str(retry_after)},
        )


def _dict_or_none(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


Endpoint = Callable[[Request], Awaitable[Response]]
# The routes ``CollectionFront`` answers (POST), by path.
FRONT_ROUTES: dict[str, Endpoint] = {}


def _route(path: str, message_type: str | None) -> None:
    async def endpoint(request: Request) -> Response:
        return await _accept(request, message_type)

    endpoint.__name__ = message_type or "batch"
    router.add_api_route(path, endpoint, methods=["POST"])
    FRONT_ROUTES[path] = endpoint


# The paths the hardening middleware leaves to these endpoints: /v1/batch and /v1/import take
# a batch; the others one message, of the type the path names.
for _path in sorted(COLLECTION_PATHS):
    _name = _path.rsplit("/", 1)[1]
    _route(_path, None if _name in ("batch", "import") else _name)


class CollectionFront:
    """Answers POSTs to ``FRONT_ROUTES`` without FastAPI's routing and request machinery, with
    the same endpoint and the same JSON errors; everything else goes on to FastAPI. It sits
    inside the hardening middleware (its security headers) and outside the audit trail, which
    records nothing of a request a write key makes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            FRONT_ROUTES.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        try:
            response = await endpoint(Request(scope, receive))
        except ApiError as error:
            response = error_response(error)
        except ClientDisconnect:
            return  # gone before its body was read: nothing was stored, and nobody to answer
        await response(scope, receive, send)
