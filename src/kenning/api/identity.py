"""Identity admin endpoints: explain a join, rebuild from the log, export the graph."""

from typing import Literal

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from kenning.api.auth import require_scope
from kenning.api.errors import ApiError, json_response
from kenning.identity.explain import explain
from kenning.identity.identifiers import Identifier
from kenning.identity.rebuild import rebuild_identity
from kenning.store.events import iter_identities
from kenning.store.store import Store

router = APIRouter(dependencies=[Depends(require_scope("admin"))])


def _identifier(text: str, field: str) -> Identifier:
    try:
        return Identifier.parse(text)
    except ValueError as error:
        raise ApiError(400, "invalid_identifier", str(error), field) from None


@router.get("/v1/identity/explain")
def explain_join(a: str, b: str, request: Request) -> Response:
    store: Store = request.app.state.store
    return json_response(explain(store, _identifier(a, "a"), _identifier(b, "b")).as_dict())


@router.post("/v1/identity/rebuild")
def rebuild(request: Request) -> Response:
    store: Store = request.app.state.store
    replayed = rebuild_identity(store)
    return json_response({"events": replayed, **store.stats()})


@router.get("/v1/identities/export")
def export_identities(request: Request, format: Literal["csv", "jsonl"] = "csv") -> Response:
    store: Store = request.app.state.store
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(iter_identities(store, format), media_type=media)
