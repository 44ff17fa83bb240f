"""Journeys over HTTP: a person's timeline (``profiles:read``); the channel taxonomy, path
analysis (``analytics:read``). A bad request is answered 400 with the field's path."""

import asyncio
import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kenning.api.auth import require_scope
from kenning.api.collect import read_json_body
from kenning.api.errors import ApiError, json_response
from kenning.api.profiles import PROFILES_READ, found_profile
from kenning.journeys.analysis import funnel, goals, journey, top_paths
from kenning.journeys.channels import CHANNELS
from kenning.journeys.settings import JourneySettings
from kenning.store.store import Store

ANALYTICS_READ = "analytics:read"
MAX_QUESTION_BYTES = 64 * 1024
profiles = APIRouter(dependencies=[Depends(require_scope(PROFILES_READ))])
analytics = APIRouter(dependencies=[Depends(require_scope(ANALYTICS_READ))])
Limit = Annotated[int, Query(ge=1, le=10_000)]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def journey_settings(request: Request) -> JourneySettings:
    settings: JourneySettings = request.app.state.settings.journeys
    return settings


@profiles.get("/v1/profiles/{identifier}/journey")
def get_journey(identifier: str, request: Request, limit: Limit = 1_000) -> Response:
    """The person's events across devices and channels, oldest first (the newest ``limit``),
    each with its channel, device and campaign and whether it was a touch."""
    store, profile_id = found_profile(request, identifier)
    return json_response(journey(store, profile_id, journey_settings(request), limit=limit))


@analytics.get("/v1/channels")
def get_channels(request: Request) -> Response:
    """The channel taxonomy and the rules in force, in the order they are checked."""
    rules = journey_settings(request).rules
    return json_response(
        {
            "channels": list(CHANNELS),
            "explicit": list(rules.explicit),
            "rules": [
                {"channel": r.channel, "where": {t.field: t.spec() for t in r.tests}}
                for r in rules.rules
            ],
        }
    )


@analytics.post("/v1/paths")
async def post_paths(request: Request) -> Response:
    """The most frequent paths to a goal and their Sankey graph (docs/journeys.md)."""
    question = await read_json_body(request, MAX_QUESTION_BYTES)
    store, settings = _store(request), journey_settings(request)
    return json_response(await asyncio.to_thread(top_paths, store, question, settings))


@analytics.post("/v1/funnels")
async def post_funnel(request: Request, format: str = "json") -> Response:
    """A funnel's figures (docs/funnels.md): JSON, or with ``format=csv`` one row per step
    and breakdown group."""
    if format not in {"json", "csv"}:
        raise ApiError(400, "invalid_format", "format is json or csv", "format")
    definition = await read_json_body(request, MAX_QUESTION_BYTES)
    store, settings = _store(request), journey_settings(request)
    answer = await asyncio.to_thread(funnel, store, definition, settings)
    if format == "csv":
        return Response(csv_text(answer["rows"]), media_type="text/csv")
    return json_response(answer)


@analytics.post("/v1/goals")
async def post_goals(request: Request, format: str = "json") -> Response:
    """Touchpoint goals (docs/funnels.md): ``{"goals": {name: {touchpoint, goal, window,
    benchmark}}, "since", "until", "confidence"}``; JSON, or one CSV row per touchpoint."""
    if format not in {"json", "csv"}:
        raise ApiError(400, "invalid_format", "format is json or csv", "format")
    question = await read_json_body(request, MAX_QUESTION_BYTES)
    store, settings = _store(request), journey_settings(request)
    answer = await asyncio.to_thread(goals, store, question, settings)
    if format == "csv":
        return Response(csv_text(answer["rows"]), media_type="text/csv")
    return json_response(answer)


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows of one shape as CSV with a header (nothing for no rows)."""
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
