"""The privacy API: regulation requests, access exports, consent set by API, deletion checks,
the audit log and retention. Scopes: ``privacy:admin`` (regulations, exports, verification,
the audit log), ``consent:write`` (a person's choices), ``profiles:read`` (the categories)."""

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kenning.api.audit import audit_as
from kenning.api.auth import require_scope
from kenning.api.collect import read_json_body
from kenning.api.errors import ApiError, json_response
from kenning.api.profiles import found_profile
from kenning.errors import FieldError
from kenning.privacy.access import access_document
from kenning.privacy.choices import record_consent
from kenning.privacy.erasure import verify_deleted
from kenning.privacy.exported import export_folders
from kenning.privacy.regulations import Regulations, parse_request
from kenning.privacy.retention import apply_retention
from kenning.privacy.scopes import CONSENT_WRITE, PRIVACY_ADMIN, PROFILES_READ
from kenning.profiles.read import consent_view
from kenning.settings import Settings
from kenning.store.store import Store

admins = APIRouter(dependencies=[Depends(require_scope(PRIVACY_ADMIN))])
consent_writers = APIRouter(dependencies=[Depends(require_scope(CONSENT_WRITE))])
readers = APIRouter(dependencies=[Depends(require_scope(PROFILES_READ))])

# A request body here is a few identifiers or choices.
MAX_BODY_BYTES = 256 * 1024
Limit = Annotated[int, Query(ge=1, le=1_000)]
# Which of a person's identifiers the consent event carries, by preference.
_HOLDER_ORDER = {"user_id": 0, "anonymous_id": 1, "email": 2}


def _regulations(request: Request) -> Regulations:
    regulations: Regulations = request.app.state.regulations
    return regulations


@admins.post("/v1/regulations", status_code=202)
async def create_regulation(request: Request) -> Response:
    """``{"type": "SUPPRESS" | "DELETE" | "SUPPRESS_WITH_DELETE" | "UNSUPPRESS",
    "identifiers": ["email:jane@example.com", "user_id:42", "profile_id:7"]}``. A suppression
    holds when this answers; a deletion runs on (poll ``GET /v1/regulations/{id}``)."""
    store: Store = request.app.state.store
    body = await read_json_body(request, MAX_BODY_BYTES)
    kind, identifiers = parse_request(store, body)
    principal = request.state.principal
    started = await asyncio.to_thread(
        _regulations(request).request, kind, identifiers, principal.id
    )
    audit_as(
        request, f"regulation.{kind.lower()}", started["id"], {"identifiers": len(identifiers)}
    )
    return json_response(started, 202)


@admins.get("/v1/regulations")
def list_regulations(request: Request, limit: Limit = 100) -> Response:
    return json_response({"regulations": _regulations(request).list(limit)})


@admins.get("/v1/regulations/{regulation_id}")
def get_regulation(regulation_id: str, request: Request) -> Response:
    found = _regulations(request).status(regulation_id)
    if found is None:
        raise ApiError(404, "not_found", "no regulation request has this id", "regulation_id")
    return json_response(found)


@admins.get("/v1/profiles/{identifier}/export")
def export_profile(identifier: str, request: Request) -> Response:
    """Everything Kenning holds about the person, as one JSON document (an access request)."""
    store, profile_id = found_profile(request, identifier)
    audit_as(request, "profile.export", profile_id)
    return json_response(access_document(store, profile_id))


@admins.post("/v1/privacy/verify")
async def verify(request: Request) -> Response:
    """``{"identifiers": [...]}``: every table column and exported file still holding any of
    them (``traces`` empty: nothing is left)."""
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    body = await read_json_body(request, MAX_BODY_BYTES)
    given = body.get("identifiers")
    if not isinstance(given, list) or not given or not all(isinstance(i, str) for i in given):
        raise ApiError(400, "invalid_request", "a list of TYPE:VALUE texts", "identifiers")
    found = await asyncio.to_thread(
        verify_deleted, store, given, export_folders_of(store, settings)
    )
    detail = {"identifiers": len(given), "traces": len(found["traces"])}
    audit_as(request, "privacy.verify", None, detail)
    return json_response(found)


@admins.get("/v1/audit")
def audit_log(
    request: Request,
    limit: Limit = 100,
    action: str | None = None,
    actor_id: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
) -> Response:
    """The audit log, newest first; ``action`` matches a prefix (``regulation.``);
    ``before_id`` pages."""
    store: Store = request.app.state.store
    entries = store.audit.query(
        action=action, actor_id=actor_id, target=target, since=since, until=until,
        before_id=before_id, limit=limit,
    )  # fmt: skip
    return json_response({"entries": entries})


@admins.post("/v1/privacy/retention")
async def run_retention(request: Request) -> Response:
    """Delete every event older than its source keeps them, and rebuild what derives from
    them, now (a server also does it every ``privacy.retention_hours``)."""
    store: Store = request.app.state.store
    done = await asyncio.to_thread(apply_retention, store)
    audit_as(request, "retention.run", None, {"events_deleted": done["events_deleted"]})
    return json_response(done)


@consent_writers.put("/v1/profiles/{identifier}/consent")
async def put_consent(identifier: str, request: Request) -> Response:
    """``{"categoryPreferences": {"marketing_email": false, ...}}``: the person's choices,
    stated now (written to the log as an event of the ``kenning-consent-api`` source)."""
    store, profile_id = found_profile(request, identifier)
    settings: Settings = request.app.state.settings
    body = await read_json_body(request, MAX_BODY_BYTES)
    unknown = sorted(set(body) - {"categoryPreferences"})
    if unknown:
        raise FieldError("not a field of a consent request", unknown[0])
    choices = settings.privacy.consent.check_choices(
        body.get("categoryPreferences"), "categoryPreferences"
    )
    held = store.identity.graph.identifiers_of(profile_id)
    holder = min(held, key=lambda i: (_HOLDER_ORDER.get(i.type, len(_HOLDER_ORDER)), str(i)),
                 default=None)  # fmt: skip
    if holder is None:
        raise ApiError(404, "not_found", "no profile holds this identifier", "identifier")
    await asyncio.to_thread(record_consent, store, holder, choices, request.state.principal.id)
    audit_as(request, "consent.update", profile_id, {"categories": sorted(choices)})
    return json_response(consent_view(store, profile_id))


@readers.get("/v1/consent/categories")
def consent_categories(request: Request) -> Response:
    """The consent categories and the one predictions need (``profiling``)."""
    settings: Settings = request.app.state.settings
    return json_response(settings.privacy.consent.as_dict())


def export_folders_of(store: Store, settings: Settings) -> list[Path]:
    """The folders of the store's file destinations, where Kenning exports people."""
    return export_folders(store.activation.destinations.values(), settings.db_path)
