"""The Profile API: a person's profile by any identifier, for systems that personalise.
Bearer tokens with scope ``profiles:read`` (or ``admin``)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kenning.api.auth import require_scope
from kenning.api.errors import ApiError, json_response
from kenning.profiles.computed.read import computed_traits
from kenning.profiles.read import (
    CursorError,
    ProfileLookupError,
    consent,
    consent_history,
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
from kenning.profiles.rows import Part, person_rows, profile_ids
from kenning.store.store import Store

PROFILES_READ = "profiles:read"
router = APIRouter(dependencies=[Depends(require_scope(PROFILES_READ))])
Limit = Annotated[int, Query(ge=1, le=1_000)]


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
    return json_response(profile(store, profile_id))


@router.get("/v1/profiles/{identifier}/audiences")
def get_audiences(identifier: str, request: Request) -> Response:
    """The audiences the profile is in, and its latest entries and exits (newest first)."""
    store, profile_id = found_profile(request, identifier)
    with store.reader() as con:
        ids = profile_ids(con, profile_id)
        held = con.execute(
            """SELECT audience, entered_at FROM __kenning_audience_members
               WHERE profile_id = ? AND NOT contains(audience, ':') ORDER BY audience""",
            [profile_id],
        ).fetchall()
        changes = con.execute(
            """SELECT audience, change, changed_at, cause FROM __kenning_audience_changes
               WHERE profile_id = ANY(?) AND NOT contains(audience, ':')
               ORDER BY id DESC LIMIT 100""",
            [ids],
        ).fetchall()
    return json_response(
        {
            "audiences": [{"name": a, "entered_at": at.isoformat()} for a, at in held],
            "changes": [
                {
                    "event": "Audience Entered" if change == "entered" else "Audience Exited",
                    "audience": a,
                    "at": at.isoformat(),
                    "cause": cause,
                }
                for a, change, at, cause in changes
            ],
        }
    )


@router.get("/v1/profiles/{identifier}/traits")
def get_traits(identifier: str, request: Request) -> Response:
    store, profile_id = found_profile(request, identifier)
    with store.reader() as con:
        _, rows = person(store, con, profile_id)
    found = traits(rows, source_names(store))
    computed = computed_traits(rows, store.computed.shown.values())
    return json_response(
        {"profile_id": profile_id, **trait_view(found), "computed_traits": computed}
    )


@router.get("/v1/profiles/{identifier}/identities")
def get_identities(identifier: str, request: Request) -> Response:
    store, profile_id = found_profile(request, identifier)
    return json_response({"profile_id": profile_id, "identities": identities(store, profile_id)})


@router.get("/v1/profiles/{identifier}/consent")
def get_consent(identifier: str, request: Request) -> Response:
    store, profile_id = found_profile(request, identifier)
    with store.reader() as con:
        ids = profile_ids(con, profile_id)
        body = {
            "profile_id": profile_id,
            "consent": consent(person_rows(con, ids, (Part.CONSENT,)), source_names(store)),
            "history": consent_history(con, ids),
        }
    return json_response(body)


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
    return json_response({"profile_id": profile_id, **page.as_dict()})


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
    with store.reader() as con:
        try:
            page = search(con, filters, limit=limit, cursor=cursor)
        except CursorError as error:
            raise ApiError(400, "invalid_cursor", str(error), "cursor") from None
    items = [profile(store, int(item["profile_id"])) for item in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})
