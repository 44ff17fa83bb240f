"""Audiences over HTTP: list them, their members (pages or CSV), the condition schema
(``profiles:read``); declare, remove, preview and evaluate them (``audiences:write``)."""

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response, StreamingResponse

from kenning.api.auth import require_scope
from kenning.api.collect import read_json_body
from kenning.api.errors import ApiError, json_response
from kenning.audiences.audience import parse_audience
from kenning.audiences.conditions import CONDITION_SCHEMA, ConditionError
from kenning.audiences.membership import ENTERED, EXITED, members_page, preview
from kenning.store.store import Store

MAX_AUDIENCE_BYTES = 64 * 1024
readers = APIRouter(dependencies=[Depends(require_scope("profiles:read"))])
writers = APIRouter(dependencies=[Depends(require_scope("audiences:write"))])
Limit = Annotated[int, Query(ge=1, le=10_000)]
_CSV_PAGE = 10_000


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _invalid(error: ConditionError) -> ApiError:
    return ApiError(400, "invalid_audience", str(error), error.field or "body")


@readers.get("/v1/audiences")
def list_audiences(request: Request) -> Response:
    store = _store(request)
    with store.reader() as con:
        return json_response({"audiences": store.audiences.describe(con)})


@readers.get("/v1/audiences/schema")
def condition_schema() -> Response:
    """The JSON Schema of a condition (docs/audiences.md has examples)."""
    return json_response(CONDITION_SCHEMA)


@readers.get("/v1/audiences/{name}")
def get_audience(name: str, request: Request) -> Response:
    """The audience, its size and its size history (newest first, at most 100)."""
    store = _store(request)
    with store.reader() as con:
        described = next((a for a in store.audiences.describe(con) if a["name"] == name), None)
        if described is None:
            raise ApiError(404, "not_found", f"no audience is named {name!r}", "name")
        history = con.execute(
            """SELECT measured_at, size, entered, exited, cause FROM __kenning_audience_sizes
               WHERE audience = ? ORDER BY measured_at DESC LIMIT 100""",
            [name],
        ).fetchall()
    described["sizes"] = [
        {"at": at.astimezone(UTC).isoformat(), "size": s, "entered": e, "exited": x, "cause": c}
        for at, s, e, x, c in history
    ]
    return json_response(described)


def _members_page(store: Store, name: str, after: int, limit: int) -> list[tuple[int, datetime]]:
    with store.reader() as con:
        return members_page(con, name, after, limit)


@readers.get("/v1/audiences/{name}/members")
def list_members(
    name: str,
    request: Request,
    limit: Limit = 100,
    cursor: str | None = None,
    format: str = "json",
) -> Response:
    """Members by profile id: a page and ``next_cursor``, or every member as CSV
    (``format=csv``, streamed)."""
    store = _store(request)
    if store.audiences.get(name) is None:
        raise ApiError(404, "not_found", f"no audience is named {name!r}", "name")
    if format not in {"json", "csv"}:
        raise ApiError(400, "invalid_format", "format is json or csv", "format")
    after = 0
    if cursor is not None:
        if not cursor.isdigit():
            raise ApiError(400, "invalid_cursor", "cursor is not one this API gave", "cursor")
        after = int(cursor)
    if format == "csv":
        return StreamingResponse(
            _csv(store, name, after),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    rows = _members_page(store, name, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return json_response(
        {
            "members": [
                {"profile_id": p, "entered_at": at.astimezone(UTC).isoformat()} for p, at in rows
            ],
            "next_cursor": str(rows[-1][0]) if more else None,
        }
    )


def _csv(store: Store, name: str, after: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["profile_id", "entered_at"])
    while True:
        rows = _members_page(store, name, after, _CSV_PAGE)
        for p, at in rows:
            writer.writerow([p, at.astimezone(UTC).isoformat()])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < _CSV_PAGE:
            return
        after = rows[-1][0]


@writers.put("/v1/audiences/{name}")
async def declare_audience(name: str, request: Request) -> Response:
    """Add or replace an audience (``{"description", "condition"}``) and evaluate it before
    answering: the answer holds its size."""
    store = _store(request)
    body = await read_json_body(request, MAX_AUDIENCE_BYTES)
    try:
        audience = parse_audience(body, name)
    except ConditionError as error:
        raise _invalid(error) from None
    future = store.writer.run(
        lambda con: store.audiences.declare(con, audience), changes_stages=True
    )
    try:
        await asyncio.wrap_future(future)
    except ConditionError as error:
        raise _invalid(error) from None
    await asyncio.to_thread(store.evaluate_audiences_now)
    with store.reader() as con:
        described = next(a for a in store.audiences.describe(con) if a["name"] == name)
    return json_response(described)


@writers.delete("/v1/audiences/{name}", status_code=204)
async def remove_audience(name: str, request: Request) -> Response:
    store = _store(request)
    future = store.writer.run(lambda con: store.audiences.remove(con, name), changes_stages=True)
    try:
        await asyncio.wrap_future(future)
    except KeyError:
        raise ApiError(404, "not_found", f"no audience is named {name!r}", "name") from None
    except ConditionError as error:
        raise ApiError(409, "in_use", str(error), "name") from None
    return Response(status_code=204)


@writers.post("/v1/audiences/preview")
async def preview_audience(request: Request) -> Response:
    """Size and a sample of an audience not declared (``{"condition", "name"?}``)."""
    store = _store(request)
    body = await read_json_body(request, MAX_AUDIENCE_BYTES)
    try:
        audience = parse_audience({"name": "preview", **body})
        for name in audience.reads_audiences:
            if store.audiences.get(name) is None:
                raise ConditionError(f"no audience is named {name!r}", "condition")
    except ConditionError as error:
        raise _invalid(error) from None

    def run() -> dict[str, Any]:
        store.tallies.now()  # the computed traits count every event committed so far
        with store.reader() as con:
            return preview(con, audience, store.computed.definitions, datetime.now(UTC))

    return json_response(await asyncio.to_thread(run))


@writers.post("/v1/audiences/evaluate")
async def evaluate_audiences(request: Request) -> Response:
    """Evaluate every audience for everyone now (a server also does it on a schedule)."""
    store = _store(request)
    changes = await asyncio.to_thread(store.evaluate_audiences_now)
    return json_response({"entered": changes.count(ENTERED), "exited": changes.count(EXITED)})
