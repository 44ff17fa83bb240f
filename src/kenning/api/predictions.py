"""Predictions over HTTP: refit every model and score everyone (``analytics:write``); the
latest run of each model, its fit and diagnostics: the model card (``analytics:read``); a
lookalike audience from a seed audience (``audiences:write``)."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kenning.api.attribution import ANALYTICS_WRITE
from kenning.api.auth import require_scope
from kenning.api.collect import read_json_body
from kenning.api.errors import json_response
from kenning.api.journeys import ANALYTICS_READ, MAX_QUESTION_BYTES
from kenning.errors import FieldError
from kenning.predictions.scores import latest_runs
from kenning.store.store import Store

AUDIENCES_WRITE = "audiences:write"
# The models (scipy, scikit-learn: over a second to import) are imported by the endpoints
# that run them, not with the app: every CLI command imports this module.
readers = APIRouter(dependencies=[Depends(require_scope(ANALYTICS_READ))])
audience_writers = APIRouter(dependencies=[Depends(require_scope(AUDIENCES_WRITE))])
writers = APIRouter(dependencies=[Depends(require_scope(ANALYTICS_WRITE))])


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@writers.post("/v1/predictions/run")
async def post_run(request: Request) -> Response:
    """Refit the models (``{"models": ["rfm", "clv", "lifecycle"]}``, default every one) on
    the orders up to ``as_of`` (default now), score everyone and re-evaluate audiences."""
    question = await read_json_body(request, MAX_QUESTION_BYTES) if await request.body() else {}
    unknown = sorted(set(question) - {"models", "as_of"})
    if unknown:
        raise FieldError("not a setting of a run", unknown[0])
    models: Any = question.get("models")
    if models is not None and (
        not isinstance(models, list) or not all(isinstance(m, str) for m in models)
    ):
        raise FieldError("a list of model names", "models")
    as_of: Any = question.get("as_of")
    if as_of is not None and not isinstance(as_of, str):
        raise FieldError("an ISO 8601 time", "as_of")
    store, settings = _store(request), request.app.state.settings
    from kenning.predictions.analysis import run_and_reevaluate

    ran = await asyncio.to_thread(run_and_reevaluate, store, settings, models=models, as_of=as_of)
    return json_response(ran)


@readers.get("/v1/predictions")
def get_runs(request: Request) -> Response:
    """Each model's latest run: when it ran, its fit, diagnostics and what it scored."""
    with _store(request).reader() as con:
        return json_response({"runs": latest_runs(con)})


@audience_writers.post("/v1/predictions/lookalikes")
async def post_lookalike(request: Request) -> Response:
    """A lookalike audience: ``{"seed", "name", "top_percent" (5), "method" ("both")}``; the
    answer holds how the rankers did on a held-out fifth of the seed and the new audience."""
    question = await read_json_body(request, MAX_QUESTION_BYTES)
    store, settings = _store(request), request.app.state.settings
    from kenning.predictions.lookalike_audience import lookalike_from_request

    made = await asyncio.to_thread(lookalike_from_request, store, settings, question)
    return json_response(made)
