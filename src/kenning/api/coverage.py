"""The data coverage report over HTTP: how many customers Kenning knows each thing about.
Bearer tokens with scope ``profiles:read`` (or ``admin``)."""

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kenning.api.auth import require_scope
from kenning.api.errors import json_response
from kenning.api.profiles import PROFILES_READ
from kenning.profiles.coverage import coverage
from kenning.store.store import Store

router = APIRouter(dependencies=[Depends(require_scope(PROFILES_READ))])


@router.get("/v1/coverage")
def get_coverage(request: Request) -> Response:
    """The share of profiles having each trait, computed trait, consent decision, identifier
    type and household, and at each customer-understanding level (docs/understanding.md)."""
    store: Store = request.app.state.store
    return json_response(coverage(store))
