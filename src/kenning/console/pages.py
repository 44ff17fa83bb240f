"""The console's routes (``/console``): sign in and out, the home page, a profile found by
any identifier, and the models' latest runs.

Each page asks of the signed-in token the scope the API asks for the same data: a profile
needs ``profiles:read`` (and shows personal values only with ``pii:read``, each such view
audited as the API audits it), the models' runs ``analytics:read``. A visitor who is not
signed in is sent to sign in; one whose token lacks the scope gets a 403 page saying which.
The identifier a visitor looks up is posted, not put in the address, so no email lands in a
URL, a browser's history or a proxy's log.
"""

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from kenning.api.audit import audit_as
from kenning.console import session
from kenning.console.views import predictions_view, profile_view, shown, when
from kenning.privacy.scopes import ANALYTICS_READ, PII_READ, PROFILES_READ, allows
from kenning.profiles.read import ProfileLookupError, find_profile
from kenning.store.store import Store

MAX_FORM_BYTES = 4096
MAX_FORM_FIELDS = 10
STATIC = Path(__file__).parent / "static"

templates = Environment(
    loader=PackageLoader("kenning.console", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)
templates.filters["when"] = when
templates.filters["shown"] = shown
router = APIRouter(prefix=session.PATH, include_in_schema=False)


def install_console(app: FastAPI) -> None:
    """Add the console's pages, its stylesheet and its error pages to ``app``."""
    app.include_router(router)
    app.mount(f"{session.PATH}/static", StaticFiles(directory=STATIC), name="console-static")

    @app.exception_handler(session.SignInNeeded)
    async def sign_in(request: Request, _: session.SignInNeeded) -> Response:
        return RedirectResponse(f"{session.PATH}/login", status_code=303)

    @app.exception_handler(session.NotAllowed)
    async def not_allowed(request: Request, error: session.NotAllowed) -> Response:
        return page(request, "error.html", 403, title="Not allowed", message=str(error))

    @app.exception_handler(session.CrossOrigin)
    async def cross_origin(request: Request, _: session.CrossOrigin) -> Response:
        message = "this form was sent from another site"
        return page(request, "error.html", 403, title="Refused", message=message)


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    html = templates.get_template(name).render(principal=principal, **context)
    return HTMLResponse(html, status_code=status)


async def form(request: Request) -> dict[str, str]:
    """A posted form's fields (the first value of each). A body larger than any of the
    console's forms, or with more fields, reads as empty: the page then says what is missing."""
    session.check_origin(request)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # more fields than allowed
        return {}
    return {name: values[0] for name, values in fields.items()}


@router.get("/login")
def login_page(request: Request) -> Response:
    return page(request, "login.html", error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    token = (await form(request)).get("token", "").strip()
    principal = session.principal_of_token(request, token) if token else None
    if principal is None:
        return page(request, "login.html", 401, error="unknown or revoked token")
    request.state.principal = principal
    audit_as(request, "console.login")
    answer = RedirectResponse(f"{session.PATH}/", status_code=303)
    answer.set_cookie(
        session.COOKIE, token, path=session.PATH, httponly=True, samesite="strict",
        secure=session.is_https(request),
    )  # fmt: skip
    return answer


@router.post("/logout")
async def logout(request: Request) -> Response:
    await form(request)
    answer = RedirectResponse(f"{session.PATH}/login", status_code=303)
    answer.delete_cookie(session.COOKIE, path=session.PATH)
    return answer


@router.get("/")
def home(request: Request) -> Response:
    return _home(request)


def _home(request: Request, status: int = 200, error: str | None = None) -> Response:
    """The home page; ``error``: why the last lookup found nothing."""
    principal = session.signed_in(request)
    return page(
        request, "home.html", status, error=error,
        may_profiles=allows(principal.scopes, PROFILES_READ),
        may_analytics=allows(principal.scopes, ANALYTICS_READ),
    )  # fmt: skip


@router.post("/profiles/find")
async def find(request: Request) -> Response:
    """A profile by ``TYPE:VALUE``, posted; the answer sends the browser to its page."""
    session.require(request, PROFILES_READ)
    identifier = (await form(request)).get("identifier", "").strip()
    store: Store = request.app.state.store
    try:
        found = find_profile(store, identifier)
    except ProfileLookupError as error:
        return _home(request, 400, str(error))
    if found is None:
        return _home(request, 404, "no profile holds this identifier")
    return RedirectResponse(f"{session.PATH}/profiles/{found}", status_code=303)


@router.get("/profiles/{profile_id}")
def profile_page(profile_id: int, request: Request) -> Response:
    principal = session.require(request, PROFILES_READ)
    store: Store = request.app.state.store
    current = find_profile(store, f"profile_id:{profile_id}")
    if current is None:
        message = f"no profile {profile_id}"
        return page(request, "error.html", 404, title="Not found", message=message)
    if current != profile_id:  # merged into another: show the person's current profile
        return RedirectResponse(f"{session.PATH}/profiles/{current}", status_code=303)
    pii_read = allows(principal.scopes, PII_READ)
    if pii_read:
        audit_as(request, "pii.read", profile_id)
    view = profile_view(store, request.app.state.settings, profile_id, pii_read=pii_read)
    return page(request, "profile.html", p=view)


@router.get("/predictions")
def predictions_page(request: Request) -> Response:
    session.require(request, ANALYTICS_READ)
    runs = predictions_view(request.app.state.store)
    return page(request, "predictions.html", runs=runs)
