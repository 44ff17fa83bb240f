"""The admin API: sources, tokens, stats, quarantine, export and imports. Bearer token, scope
admin."""

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response, StreamingResponse

from kenning.api.audit import audit_as
from kenning.api.auth import require_scope
from kenning.api.collect import read_json_body
from kenning.api.errors import ApiError, json_response
from kenning.ingest.pipeline import prepare_messages
from kenning.ingest.replay import replay_quarantine
from kenning.privacy.scopes import SCOPES
from kenning.settings import Settings
from kenning.store.sources import Source, SourceExists
from kenning.store.store import Store

router = APIRouter(dependencies=[Depends(require_scope("admin"))])
Scope = Literal[
    "admin", "profiles:read", "pii:read", "consent:write", "audiences:write", "activation:read",
    "activation:write", "analytics:read", "analytics:write", "privacy:admin",
]  # fmt: skip

# An import chunk may be larger than a collection request; it still has a bound.
MAX_IMPORT_BYTES = 16 * 1024 * 1024


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def source_json(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "name": source.name,
        "write_key_prefix": source.write_key_prefix,
        "rate_limit": source.rate_limit,
        "retention_days": source.retention_days,
        "created_at": source.created_at.isoformat(),
    }


class SourceIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    rate_limit: float | None = Field(default=None, gt=0)


@router.post("/v1/sources", status_code=201)
def create_source(body: SourceIn, request: Request) -> Response:
    try:
        created = _store(request).sources.create(body.name, rate_limit=body.rate_limit)
    except SourceExists as error:
        raise ApiError(409, "source_exists", str(error), "name") from None
    return json_response({**source_json(created.source), "write_key": created.write_key}, 201)


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    # What a token may do (privacy/scopes.py); a Profile API reader gets profiles:read only.
    scopes: list[Scope] = Field(min_length=1)


@router.post("/v1/tokens", status_code=201)
def create_token(body: TokenIn, request: Request) -> Response:
    """A new bearer token, shown once; only its hash is kept."""
    scopes = sorted(set(body.scopes))
    principal, token = _store(request).tokens.create_principal(body.name, scopes)
    audit_as(request, "token.create", principal.id, {"scopes": scopes})
    return json_response(
        {"id": principal.id, "name": body.name, "scopes": scopes, "token": token}, 201
    )


@router.get("/v1/tokens")
def list_tokens(request: Request) -> Response:
    """Every token (never its value or hash), revoked ones too, and the scopes there are."""
    return json_response({"tokens": _store(request).tokens.list(), "scopes": SCOPES})


@router.delete("/v1/tokens/{token_id}")
def revoke_token(token_id: str, request: Request) -> Response:
    """Revoke a token: refused (401) from the next request on."""
    if not _store(request).tokens.revoke(token_id):
        raise ApiError(404, "not_found", "no live token has this id", "token_id")
    audit_as(request, "token.revoke", token_id)
    return json_response({"id": token_id, "revoked": True})


class RetentionIn(BaseModel):
    # None: keep the source's events for ever.
    days: int | None = Field(ge=1, le=36_500)


@router.put("/v1/sources/{name}/retention")
def set_retention(name: str, body: RetentionIn, request: Request) -> Response:
    """How many days the source's events are kept (``null``: for ever); expired events are
    deleted by the retention job (``POST /v1/privacy/retention``, or on a schedule)."""
    try:
        source = _store(request).sources.set_retention(name, body.days)
    except KeyError:
        raise ApiError(404, "not_found", f"no source named {name!r}", "name") from None
    audit_as(request, "source.retention", source.name, {"days": body.days})
    return json_response(source_json(source))


@router.post("/v1/profiles/recompute")
def recompute_profiles(request: Request) -> Response:
    """Rebuild every profile's traits and consent from the log (after a change of source
    priority, say)."""
    store = _store(request)
    stating = store.writer.run(store.profiles.recompute).result()
    return json_response({"events_stating": stating, **store.stats()})


@router.get("/v1/sources")
def list_sources(request: Request) -> Response:
    return json_response({"sources": [source_json(s) for s in _store(request).sources.list()]})


@router.get("/v1/stats")
def stats(request: Request) -> Response:
    return json_response(_store(request).stats())


@router.get("/v1/quarantine")
def list_quarantine(
    request: Request,
    status: Literal["pending", "replayed", "all"] = "pending",
    code: str | None = None,
    after: int = 0,
    limit: int = Query(100, ge=1, le=10_000),
) -> Response:
    items = _store(request).quarantine.list(
        status=None if status == "all" else status, code=code, after_id=after, limit=limit
    )
    return json_response(
        {
            "items": [i.as_dict() for i in items],
            "next_after": items[-1].id if len(items) == limit else None,
        }
    )


@router.get("/v1/quarantine/{quarantine_id}")
def get_quarantined(quarantine_id: int, request: Request) -> Response:
    item = _store(request).quarantine.get(quarantine_id)
    if item is None:
        raise ApiError(404, "not_found", f"no quarantined message {quarantine_id}", "id")
    return json_response(item.as_dict())


class FixIn(BaseModel):
    payload: dict[str, Any]


@router.put("/v1/quarantine/{quarantine_id}")
def fix_quarantined(quarantine_id: int, body: FixIn, request: Request) -> Response:
    store = _store(request)
    item = store.quarantine.get(quarantine_id)
    if item is None or item.status != "pending":
        raise ApiError(404, "not_found", f"no pending quarantined message {quarantine_id}", "id")
    try:
        # FastAPI reads the body with the json module, which keeps any integer; orjson, which
        # writes what the log stores, keeps 64 bits.
        payload = orjson.dumps(body.payload).decode()
    except orjson.JSONEncodeError:
        raise ApiError(
            400, "invalid_request",
            "the payload holds a number JSON cannot keep (an integer beyond 64 bits)", "payload",
        ) from None  # fmt: skip
    store.quarantine.set_payload(quarantine_id, payload)
    return json_response({**item.as_dict(), "payload": payload})


class ReplayIn(BaseModel):
    ids: list[int] | None = None
    code: str | None = None


@router.post("/v1/quarantine/replay")
def replay(body: ReplayIn, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    result = replay_quarantine(
        _store(request), limits=settings.limits, ids=body.ids, code=body.code
    )
    return json_response(
        {
            "replayed": result.replayed,
            "duplicates": result.duplicates,
            "still_invalid": result.still_invalid,
        }
    )


@router.get("/v1/events/export")
def export_events(
    request: Request,
    since: datetime | None = None,
    source: str | None = None,
    format: Literal["jsonl", "parquet"] = "jsonl",
) -> Response:
    store = _store(request)
    audit_as(request, "events.export", source, {"format": format})
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if format == "parquet":
        directory = Path(tempfile.mkdtemp(prefix="kenning-export-"))
        path = directory / "events.parquet"
        store.events.write_parquet(path, since=since, source=source)

        def cleanup() -> None:
            path.unlink(missing_ok=True)
            directory.rmdir()

        return FileResponse(
            path,
            media_type="application/vnd.apache.parquet",
            filename="events.parquet",
            background=BackgroundTask(cleanup),
        )
    return StreamingResponse(
        store.events.iter_jsonl(since=since, source=source), media_type="application/x-ndjson"
    )


@router.post("/v1/sources/{name}/import")
async def import_messages(name: str, request: Request) -> Response:
    """Store a chunk of messages mapped from a file by ``kenning import``.

    Unlike the collection API, a record identified only by ``context.externalIds`` (an offline
    record id) is accepted.
    """
    store = _store(request)
    settings: Settings = request.app.state.settings
    source = store.sources.by_name(name)
    if source is None:
        raise ApiError(404, "not_found", f"no source named {name!r}", "name")
    body = await read_json_body(request, MAX_IMPORT_BYTES)
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise ApiError(400, "invalid_request", "batch must be an array of messages", "batch")
    prepared = prepare_messages(
        messages,
        source_id=source.id,
        received_at=datetime.now(UTC),
        limits=settings.limits,
        require_user_or_anonymous_id=False,
    )
    try:
        result = await asyncio.wrap_future(store.write_events(prepared.events, prepared.quarantine))
    except Exception:
        raise ApiError(503, "store_unavailable", "the import chunk could not be stored") from None
    return json_response(
        {
            "accepted": len(prepared.events),
            "stored": result.stored,
            "duplicates": result.duplicates,
            "rejected": [r.as_dict() for r in prepared.rejections],
        }
    )
