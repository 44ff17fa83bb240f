"""The collection API, compatible with Segment's HTTP Tracking API.

Existing Segment and RudderStack SDKs work by pointing them at this host. A 2xx is returned only
after the request's events (and quarantined messages) are committed.
"""

import asyncio
import gzip
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from kenning.api.auth import authenticate_source
from kenning.api.errors import ApiError, json_response
from kenning.ingest.pipeline import BatchDefaults, Prepared, prepare_messages
from kenning.settings import Settings
from kenning.store.store import Store
from kenning.store.writer import WriteResult

router = APIRouter()

_SUCCESS = orjson.dumps({"success": True})


async def read_json_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, within the size limit; gzip bodies are accepted."""
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
    body = await read_json_body(request, limits.max_request_bytes)
    source = authenticate_source(store, request, body)
    body.pop("writeKey", None)

    if message_type is None:
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
    else:
        # The path decides the type, as in Segment's API.
        body["type"] = message_type
        messages, defaults = [body], None

    retry_after = request.app.state.rate_limiter.check(source.id, source.rate_limit, len(messages))
    if retry_after is not None:
        raise ApiError(
            429,
            "rate_limited",
            "the source's rate limit is exceeded; retry later",
            headers={"Retry-After": str(retry_after)},
        )

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


def _dict_or_none(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


@router.post("/v1/batch")
@router.post("/v1/import")
async def batch(request: Request) -> Response:
    return await _accept(request, None)


def _single(message_type: str) -> None:
    async def endpoint(request: Request) -> Response:
        return await _accept(request, message_type)

    endpoint.__name__ = message_type
    router.add_api_route(f"/v1/{message_type}", endpoint, methods=["POST"])


for _type in ("identify", "track", "page", "screen", "group", "alias"):
    _single(_type)
