"""Who is looking at the console: the API token they signed in with, kept in a cookie.

The cookie holds the token itself, so revoking the token signs the console out at once and no
second kind of credential exists to leak or expire. It is ``HttpOnly`` (no script reads it),
``SameSite=Strict`` (no other site's link or form sends it) and scoped to ``/console``;
``Secure`` when the request came over HTTPS. A form posted from another origin is refused
outright (the ``Origin`` header), a second guard against cross-site requests.
"""

from urllib.parse import urlsplit

from fastapi import Request

from kenning.privacy.scopes import allows
from kenning.store.store import Store
from kenning.store.tokens import Principal

COOKIE = "kenning_console"
PATH = "/console"


class SignInNeeded(Exception):
    """No token, or one that is unknown or revoked: the visitor is sent to sign in."""


class NotAllowed(Exception):
    """The token lacks the scope a page needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this token lacks the scope {scope!r}")
        self.scope = scope


class CrossOrigin(Exception):
    """A form posted from another site."""


def principal_of_token(request: Request, token: str) -> Principal | None:
    store: Store = request.app.state.store
    return store.tokens.principal(token)


def signed_in(request: Request) -> Principal:
    """The principal whose token the cookie holds; kept on the request for the audit trail."""
    token = request.cookies.get(COOKIE)
    principal = principal_of_token(request, token) if token else None
    if principal is None:
        raise SignInNeeded
    request.state.principal = principal
    return principal


def require(request: Request, scope: str) -> Principal:
    """The signed-in principal, which must carry ``scope`` (or ``admin``)."""
    principal = signed_in(request)
    if not allows(principal.scopes, scope):
        raise NotAllowed(scope)
    return principal


def check_origin(request: Request) -> None:
    """Refuse a form whose ``Origin`` is another site (browsers send it on every POST)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc != host:
        raise CrossOrigin


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"
