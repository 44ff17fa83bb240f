"""Attribution over HTTP: conversions credited to channels by every model, with return on
spend; first conversions by channel; aggregated path files (``analytics:read``); marketing
spend, imported (``analytics:write``) and summed (``analytics:read``)."""

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kenning.api.auth import require_scope
from kenning.api.collect import read_json_body
from kenning.api.errors import ApiError, json_response
from kenning.api.journeys import ANALYTICS_READ, MAX_QUESTION_BYTES, csv_text, journey_settings
from kenning.attribution.analysis import (
    acquisition,
    attribute_path_file,
    attribution,
    credit_rows,
)
from kenning.attribution.roi import import_spend, spend_by
from kenning.store.store import Store

ANALYTICS_WRITE = "analytics:write"
MAX_SPEND_BYTES = 16 * 1024 * 1024
readers = APIRouter(dependencies=[Depends(require_scope(ANALYTICS_READ))])
writers = APIRouter(dependencies=[Depends(require_scope(ANALYTICS_WRITE))])


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@writers.put("/v1/spend")
async def put_spend(request: Request) -> Response:
    """A spend CSV as the body (``date,channel,campaign,spend[,currency]``): checked whole,
    then stored; rows for a day, channel and campaign already held are replaced."""
    body = await request.body()
    if len(body) > MAX_SPEND_BYTES:
        raise ApiError(413, "too_large", f"a spend file is at most {MAX_SPEND_BYTES} bytes")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_body", "the body is not UTF-8 text", "body") from None
    stored = await asyncio.to_thread(import_spend, _store(request), text, name="body")
    return json_response(stored)


@readers.get("/v1/spend")
def get_spend(
    request: Request,
    by: Annotated[str, Query(pattern="^(channel|campaign)$")] = "channel",
    since: date | None = None,
    until: date | None = None,
) -> Response:
    """Spend summed per channel or campaign over days in [since, until)."""
    with _store(request).reader() as con:
        return json_response({"by": by, "spend": spend_by(con, since, until, by=by)})


def _format(format: str) -> str:
    if format not in {"json", "csv"}:
        raise ApiError(400, "invalid_format", "format is json or csv", "format")
    return format


def _answer(answer: dict[str, Any], format: str) -> Response:
    if format == "csv":
        return Response(csv_text(credit_rows(answer)), media_type="text/csv")
    return json_response(answer)


@readers.post("/v1/attribution")
async def post_attribution(request: Request, format: str = "json") -> Response:
    """A conversion event credited to channels (or campaigns) by each model, with return on
    spend (docs/attribution.md); ``format=csv``: one row per model and channel."""
    _format(format)
    question = await read_json_body(request, MAX_QUESTION_BYTES)
    store, settings = _store(request), journey_settings(request)
    return _answer(await asyncio.to_thread(attribution, store, question, settings), format)


@readers.post("/v1/attribution/acquisition")
async def post_acquisition(request: Request) -> Response:
    """Which channels bring first-time buyers, new members: each person's first conversion
    of each event, credited by channel."""
    question = await read_json_body(request, MAX_QUESTION_BYTES)
    store, settings = _store(request), journey_settings(request)
    return json_response(await asyncio.to_thread(acquisition, store, question, settings))


@readers.post("/v1/attribution/paths")
async def post_path_file(
    request: Request,
    path_col: str = "path",
    conv_col: str = "total_conversions",
    null_col: str | None = None,
    value_col: str | None = None,
    separator: str = ">",
    models: str | None = None,
    markov_order: Annotated[int, Query(ge=1, le=4)] = 1,
    format: str = "json",
) -> Response:
    """An aggregated path file as the body (CSV: ``"a > b > c"``, conversions, optional
    non-conversions and value) attributed by every model that reads paths."""
    _format(format)
    body = await request.body()
    if len(body) > MAX_SPEND_BYTES:
        raise ApiError(413, "too_large", f"a path file is at most {MAX_SPEND_BYTES} bytes")
    answer = await asyncio.to_thread(
        attribute_path_file,
        body,
        path_column=path_col,
        conversions_column=conv_col,
        nulls_column=null_col,
        value_column=value_col,
        separator=separator,
        models=[m for m in models.split(",") if m] if models else None,
        markov_order=markov_order,
        name="body",
    )
    return _answer(answer, format)
