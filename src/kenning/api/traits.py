"""Computed-trait definitions over HTTP: list them (``profiles:read``); declare, remove,
recompute and refresh them (``admin``)."""

import asyncio
import time
from concurrent.futures import Future
from typing import TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.responses import Response

from kenning.api.auth import require_scope
from kenning.api.collect import read_json_body
from kenning.api.errors import ApiError, json_response
from kenning.profiles.computed.definitions import DefinitionError, parse
from kenning.store.store import Store

T = TypeVar("T")
MAX_DEFINITION_BYTES = 64 * 1024
readers = APIRouter(dependencies=[Depends(require_scope("profiles:read"))])
router = APIRouter(dependencies=[Depends(require_scope("admin"))])


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@readers.get("/v1/computed-traits")
def list_traits(request: Request) -> Response:
    store = _store(request)
    with store.reader() as con:
        listed = store.computed.describe(con)
    return json_response({"computed_traits": listed})


@router.put("/v1/computed-traits/{name}")
async def declare_trait(name: str, request: Request) -> Response:
    """Add or replace a trait (the body is its definition, as in the configuration file) and
    compute it from the log before answering."""
    store = _store(request)
    body = await read_json_body(request, MAX_DEFINITION_BYTES)
    try:
        definition = parse(name, body, "api")
    except DefinitionError as error:
        raise ApiError(400, "invalid_definition", str(error), error.field) from None
    started = time.perf_counter()
    future = store.writer.run(
        lambda con: (store.computed.declare(con, definition), store.computed.describe(con))[1],
        changes_stages=True,
    )
    listed = await _wait(future)
    described = next(d for d in listed if d["name"] == name)
    return json_response({**described, "seconds": round(time.perf_counter() - started, 3)})


@router.delete("/v1/computed-traits/{name}", status_code=204)
async def remove_trait(name: str, request: Request) -> Response:
    store = _store(request)
    future = store.writer.run(lambda con: store.computed.remove(con, name), changes_stages=True)
    try:
        await _wait(future)
    except DefinitionError as error:
        raise ApiError(404, "not_found", str(error), "name") from None
    return Response(status_code=204)


class RecomputeIn(BaseModel):
    names: list[str] | None = None  # default: every trait


@router.post("/v1/computed-traits/recompute")
async def recompute_traits(body: RecomputeIn, request: Request) -> Response:
    """Recompute traits from the whole log; ``{"names": [...]}`` limits it to some."""
    store = _store(request)
    started = time.perf_counter()
    future = store.writer.run(lambda con: store.computed.recompute(con, body.names))
    try:
        names = await _wait(future)
    except DefinitionError as error:
        raise ApiError(404, "not_found", str(error), "names") from None
    return json_response({"recomputed": names, "seconds": round(time.perf_counter() - started, 3)})


@router.post("/v1/computed-traits/refresh")
async def refresh_windows(request: Request) -> Response:
    """Recompute the windowed traits now (the server also does it on a schedule)."""
    store = _store(request)
    names = await _wait(store.writer.run(store.computed.refresh_windows))
    return json_response({"recomputed": names})


async def _wait(future: "Future[T]") -> T:
    """The writer job's result, without holding a worker thread while it runs."""
    return await asyncio.wrap_future(future)
