"""Authentication: write keys collect, bearer tokens with scopes do everything else."""

import base64
import binascii
from collections.abc import Callable

from fastapi import Request

from kenning.api.errors import ApiError
from kenning.privacy.scopes import allows
from kenning.store.sources import Source
from kenning.store.store import Store
from kenning.store.tokens import Principal


def write_key_from(request: Request, body: dict[str, object]) -> str | None:
    """Segment's two ways: HTTP Basic with the key as username and an empty password, or
    ``writeKey`` in the body."""
    header = request.headers.get("authorization")
    if header and header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    key = body.get("writeKey")
    return key if isinstance(key, str) and key else None


def authenticate_source(store: Store, request: Request, body: dict[str, object]) -> Source:
    key = write_key_from(request, body)
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "a write key is required (HTTP Basic username or writeKey)",
            "writeKey",
        )
    source = store.sources.by_write_key(key)
    if source is None:
        raise ApiError(401, "unauthorized", "unknown write key", "writeKey")
    return source


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require_scope(scope: str) -> Callable[[Request], tuple[str, ...]]:
    """A FastAPI dependency: the request's bearer token must carry ``scope`` (or ``admin``).
    Who it is stays on the request (``request.state.principal``) for the audit log."""

    def check(request: Request) -> tuple[str, ...]:
        principal = authenticate_token(request)
        if not allows(principal.scopes, scope):
            raise ApiError(
                403, "forbidden", f"this token lacks the scope {scope!r}", "Authorization"
            )
        return principal.scopes

    return check


def authenticate_token(request: Request) -> Principal:
    """The live token the request bears (401 without one)."""
    store: Store = request.app.state.store
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "unauthorized", "a bearer token is required", "Authorization")
    principal = store.tokens.principal(token)
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown or revoked token", "Authorization")
    request.state.principal = principal
    return principal


def may(request: Request, scope: str) -> bool:
    """Whether the request's (already authenticated) token also carries ``scope``."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal is not None and allows(principal.scopes, scope)
