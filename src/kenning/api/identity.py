"""Identity admin endpoints: explain a join, overrides (unmerge), rebuild, export the graph."""

import tempfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response, StreamingResponse

from kenning.api.audit import audit_as
from kenning.api.auth import require_scope
from kenning.api.errors import ApiError, json_response
from kenning.identity.ceiling import CeilingUnavailable, evidence_ceiling
from kenning.identity.evaluate import TruthError, evaluate
from kenning.identity.explain import explain
from kenning.identity.households import compute_households, household_members, household_traits
from kenning.identity.identifiers import Identifier
from kenning.identity.matching.review import ReviewError, decide_review, list_reviews
from kenning.identity.matching.run import match_identities
from kenning.identity.matching.settings import MatchSettingsError
from kenning.identity.overrides import OverrideError
from kenning.identity.rebuild import rebuild_identity
from kenning.identity.unmerge import lift_override, record_override
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
    rebuilt = rebuild_identity(store)
    return json_response({**rebuilt.as_dict(), **store.stats()})


class OverrideIn(BaseModel):
    kind: Literal["never_join", "detach"]
    a: str = Field(min_length=1, max_length=2_048)
    b: str | None = Field(default=None, max_length=2_048)
    reason: str | None = Field(default=None, max_length=1_000)


@router.post("/v1/identity/overrides")
def add_override(body: OverrideIn, request: Request) -> Response:
    """Record an override and rebuild the graph under it, in one transaction."""
    store: Store = request.app.state.store
    try:
        applied = record_override(store, body.kind, body.a, body.b, body.reason)
    except OverrideError as error:
        raise ApiError(400, "invalid_override", str(error), error.field) from None
    return json_response(applied.as_dict(), status=201)


@router.get("/v1/identity/overrides")
def list_overrides(request: Request) -> Response:
    store: Store = request.app.state.store
    return json_response({"overrides": [o.as_dict() for o in store.identity.overrides]})


@router.delete("/v1/identity/overrides/{override_id}")
def remove_override(override_id: int, request: Request) -> Response:
    """Lift an override; the graph is rebuilt without it."""
    applied = lift_override(request.app.state.store, override_id)
    if applied is None:
        raise ApiError(404, "not_found", f"no active override {override_id}", "override_id")
    return json_response(applied.as_dict())


class TruthIn(BaseModel):
    truth: list[str] = Field(min_length=1, max_length=20)
    # Also score the evidence ceiling (identity/ceiling.py): the best any resolver could.
    ceiling: bool = False


@router.post("/v1/identity/evaluate")
def evaluate_graph(body: TruthIn, request: Request) -> Response:
    """Score the graph against ground-truth CSVs sent as text (see identity/evaluate.py)."""
    store: Store = request.app.state.store
    with tempfile.TemporaryDirectory(prefix="kenning-truth-") as directory:
        paths = []
        for index, text in enumerate(body.truth):
            path = Path(directory) / f"truth-{index}.csv"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        try:
            scores = evaluate(store, paths).as_dict()
            if body.ceiling:
                scores["ceiling"] = evidence_ceiling(store, paths).as_dict()
        except CeilingUnavailable as error:
            raise ApiError(400, "ceiling_unavailable", str(error), "ceiling") from None
        except TruthError as error:
            raise ApiError(400, "invalid_truth", str(error), "truth") from None
    return json_response(scores)


class HouseholdsIn(BaseModel):
    by_surname: bool = False


@router.post("/v1/identity/households")
def recompute_households(request: Request, body: HouseholdsIn | None = None) -> Response:
    """Recompute every household from the profiles' latest addresses."""
    store: Store = request.app.state.store
    by_surname = body.by_surname if body is not None else False
    return json_response(compute_households(store, by_surname=by_surname).as_dict())


@router.get("/v1/identity/households/{household}")
def get_household(household: str, request: Request) -> Response:
    members = household_members(request.app.state.store, household)
    if not members:
        raise ApiError(404, "not_found", f"no household {household}", "household")
    return json_response({"household_id": household, "size": len(members), "profiles": members})


@router.get("/v1/identity/profiles/{profile_id}/household")
def get_profile_household(profile_id: int, request: Request) -> Response:
    """A profile's household as traits: id, size, the other members, adults and children."""
    traits = household_traits(request.app.state.store, profile_id)
    if traits is None:
        raise ApiError(404, "not_found", f"profile {profile_id} is in no household", "profile_id")
    return json_response(traits)


class MatchIn(BaseModel):
    match_probability: float | None = Field(default=None, gt=0, lt=1)
    review_probability: float | None = Field(default=None, gt=0, lt=1)


@router.post("/v1/identity/match")
def run_match(request: Request, body: MatchIn | None = None) -> Response:
    """Probabilistic matching over every profile: merges, and pairs queued for review."""
    settings = request.app.state.settings.matching
    if body is not None:
        try:
            settings = settings.with_thresholds(body.match_probability, body.review_probability)
        except MatchSettingsError as error:
            raise ApiError(400, "invalid_thresholds", str(error), "review_probability") from None
    report = match_identities(request.app.state.store, settings)
    return json_response(report.as_dict())


@router.get("/v1/identity/reviews")
def get_reviews(
    request: Request,
    status: Literal["pending", "accepted", "rejected", "all"] = "pending",
    limit: int = Query(default=100, ge=1, le=10_000),
) -> Response:
    reviews = list_reviews(
        request.app.state.store, status=None if status == "all" else status, limit=limit
    )
    return json_response({"reviews": [r.as_dict() for r in reviews]})


@router.post("/v1/identity/reviews/{review_id}/{decision}")
def decide(review_id: int, decision: Literal["accept", "reject"], request: Request) -> Response:
    """Accept (merge the pair now) or reject (never ask again) a pending review."""
    try:
        decided = decide_review(request.app.state.store, review_id, decision == "accept")
    except ReviewError as error:
        status = 404 if error.missing else 409
        code = "not_found" if error.missing else "already_decided"
        raise ApiError(status, code, str(error), "review_id") from None
    return json_response(decided.as_dict())


@router.get("/v1/identities/export")
def export_identities(request: Request, format: Literal["csv", "jsonl"] = "csv") -> Response:
    store: Store = request.app.state.store
    audit_as(request, "identities.export", None, {"format": format})
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(iter_identities(store, format), media_type=media)
