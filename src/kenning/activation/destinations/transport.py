"""HTTP for destinations: a guarded client, redirects checked hop by hop, outcomes from statuses.

Shared by the webhook and Segment kinds. The client connects through ``GuardedBackend``
(``network.py``), ignores proxy variables from the environment (a proxy would connect to the
name itself, after our check), and never follows a redirect by itself: ``post`` does, at most
``MAX_REDIRECTS`` hops, and only for 301, 302, 307 and 308, re-sending the same POST (the body
is the delivery; a GET to the new place would deliver nothing). Every hop connects through the
guard again, so a redirect to a refused address is refused. An ``https`` URL never redirects
to ``http``, and the destination's own extra headers are not sent to another origin.
"""

import base64
import contextlib
import email.utils
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Annotated, Any

import httpcore
import httpx
from pydantic import AfterValidator

from kenning.activation.destinations.base import (
    MAX_RESPONSE_CHARS,
    DestinationContext,
    Outcome,
    truncate_response,
)
from kenning.activation.destinations.network import (
    AddressGuard,
    AddressNotAllowed,
    GuardedBackend,
    NameNotResolved,
)

MAX_REDIRECTS = 5
FOLLOWED_REDIRECTS = frozenset({301, 302, 307, 308})
RETRY_STATUSES = frozenset({408, 429})


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    # httpx names its exceptions as httpcore does; callers then catch httpx's alone.
    try:
        yield
    except httpcore.TimeoutException as error:
        mapped = getattr(httpx, type(error).__name__, httpx.TimeoutException)
        raise mapped(str(error)) from error
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as error:
        mapped = getattr(httpx, type(error).__name__, httpx.TransportError)
        raise mapped(str(error)) from error


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        closer = getattr(self._stream, "close", None)
        if closer is not None:
            with _httpx_errors():
                closer()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool whose connections go through the guard."""

    def __init__(self, guard: AddressGuard) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(guard),
            max_connections=16,  # at least the delivery service's concurrency
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def guarded_client(context: DestinationContext, timeout: float) -> httpx.Client:
    """An httpx client for one destination: guarded connections, no redirects, no proxies."""
    return httpx.Client(
        transport=GuardedTransport(AddressGuard(context)),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": context.user_agent},
    )


@dataclass(frozen=True)
class Answer:
    """The final response of a POST: its status, headers and the start of its body."""

    status: int
    headers: httpx.Headers
    body: bytes


class RedirectRefused(Exception):
    def __init__(self, detail: str, status: int | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def post(
    client: httpx.Client,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    origin_headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> Answer:
    """POST ``content``, following redirects as the module says; ``origin_headers`` (and
    ``auth``) go only to the configured URL's origin. Raises httpx's errors,
    ``AddressNotAllowed`` and ``RedirectRefused``."""
    target = httpx.URL(url)
    origin = _origin(target)
    for _hop in range(MAX_REDIRECTS + 1):
        same_origin = _origin(target) == origin
        sent = {**headers, **(origin_headers or {})} if same_origin else dict(headers)
        request = client.build_request("POST", target, content=content, headers=sent)
        if auth is not None and same_origin:
            request.headers["Authorization"] = basic_auth(*auth)
        try:
            response = client.send(request, stream=True)
        except httpx.RemoteProtocolError as error:
            # httpx parses a redirect's Location even when it does not follow it, and calls
            # one it cannot parse a protocol error; it is the answer, not the connection.
            if "location header" in str(error).lower():
                raise RedirectRefused("redirect to an invalid URL", None) from error
            raise
        try:
            body = _read_start(response)
        finally:
            response.close()
        status = response.status_code
        if status not in FOLLOWED_REDIRECTS or "location" not in response.headers:
            return Answer(status, response.headers, body)
        try:
            following = target.join(response.headers["location"])
        except httpx.InvalidURL:
            raise RedirectRefused("redirect to an invalid URL", status) from None
        if following.scheme not in ("http", "https"):
            raise RedirectRefused("redirect to a scheme other than http(s)", status)
        if url_problem(following) is not None:
            raise RedirectRefused("redirect to an invalid URL", status)
        if target.scheme == "https" and following.scheme == "http":
            raise RedirectRefused("redirect from https to http", status)
        target = following
    raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects", status)


def url_problem(url: httpx.URL) -> str | None:
    """What makes ``url`` unusable for a destination, or None.

    >>> url_problem(httpx.URL("https://hooks.example.com/in"))
    >>> url_problem(httpx.URL("http://example.com:99999/"))
    'the port is 1 to 65535'
    """
    if url.scheme not in ("http", "https"):
        return "the URL's scheme is http or https"
    if not url.host:
        return "the URL names a host"
    if url.port is not None and not 0 < url.port < 65536:
        # The resolver would not refuse it: glibc takes the port modulo 65536.
        return "the port is 1 to 65535"
    if url.userinfo:
        return "put credentials in headers, not in the URL"
    return None


def _checked_url(value: str) -> str:
    try:
        problem = url_problem(httpx.URL(value))
    except httpx.InvalidURL:
        problem = "not a URL"
    if problem is not None:
        raise ValueError(problem)
    return value


# A destination's configured URL: http or https, held to the rule redirects are (url_problem).
HttpUrl = Annotated[str, AfterValidator(_checked_url)]


def basic_auth(username: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value.

    >>> basic_auth("wk_123", "")
    'Basic d2tfMTIzOg=='
    """
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _read_start(response: httpx.Response) -> bytes:
    # Only the start is kept (for a dead letter); a large answer is not read to its end.
    limit = MAX_RESPONSE_CHARS * 4
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def outcome_of_answer(answer: Answer) -> Outcome:
    """2xx delivered; 408, 429 and 5xx retry (with ``Retry-After``); any other status failed,
    a 3xx included (a redirect not followed)."""
    status = answer.status
    if 200 <= status < 300:
        return Outcome.delivered(status, f"HTTP {status}")
    response = truncate_response(answer.body)
    if status in RETRY_STATUSES or status >= 500:
        wait = retry_after_seconds(answer.headers.get("retry-after"))
        return Outcome.retry(f"HTTP {status}", status, response=response, retry_after=wait)
    if 300 <= status < 400:
        return Outcome.failed(f"HTTP {status}: redirect not followed", status, response=response)
    return Outcome.failed(f"HTTP {status}", status, response=response)


def outcome_of_error(error: Exception) -> Outcome:
    """A request that got no answer: refused addresses and redirects fail, the rest retry."""
    if isinstance(error, AddressNotAllowed):
        return Outcome.failed(error.detail)
    if isinstance(error, RedirectRefused):
        return Outcome.failed(error.detail, error.status)
    if isinstance(error, httpx.TimeoutException):
        return Outcome.retry("timed out")
    if isinstance(error, httpx.ConnectError):
        if any(isinstance(cause, NameNotResolved) for cause in _causes(error)):
            return Outcome.retry("name did not resolve")
        return Outcome.retry("connection failed")
    if isinstance(error, httpx.UnsupportedProtocol):
        return Outcome.failed("unsupported URL scheme")
    if isinstance(error, httpx.TransportError):
        return Outcome.retry(f"connection error ({type(error).__name__})")
    raise error


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date.

    >>> retry_after_seconds("120"), retry_after_seconds("soon")
    (120.0, None)
    >>> retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    10.0
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
