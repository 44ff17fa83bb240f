"""Attribution over HTTP: marketing spend, imported (``analytics:write``) and summed
(``analytics:read``)."""

import asyncio
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kenning.api.auth import require_scope
from kenning.api.errors import ApiError, json_response
from kenning.api.journeys import ANALYTICS_READ
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
