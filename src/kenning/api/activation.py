"""Activation over HTTP: destinations, campaigns and the delivery log.

Reading needs ``activation:read``, declaring and replaying ``activation:write`` (or
``admin``). A destination's secrets are never shown back (``declared.masked``).
"""

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kenning.activation.campaigns import CampaignError, parse_campaign
from kenning.activation.catalog import (
    check_references,
    describe_campaign,
    describe_destination,
    replay_dead,
)
from kenning.activation.declared import parse_destination
from kenning.activation.destinations.base import DestinationConfigError
from kenning.activation.destinations.registry import kinds
from kenning.activation.lift import lift
from kenning.activation.outbox import STATUSES, deliveries_page, delivery_detail
from kenning.activation.snapshots import write_snapshots
from kenning.activation.stage import CampaignInUse
from kenning.api.auth import require_scope
from kenning.api.collect import read_json_body
from kenning.api.errors import ApiError, json_response
from kenning.audiences.conditions import ConditionError, parse_duration
from kenning.settings import destination_context
from kenning.store.store import Store

MAX_SPEC_BYTES = 64 * 1024
readers = APIRouter(dependencies=[Depends(require_scope("activation:read"))])
writers = APIRouter(dependencies=[Depends(require_scope("activation:write"))])
Limit = Annotated[int, Query(ge=1, le=1_000)]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


# -- destinations ------------------------------------------------------------------------------


@readers.get("/v1/destinations")
def list_destinations(request: Request) -> Response:
    store = _store(request)
    return json_response(
        {"destinations": [d.public() for _, d in sorted(store.activation.destinations.items())]}
    )


@readers.get("/v1/destinations/kinds")
def destination_kinds() -> Response:
    """Each registered kind with its config's JSON Schema."""
    return json_response(
        {
            "kinds": [
                {"kind": name, "config_schema": kind.config_schema()}
                for name, kind in kinds().items()
            ]
        }
    )


@readers.get("/v1/destinations/{name}")
def get_destination(name: str, request: Request) -> Response:
    """The destination (secrets masked) and its queue: deliveries by status."""
    described = describe_destination(_store(request), name)
    if described is None:
        raise ApiError(404, "not_found", f"no destination is named {name!r}", "name")
    return json_response(described)


@writers.put("/v1/destinations/{name}")
async def declare_destination(name: str, request: Request) -> Response:
    """Add or replace a destination: ``{"kind", "config", "consent"?, "audiences"?,
    "events"?, "enabled"?}``. The config is checked by making the destination."""
    store = _store(request)
    body = await read_json_body(request, MAX_SPEC_BYTES)
    context = destination_context(request.app.state.settings)
    try:
        declared = parse_destination(body, name, context=context)
    except DestinationConfigError as error:
        raise ApiError(400, "invalid_destination", error.message, error.field or "body") from None
    future = store.writer.run(
        lambda con: store.activation.declare_destination(con, declared), changes_stages=True
    )
    await asyncio.wrap_future(future)
    return json_response(declared.public())


@writers.delete("/v1/destinations/{name}")
async def remove_destination(name: str, request: Request) -> Response:
    """Remove a destination; what it was still owed becomes dead letters (replayable)."""
    store = _store(request)
    future = store.writer.run(
        lambda con: store.activation.remove_destination(con, name), changes_stages=True
    )
    try:
        dropped = await asyncio.wrap_future(future)
    except KeyError:
        raise ApiError(404, "not_found", f"no destination is named {name!r}", "name") from None
    except CampaignInUse as error:
        raise ApiError(409, "in_use", str(error), "name") from None
    return json_response({"removed": name, "dead_lettered": dropped})


@writers.post("/v1/destinations/{name}/snapshot")
async def snapshot_destination(name: str, request: Request) -> Response:
    """Write every member of each audience a file destination takes (then deltas follow):
    ``{"files": {audience: path}}``."""
    store = _store(request)
    declared = store.activation.destinations.get(name)
    if declared is None:
        raise ApiError(404, "not_found", f"no destination is named {name!r}", "name")
    context = destination_context(request.app.state.settings)
    try:
        files = await asyncio.to_thread(write_snapshots, store, declared, context)
    except DestinationConfigError as error:
        raise ApiError(400, "not_a_file_destination", error.message, error.field) from None
    return json_response({"files": {a: str(p) for a, p in files.items()}})


# -- campaigns ---------------------------------------------------------------------------------


@readers.get("/v1/campaigns")
def list_campaigns(request: Request) -> Response:
    store = _store(request)
    with store.reader() as con:
        return json_response({"campaigns": store.activation.describe_campaigns(con)})


@readers.get("/v1/campaigns/{name}")
def get_campaign(name: str, request: Request) -> Response:
    """The campaign and its messages by status (holdout among them, for lift)."""
    described = describe_campaign(_store(request), name)
    if described is None:
        raise ApiError(404, "not_found", f"no campaign is named {name!r}", "name")
    return json_response(described)


@readers.get("/v1/campaigns/{name}/lift")
def campaign_lift(name: str, request: Request, event: str, within: str = "7d") -> Response:
    """Conversion (``event`` within ``within`` of the trigger) of the people the campaign
    reached against its holdout group, the lift and its p-value (activation/lift.py)."""
    store = _store(request)
    if name not in store.activation.campaigns:
        raise ApiError(404, "not_found", f"no campaign is named {name!r}", "name")
    try:
        window = parse_duration(within)
    except ValueError as error:
        raise ApiError(400, "invalid_window", str(error), "within") from None
    with store.reader() as con:
        return json_response(lift(con, name, event, window, datetime.now(UTC)))


@writers.put("/v1/campaigns/{name}")
async def declare_campaign(name: str, request: Request) -> Response:
    """Add or replace a campaign (docs/activation.md). Its channels' destinations and the
    audiences it reads must be declared."""
    store = _store(request)
    body = await read_json_body(request, MAX_SPEC_BYTES)
    try:
        campaign = parse_campaign(body, name)
        check_references(campaign, store)
    except CampaignError as error:
        raise ApiError(400, "invalid_campaign", error.message, error.field or "body") from None
    future = store.writer.run(
        lambda con: store.activation.declare_campaign(con, campaign), changes_stages=True
    )
    try:
        await asyncio.wrap_future(future)
    except ConditionError as error:
        raise ApiError(400, "invalid_campaign", str(error), error.field or "trigger") from None
    return json_response(campaign.document())


@writers.delete("/v1/campaigns/{name}")
async def remove_campaign(name: str, request: Request) -> Response:
    store = _store(request)
    future = store.writer.run(
        lambda con: store.activation.remove_campaign(con, name), changes_stages=True
    )
    try:
        await asyncio.wrap_future(future)
    except KeyError:
        raise ApiError(404, "not_found", f"no campaign is named {name!r}", "name") from None
    return json_response({"removed": name})


# -- deliveries --------------------------------------------------------------------------------


@readers.get("/v1/deliveries")
def list_deliveries(
    request: Request,
    status: str | None = None,
    destination: str | None = None,
    campaign: str | None = None,
    profile_id: int | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Response:
    """The delivery log, newest first, filtered; ``next_cursor`` pages on."""
    if status is not None and status not in STATUSES:
        raise ApiError(400, "invalid_status", f"status is one of {', '.join(STATUSES)}", "status")
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise ApiError(400, "invalid_cursor", "cursor is not one this API gave", "cursor")
        before = int(cursor)
    store = _store(request)
    with store.reader() as con:
        items = deliveries_page(
            con,
            status=status,
            destination=destination,
            campaign=campaign,
            profile_id=profile_id,
            before=before,
            limit=limit + 1,
        )
    more = len(items) > limit
    items = items[:limit]
    return json_response(
        {"deliveries": items, "next_cursor": str(items[-1]["id"]) if more else None}
    )


@readers.get("/v1/deliveries/{delivery_id}")
def get_delivery(delivery_id: int, request: Request) -> Response:
    """One delivery with its payload, every attempt and its dead letters."""
    store = _store(request)
    with store.reader() as con:
        found = delivery_detail(con, delivery_id)
    if found is None:
        raise ApiError(404, "not_found", f"no delivery has id {delivery_id}", "delivery_id")
    return json_response(found)


@writers.post("/v1/deliveries/replay")
async def replay_deliveries(request: Request) -> Response:
    """Send dead deliveries again: ``{"ids": [...]}`` or ``{"destination": name}``."""
    store = _store(request)
    body = await read_json_body(request, MAX_SPEC_BYTES)
    if not isinstance(body, dict) or not body.keys() & {"ids", "destination"}:
        raise ApiError(400, "invalid_replay", "give ids, a destination, or both", "body")
    ids = body.get("ids")
    if ids is not None and (
        not isinstance(ids, list)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise ApiError(400, "invalid_replay", "ids is a list of delivery ids", "ids")
    destination = body.get("destination")
    if destination is not None and not isinstance(destination, str):
        raise ApiError(400, "invalid_replay", "destination is a name", "destination")
    try:
        replayed = await asyncio.to_thread(replay_dead, store, ids, destination)
    except KeyError:
        message = f"no destination is named {destination!r}"
        raise ApiError(404, "not_found", message, "destination") from None
    return json_response({"replayed": replayed})
