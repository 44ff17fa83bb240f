"""The webhook destination: each delivery as a signed JSON POST.

The body is the envelope (or, with a ``mapping``, only the mapped fields)::

    {"id": "<idempotency key>", "kind": "audience", "destination": "crm",
     "profile_id": 42, "created_at": "2026-03-01T12:00:00Z", "data": {...payload...}}

with the headers ``Content-Type: application/json``, ``Idempotency-Key`` (the same on every
attempt), ``X-Kenning-Timestamp`` (unix seconds, new on each attempt) and
``X-Kenning-Signature: sha256=<hex>``, the HMAC-SHA256 of ``f"{timestamp}.{body}"`` under the
destination's secret. A receiver checks it with ``verify_signature`` (or the few lines of it
shown in docs/destinations.md) and refuses a timestamp older than its replay window.
"""

import hashlib
import hmac
import string
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import Field

from kenning.activation.destinations.base import (
    ConfigModel,
    Delivery,
    DestinationConfigError,
    DestinationContext,
    Outcome,
    config_schema_of,
    parse_config,
    send_each,
)
from kenning.activation.destinations.mapping import FieldMapping
from kenning.activation.destinations.network import AddressNotAllowed
from kenning.activation.destinations.transport import (
    HttpUrl,
    RedirectRefused,
    guarded_client,
    outcome_of_answer,
    outcome_of_error,
    post,
)

SIGNATURE_HEADER = "X-Kenning-Signature"
TIMESTAMP_HEADER = "X-Kenning-Timestamp"
# Headers Kenning sets itself (or httpx does): a destination's extra headers cannot replace them.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "host",
        "idempotency-key",
        TIMESTAMP_HEADER.lower(),
        SIGNATURE_HEADER.lower(),
    }
)
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)


class WebhookConfig(ConfigModel):
    url: HttpUrl = Field(description="where to POST, http or https")
    secret: str = Field(min_length=16, description="the HMAC-SHA256 key, at least 16 characters")
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra headers, sent to the URL's origin only"
    )
    mapping: dict[str, str] | None = Field(
        default=None,
        description="output field path -> source path into the envelope; only these are sent",
    )
    timeout_seconds: float | None = Field(default=None, gt=0, le=300)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Kenning-Signature`` value of a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    header: str,
    tolerance_seconds: float = 300,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp`` with ``secret``, and the timestamp
    is within ``tolerance_seconds`` of now (older requests may be replays).

    >>> body = b'{"id":"k1"}'
    >>> verify_signature("a-secret-of-16-chars", 1700000000, body,
    ...     sign("a-secret-of-16-chars", 1700000000, body), now=1700000060)
    True
    >>> verify_signature("a-secret-of-16-chars", 1700000000, body,
    ...     sign("a-secret-of-16-chars", 1700000000, body), now=1700000400)
    False
    """
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_seconds:
        return False
    data = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, sent, data), header.strip())


class Webhook:
    """POST each delivery, signed, to one URL (see the module's docstring)."""

    kind: ClassVar[str] = "webhook"

    def __init__(self, name: str, config: Mapping[str, Any], context: DestinationContext) -> None:
        self.name = name
        self.config = parse_config(WebhookConfig, config)
        self.extra_headers = _checked_headers(self.config.headers)
        self.mapping = (
            None if self.config.mapping is None else FieldMapping.parse(self.config.mapping)
        )
        timeout = self.config.timeout_seconds or context.timeout_seconds
        self._client = guarded_client(context, timeout)

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return config_schema_of(WebhookConfig)

    def body(self, delivery: Delivery) -> bytes:
        """The JSON sent for a delivery: the envelope, or the mapped fields of it."""
        envelope: dict[str, Any] = {
            "id": delivery.idempotency_key,
            "kind": delivery.kind,
            "destination": delivery.destination,
            "profile_id": delivery.profile_id,
            "created_at": delivery.created_at,
            "data": delivery.payload,
        }
        sent = envelope if self.mapping is None else self.mapping.apply(envelope)
        return orjson.dumps(sent, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)

    def send_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        return send_each(deliveries, self.send)

    def send(self, delivery: Delivery) -> Outcome:
        try:
            body = self.body(delivery)
        except orjson.JSONEncodeError:
            return Outcome.failed("payload is not JSON")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.config.secret, timestamp, body),
        }
        try:
            answer = post(self._client, self.config.url, body, headers, self.extra_headers)
        except (httpx.TransportError, AddressNotAllowed, RedirectRefused) as error:
            return outcome_of_error(error)
        return outcome_of_answer(answer)

    def close(self) -> None:
        self._client.close()


def _checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        field = f"config.headers.{name}"
        if not name or not set(name) <= _TOKEN_CHARS:
            raise DestinationConfigError("not a header name", field)
        if name.lower() in RESERVED_HEADERS:
            raise DestinationConfigError("Kenning sets this header itself", field)
        if any(ch in value for ch in "\r\n\0"):
            raise DestinationConfigError("a header value is one line", field)
    return dict(headers)
