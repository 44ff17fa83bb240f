"""The Profile API: a person's profile by any identifier, for systems that personalise.
Bearer tokens with scope ``profiles:read`` (or ``admin``). What is personal (privacy/pii.py)
is masked unless the token also has ``pii:read``; each unmasked read is audited. Predictions
are shown only for people who grant the profiling consent category."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kenning.api.audit import audit_as
from kenning.api.auth import may, require_scope
from kenning.api.errors import ApiError, json_response
from kenning.audiences.membership import profile_memberships
from kenning.privacy.pii import Masker
from kenning.privacy.scopes import PII_READ
from kenning.privacy.seen import profile_as_seen
from kenning.profiles.computed.read import computed_traits
from kenning.profiles.read import (
    CursorError,
    ProfileLookupError,
    consent_view,
    events,
    find_profile,
    identities,
    person,
    profile,
    search,
    source_names,
    trait_view,
    traits,
)
from kenning.profiles.rows import profile_ids
from kenning.settings import Settings
from kenning.store.store import Store

PROFILES_READ = "profiles:read"
router = APIRouter(dependencies=[Depends(require_scope(PROFILES_READ))])
Limit = Annotated[int, Query(ge=1, le=1_000)]


def masker(request: Request, profile_id: int | None) -> Masker | None:
    """The masker for a token without ``pii:read``; None for one with it (whose read of
    ``profile_id`` goes into the audit log)."""
    if may(request, PII_READ):
        audit_as(request, "pii.read", profile_id)
        return None
    settings: Settings = request.app.state.settings
    return Masker(settings.privacy.pii)


def found_profile(request: Request, identifier: str) -> tuple[Store, int]:
    store: Store = request.app.state.store
    try:
        profile_id = find_profile(store, identifier)
    except ProfileLookupError as error:
        raise ApiError(400, "invalid_identifier", str(error), "identifier") from None
    if profile_id is None:
        raise ApiError(404, "not_found", "no profile holds this identifier", "identifier")
    return store, profile_id


@router.get("/v1/profiles/{identifier}")
def get_profile(identifier: str, request: Request) -> Response:
    """The profile holding ``TYPE:VALUE`` (``email:jane@example.com``, ``user_id:42``,
    ``anonymous_id:...``, ``profile_id:7``)."""
    store, profile_id = found_profile(request, identifier)
    return json_response(shown(request, store, profile(store, profile_id)))


def shown(request: Request, store: Store, held: dict[str, Any]) -> dict[str, Any]:
    """A profile as this request may see it (``privacy/seen.py``); a read with ``pii:read``
    goes into the audit log."""
    settings: Settings = request.app.state.settings
    pii_read = may(request, PII_READ)
    if pii_read:
        audit_as(request, "pii.read", int(held["profile_id"]))
    return profile_as_seen(store, settings.privacy, held, pii_read=pii_read)


@router.get("/v1/profiles/{identifier}/audiences")
def get_audiences(identifier: str, request: Request) -> Response:
    """The audiences the profile is in, and its latest entries and exits (newest first)."""
    store, profile_id = found_profile(request, identifier)
    with store.reader() as con:
        return json_response(profile_memberships(con, profile_id))


@router.get("/v1/profiles/{identifier}/traits")
def get_traits(identifier: str, request: Request) -> Response:
    store, profile_id = found_profile(request, identifier)
    with store.reader() as con:
        _, rows = person(store, con, profile_id)
    found = traits(rows, source_names(store))
    computed = computed_traits(rows, store.computed.shown.values())
    view = trait_view(found)
    mask = masker(request, profile_id)
    if mask is not None:
        view["traits"] = mask.traits(view["traits"])
    return json_response({"profile_id": profile_id, **view, "computed_traits": computed})


@router.get("/v1/profiles/{identifier}/identities")
def get_identities(identifier: str, request: Request) -> Response:
    store, profile_id = found_profile(request, identifier)
    held = identities(store, profile_id)
    mask = masker(request, profile_id)
    return json_response(
        {"profile_id": profile_id, "identities": held if mask is None else mask.identities(held)}
    )


@router.get("/v1/profiles/{identifier}/consent")
def get_consent(identifier: str, request: Request) -> Response:
    store, profile_id = found_profile(request, identifier)
    return json_response(consent_view(store, profile_id))


@router.get("/v1/profiles/{identifier}/events")
def get_events(
    identifier: str,
    request: Request,
    limit: Limit = 50,
    cursor: str | None = None,
    event: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    """Newest first; ``next_cursor`` fetches the next page."""
    store, profile_id = found_profile(request, identifier)
    with store.reader() as con:
        try:
            page = events(
                con,
                profile_ids(con, profile_id),
                limit=limit,
                cursor=cursor,
                event=event,
                since=since,
                until=until,
            )
        except CursorError as error:
            raise ApiError(400, "invalid_cursor", str(error), "cursor") from None
    mask = masker(request, profile_id)
    items = page.items if mask is None else [mask.message(m) for m in page.items]
    return json_response(
        {"profile_id": profile_id, "items": items, "next_cursor": page.next_cursor}
    )


@router.get("/v1/profiles")
def search_profiles(request: Request, limit: Limit = 50, cursor: str | None = None) -> Response:
    """Profiles by current trait values: ``?trait.city=York&trait.plan=gold`` (all must hold),
    by profile id; ``next_cursor`` fetches the next page."""
    store: Store = request.app.state.store
    filters = {
        key.removeprefix("trait."): value
        for key, value in request.query_params.items()
        if key.startswith("trait.")
    }
    unknown = sorted(
        k
        for k in request.query_params
        if not k.startswith("trait.") and k not in {"limit", "cursor"}
    )
    if unknown:
        raise ApiError(400, "invalid_filter", "filters are trait.<path>=<value>", unknown[0])
    settings: Settings = request.app.state.settings
    personal = sorted(p for p in filters if settings.privacy.pii.is_personal_trait(p))
    if personal and not may(request, PII_READ):
        # else a masked token could still test whose email is whose
        raise ApiError(
            403, "forbidden", "filtering on a personal trait needs the scope 'pii:read'",
            f"trait.{personal[0]}",
        )  # fmt: skip
    with store.reader() as con:
        try:
            page = search(con, filters, limit=limit, cursor=cursor)
        except CursorError as error:
            raise ApiError(400, "invalid_cursor", str(error), "cursor") from None
    items = [shown(request, store, profile(store, int(i["profile_id"]))) for i in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})
