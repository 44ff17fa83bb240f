"""Hardening of the HTTP API: security headers, bounded bodies, bounded JSON, token rate limits.

One pure ASGI middleware, before routing, so every endpoint gets the same rules and none can
forget them:

- every response carries ``SECURITY_HEADERS`` (and ``Cache-Control: no-store`` under
  ``PERSONAL_PATHS`` (the API's and the console's, whose answers hold personal data), unless
  the endpoint set the header itself;
- every request with a bearer token takes one from that token's bucket (``TokenRateLimiter``),
  or is answered 429 with ``Retry-After``;
- a body larger than its route allows is answered 413 without being read further, and a JSON
  body nested too deep or holding a too long string is answered 400 with the path of the value.

The collection routes (``COLLECTION_PATHS``) keep their own rules, Segment's: ``api/collect.py``
bounds the body (500 KB, gzip inflated with a bound) and each message is validated on its own
(32 KB, nested at most ``Limits.max_depth``), so one bad message is quarantined while the rest
of its batch is stored. Importing a file's messages (``/v1/sources/{name}/import``) follows the
same per-message rules under the larger upload size.

No ``Strict-Transport-Security``: the server speaks plain HTTP (on loopback by default), and a
browser ignores the header over HTTP (RFC 6797, 8.1); whoever terminates TLS in front of it
knows the host names and whether every one of them serves HTTPS, so that proxy sets it.

FastAPI's ``/docs`` and ``/redoc`` pages load their JavaScript and CSS from a CDN, which a
server without network access cannot reach and a strict CSP forbids: they are removed, and
``/openapi.json`` stays.
"""

import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kenning.api.errors import error_body, json_response
from kenning.api.ratelimit import TokenRateLimiter
from kenning.spec.nesting import Violation, find_violation

if TYPE_CHECKING:  # the settings hold these limits: imported for the annotation only
    from kenning.settings import Settings


@dataclass(frozen=True)
class HardeningLimits:
    """The limits every request is held to (see docs/security.md)."""

    # A JSON body of any endpoint but collection and uploads (most allow 64 KiB themselves).
    max_body_bytes: int = 1024 * 1024
    # The endpoints that take a file (UPLOAD_ROUTES); the same as their own limits.
    max_upload_bytes: int = 16 * 1024 * 1024
    max_json_depth: int = 32
    max_string_chars: int = 64 * 1024
    # Per bearer token: requests a second, and how many may come at once after a quiet spell.
    token_rate: float = 100.0
    token_burst: float = 200.0
    # Buckets kept in memory, least recently used dropped first.
    max_token_buckets: int = 10_000


SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    # Same-origin only, no inline script or style: fits JSON answers and the console's pages,
    # which ship their one stylesheet as a file of its own.
    (
        "content-security-policy",
        "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
        "object-src 'none'",
    ),
)
NO_STORE = ("cache-control", "no-store")
# Answers that may hold personal data, kept out of every cache: the API's and the console's.
PERSONAL_PATHS = ("/v1/", "/console/")
# The console's forms are checked by their Origin (console/session.py), which a browser sends
# as "null" under "no-referrer"; "same-origin" still tells other sites nothing.
CONSOLE_PATH = "/console/"
CONSOLE_REFERRER = ("referrer-policy", "same-origin")

# Segment's Tracking API, bounded by api/collect.py.
COLLECTION_PATHS = frozenset(
    f"/v1/{name}"
    for name in ("batch", "import", "identify", "track", "page", "screen", "group", "alias")
)
# Message chunks of `kenning import`: sized like an upload, each message checked on its own.
MESSAGE_UPLOAD_ROUTES = (("POST", re.compile(r"/v1/sources/[^/]+/import")),)
# Files in the body (CSV), or inside a JSON string (truth files): the upload size, and no
# string limit. Their endpoints bound them the same way.
UPLOAD_ROUTES = (
    ("PUT", re.compile(r"/v1/spend")),
    ("POST", re.compile(r"/v1/attribution/paths")),
    ("POST", re.compile(r"/v1/identity/evaluate")),
)


@dataclass(frozen=True, slots=True)
class BodyRule:
    """What a route's request body is held to; ``max_depth`` None: JSON not checked here."""

    max_bytes: int
    max_depth: int | None
    max_string_chars: int | None


def body_rule(limits: HardeningLimits, method: str, path: str) -> BodyRule | None:
    """The rule for a request's body; None for the collection routes, which keep their own.

    >>> body_rule(HardeningLimits(), "PUT", "/v1/audiences/vip")
    BodyRule(max_bytes=1048576, max_depth=32, max_string_chars=65536)
    >>> body_rule(HardeningLimits(), "POST", "/v1/batch") is None
    True
    """
    if path in COLLECTION_PATHS:
        return None
    if any(method == m and pattern.fullmatch(path) for m, pattern in MESSAGE_UPLOAD_ROUTES):
        return BodyRule(limits.max_upload_bytes, None, None)
    if any(method == m and pattern.fullmatch(path) for m, pattern in UPLOAD_ROUTES):
        return BodyRule(limits.max_upload_bytes, limits.max_json_depth, None)
    return BodyRule(limits.max_body_bytes, limits.max_json_depth, limits.max_string_chars)


def install_hardening(
    app: FastAPI, settings: "Settings", limits: HardeningLimits | None = None
) -> None:
    """Add the hardening middleware to ``app`` and remove the CDN-backed docs pages. The
    limits are ``limits``, else ``settings.hardening``."""
    app.add_middleware(Hardening, limits=limits or settings.hardening)
    _remove_docs_pages(app)


def _remove_docs_pages(app: FastAPI) -> None:
    pages = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in pages]
    app.docs_url = None
    app.redoc_url = None


class Hardening:
    """The middleware (see the module's docstring)."""

    def __init__(self, app: ASGIApp, limits: HardeningLimits) -> None:
        self.app = app
        self.limits = limits
        self.tokens = TokenRateLimiter(
            limits.token_rate, limits.token_burst, limits.max_token_buckets
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(scope, send)
        token = _bearer_token(scope)
        if token is not None:
            wait = self.tokens.check(token)
            if wait is not None:
                refusal = json_response(
                    error_body(
                        "rate_limited",
                        "too many requests with this token; retry later",
                        "Authorization",
                    ),
                    429,
                    {"Retry-After": str(wait)},
                )
                await refusal(scope, receive, send)
                return
        rule = body_rule(self.limits, scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        read = await _read_body(scope, receive, rule)
        if isinstance(read, _Refusal):
            await json_response(error_body(*read.error), read.status)(scope, receive, send)
            return
        if read is None:  # the client went away while sending
            return
        await self.app(scope, _replaying(read, receive), send)


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    error: tuple[str, str, str | None]


async def _read_body(scope: Scope, receive: Receive, rule: BodyRule) -> bytes | _Refusal | None:
    """The whole body within ``rule.max_bytes`` (read no further than that), checked."""
    too_large = _Refusal(
        413, ("request_too_large", f"the request body is over {rule.max_bytes} bytes", None)
    )
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > rule.max_bytes:
        return too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > rule.max_bytes:
            return too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    if rule.max_depth is None or not body:
        return body
    text = body
    if (_header(scope, b"content-encoding") or "").lower() == "gzip":
        # The endpoints inflate gzip bodies (api/collect.py read_json_body): check what they
        # will read, inflated with the same bound.
        try:
            text = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, rule.max_bytes + 1)
        except zlib.error:
            return body  # the endpoint answers that it is not gzip
        if len(text) > rule.max_bytes:
            return too_large
    violation = _json_violation(text, rule)
    if violation is not None:
        return _Refusal(400, (violation.code, violation.message, violation.field))
    return body


def _json_violation(text: bytes, rule: BodyRule) -> Violation | None:
    assert rule.max_depth is not None
    if text.lstrip()[:1] not in (b"{", b"["):
        return None  # not JSON (a CSV file); the endpoint reads it as it does
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        # orjson refuses more than 1,024 levels itself; other bad JSON is the endpoint's to
        # answer, as it answers it today.
        if "depth" in str(error):
            return Violation("too_deep", f"JSON nested deeper than {rule.max_depth} levels", None)
        return None
    # A string has no more characters than its JSON text has bytes: in a body no longer than
    # the limit, none can be too long, and only the depth is checked (the cheaper walk).
    chars = rule.max_string_chars
    if chars is not None and len(text) <= chars:
        chars = None
    return find_violation(value, max_depth=rule.max_depth, max_string_chars=chars)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then waits as the server's
    does (for a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_security_headers(scope: Scope, send: Send) -> Callable[[Message], Awaitable[None]]:
    path = scope["path"]
    extra = (*SECURITY_HEADERS, NO_STORE) if path.startswith(PERSONAL_PATHS) else SECURITY_HEADERS
    if path.startswith(CONSOLE_PATH):
        extra = (CONSOLE_REFERRER, *extra)

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in extra:
                headers.setdefault(name, value)
        await send(message)

    return sending


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _bearer_token(scope: Scope) -> str | None:
    # As api/auth.py reads it: "Bearer <token>", the scheme in any case.
    header = _header(scope, b"authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
