"""The Segment forwarder: stored events sent on to another Segment-compatible endpoint.

``event`` deliveries (a stored Segment message each) are POSTed to ``<url>/v1/batch`` as
``{"batch": [...], "sentAt": now}`` with HTTP Basic auth (the write key, an empty password),
at most 100 messages and under 500 KB a request (Segment's limits, which Kenning's collection
API shares). Each request's ``Idempotency-Key`` is derived from its deliveries' keys; the
receiver's own de-duplication is the message's ``messageId`` (Segment's, and Kenning's per
source), which a message without one is given: the delivery's idempotency key.

A message is forwarded as stored, but for three fields: its own ``sentAt`` is dropped (the
batch's ``sentAt`` is when it is forwarded; an old ``sentAt`` would make the receiver's clock-skew
correction move the event to now), and so are ``receivedAt`` (the receiver's to set) and
``writeKey`` (the source's secret). Keep ``timestamp`` in the message to keep the event's time.

Every message of a request gets the request's outcome. The URL goes through the address guard.
"""

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import Field

from kenning.activation.destinations.base import (
    NOT_ATTEMPTED_ORDER,
    NOT_ATTEMPTED_UNREACHABLE,
    ConfigModel,
    Delivery,
    DestinationContext,
    Outcome,
    config_schema_of,
    parse_config,
    unreachable,
)
from kenning.activation.destinations.network import AddressNotAllowed
from kenning.activation.destinations.transport import (
    HttpUrl,
    RedirectRefused,
    guarded_client,
    outcome_of_answer,
    outcome_of_error,
    post,
)

MAX_BATCH_MESSAGES = 100
MAX_BATCH_BYTES = 500_000
MAX_MESSAGE_BYTES = 32_000
BATCH_PATH = "/v1/batch"
DROPPED_FIELDS = ("sentAt", "receivedAt", "writeKey")


class SegmentConfig(ConfigModel):
    url: HttpUrl = Field(description="the endpoint's base URL, e.g. https://api.segment.io")
    write_key: str = Field(min_length=1, description="the receiving source's write key")
    timeout_seconds: float | None = Field(default=None, gt=0, le=300)


def batch_url(base: str) -> str:
    """``<base>/v1/batch`` (a URL that already ends so is kept).

    >>> batch_url("https://api.segment.io"), batch_url("http://127.0.0.1:8000/in/v1/batch")
    ('https://api.segment.io/v1/batch', 'http://127.0.0.1:8000/in/v1/batch')
    """
    url = httpx.URL(base)
    path = url.path.rstrip("/")
    if not path.endswith(BATCH_PATH):
        path += BATCH_PATH
    return str(url.copy_with(path=path))


def forwarded(delivery: Delivery) -> dict[str, Any]:
    message = {k: v for k, v in delivery.payload.items() if k not in DROPPED_FIELDS}
    message.setdefault("messageId", delivery.idempotency_key)
    return message


class SegmentForward:
    """Forward ``event`` deliveries in batches (see the module's docstring)."""

    kind: ClassVar[str] = "segment"

    def __init__(self, name: str, config: Mapping[str, Any], context: DestinationContext) -> None:
        self.name = name
        self.config = parse_config(SegmentConfig, config)
        self.url = batch_url(self.config.url)
        timeout = self.config.timeout_seconds or context.timeout_seconds
        self._client = guarded_client(context, timeout)

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return config_schema_of(SegmentConfig)

    def send_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Batches in the deliveries' order. Once a batch is to be retried, its profiles'
        later deliveries wait with it, and once the endpoint does not answer, nothing more
        is tried in this call."""
        outcomes: list[Outcome | None] = [None] * len(deliveries)
        encoded: list[tuple[int, bytes]] = []
        for i, delivery in enumerate(deliveries):
            checked = self._encode(delivery)
            if isinstance(checked, Outcome):
                outcomes[i] = checked
            else:
                encoded.append((i, checked))
        waiting: set[int] = set()
        down = False
        for batch in _batches(encoded, deliveries, waiting, outcomes):
            if down:
                for i, _ in batch:
                    outcomes[i] = Outcome.retry(NOT_ATTEMPTED_UNREACHABLE)
                continue
            outcome = self._send([deliveries[i] for i, _ in batch], [m for _, m in batch])
            for i, _ in batch:
                outcomes[i] = outcome
            if outcome.status == "retry":
                waiting.update(p for i, _ in batch if (p := deliveries[i].profile_id) is not None)
                down = unreachable(outcome)
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]

    def _encode(self, delivery: Delivery) -> bytes | Outcome:
        if delivery.kind != "event":
            return Outcome.failed("segment forwards event deliveries only")
        try:
            encoded = orjson.dumps(forwarded(delivery), option=orjson.OPT_NAIVE_UTC)
        except orjson.JSONEncodeError:
            return Outcome.failed("payload is not JSON")
        if len(encoded) > MAX_MESSAGE_BYTES:
            return Outcome.failed(f"message over {MAX_MESSAGE_BYTES} bytes")
        return encoded

    def _send(self, deliveries: list[Delivery], messages: list[bytes]) -> Outcome:
        sent_at = orjson.dumps(datetime.now(UTC), option=orjson.OPT_UTC_Z)
        body = b'{"batch":[' + b",".join(messages) + b'],"sentAt":' + sent_at + b"}"
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": batch_key([d.idempotency_key for d in deliveries]),
        }
        auth = (self.config.write_key, "")
        try:
            answer = post(self._client, self.url, body, headers, auth=auth)
        except (httpx.TransportError, AddressNotAllowed, RedirectRefused) as error:
            return outcome_of_error(error)
        return outcome_of_answer(answer)

    def close(self) -> None:
        self._client.close()


def batch_key(keys: Sequence[str]) -> str:
    """One request's ``Idempotency-Key``: the same deliveries give the same key."""
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
    return f"kenning-batch-{digest}"


# The batch envelope around the messages: '{"batch":[' ... '],"sentAt":"…Z"}'.
_ENVELOPE_BYTES = 64


def _batches(
    encoded: list[tuple[int, bytes]],
    deliveries: Sequence[Delivery],
    waiting: set[int],
    outcomes: list[Outcome | None],
) -> Iterator[list[tuple[int, bytes]]]:
    """Messages in order, at most 100 and 500 KB a batch; a delivery whose profile is
    ``waiting`` (read as each batch is formed) is left out and given no outcome here."""
    batch: list[tuple[int, bytes]] = []
    size = _ENVELOPE_BYTES
    for i, message in encoded:
        profile = deliveries[i].profile_id
        if profile is not None and profile in waiting:
            outcomes[i] = Outcome.retry(NOT_ATTEMPTED_ORDER)
            continue
        if batch and (
            len(batch) >= MAX_BATCH_MESSAGES or size + len(message) + 1 > MAX_BATCH_BYTES
        ):
            yield batch
            batch, size = [], _ENVELOPE_BYTES
            if profile is not None and profile in waiting:
                outcomes[i] = Outcome.retry(NOT_ATTEMPTED_ORDER)
                continue
        batch.append((i, message))
        size += len(message) + 1
    if batch:
        yield batch
