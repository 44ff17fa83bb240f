"""What every destination kind shares: a delivery in, an outcome out, and config errors.

An outbox worker hands a destination a few deliveries at a time (``send_many``) and gets one
``Outcome`` per delivery, in the same order: ``delivered``, ``retry`` (the destination may take
it later: 5xx, 408, 429, timeouts, connection errors) or ``failed`` (it never will: other 4xx,
a refused address, a bad config; the worker parks it in the dead letters). A destination never
raises for one delivery's failure.

A kind is a class constructed as ``Kind(name, config, context)`` that checks its config in the
constructor (``DestinationConfigError`` names the bad key, e.g. ``config.url``) and describes it
with ``config_schema()``; kinds are found through entry points (``registry.py``).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from kenning.errors import FieldError

# What an Outcome keeps of a response body (for the dead letters).
MAX_RESPONSE_CHARS = 2048

Status = Literal["delivered", "retry", "failed"]


@dataclass(frozen=True)
class Delivery:
    """One thing to send, as the outbox keeps it.

    ``kind`` is ``message`` (a campaign's rendered message: ``{"campaign", "channel",
    "subject"?, "body", "html"?, "to": {"email"?, "phone"?, ...}, "traits"}``), ``audience``
    (``{"event": "Audience Entered"|"Audience Exited", "audience_id", "audience",
    "profile_id", "at", "traits"}``) or ``event`` (a stored Segment message, forwarded).
    ``idempotency_key`` is the same on every attempt, so a receiver can drop a repeat.
    """

    id: int
    idempotency_key: str
    destination: str
    profile_id: int | None
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    attempt: int = 1


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery. ``detail`` is a short reason: never personal data or a
    secret. ``response`` is the start of the response body (at most 2 KB), kept in the dead
    letter; ``retry_after`` the seconds a destination asked to wait (``Retry-After``)."""

    status: Status
    code: int | None
    detail: str
    response: str | None = None
    retry_after: float | None = None

    @classmethod
    def delivered(cls, code: int | None = None, detail: str = "delivered") -> "Outcome":
        return cls("delivered", code, detail)

    @classmethod
    def retry(cls, detail: str, code: int | None = None, **extra: Any) -> "Outcome":
        return cls("retry", code, detail, **extra)

    @classmethod
    def failed(cls, detail: str, code: int | None = None, **extra: Any) -> "Outcome":
        return cls("failed", code, detail, **extra)


def truncate_response(text: str | bytes | None) -> str | None:
    """The first 2 KB of a response body, as text."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text[: MAX_RESPONSE_CHARS * 4].decode("utf-8", errors="replace")
    return text[:MAX_RESPONSE_CHARS]


class DestinationConfigError(FieldError):
    """A destination that cannot be set up; ``field`` is the path of the bad key
    (``config.url``, ``config.headers.Host``, ``kind``)."""


@dataclass(frozen=True)
class DestinationContext:
    """What the running Kenning grants every destination.

    ``allow_private`` lets destinations reach private, loopback and link-local addresses
    (tests, or an explicit opt-in for a destination inside the network); ``allowed_networks``
    are CIDRs allowed even without it. ``data_dir`` is where a file destination's relative
    folder lives.
    """

    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()
    data_dir: Path = Path(".")
    timeout_seconds: float = 10.0
    user_agent: str = "Kenning/0.1"


@runtime_checkable
class Destination(Protocol):
    kind: ClassVar[str]

    def send_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """One outcome per delivery, in the same order; never raises for a delivery."""
        ...

    def close(self) -> None: ...


class ConfigModel(BaseModel):
    """A kind's config: unknown keys refused, values frozen once checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


C = TypeVar("C", bound=ConfigModel)


def parse_config(model: type[C], config: Mapping[str, Any]) -> C:
    """Check a destination's config against its model; the error names the key's path.

    >>> class Demo(ConfigModel):
    ...     url: str
    >>> parse_config(Demo, {"url": "https://example.com", "colour": "red"})
    Traceback (most recent call last):
    ...
    kenning.activation.destinations.base.DestinationConfigError: config.colour: unknown key
    """
    if not isinstance(config, Mapping):
        raise DestinationConfigError("the config is an object of keys and values", "config")
    try:
        return model.model_validate(dict(config))
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        field = f"config.{path}" if path else "config"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        raise DestinationConfigError(message, field) from None


def config_schema_of(model: type[ConfigModel]) -> dict[str, Any]:
    """The JSON Schema of a config model, as published by ``config_schema()``."""
    return model.model_json_schema(by_alias=True)


NOT_ATTEMPTED_UNREACHABLE = "not attempted: destination unreachable"
NOT_ATTEMPTED_ORDER = "not attempted: an earlier delivery for this profile is waiting"


def unreachable(outcome: Outcome) -> bool:
    """A retry without a status or reply code: the destination did not answer (timeout,
    refused or lost connection), so each further try in the same call would fail alike."""
    return outcome.status == "retry" and outcome.code is None


def send_each(
    deliveries: Sequence[Delivery],
    send_one: Callable[[Delivery], Outcome],
) -> list[Outcome]:
    """Send deliveries one by one, in order, keeping two promises to the outbox.

    Per-profile order: once a profile's delivery is to be retried, that profile's later
    deliveries in the call are not sent (they are retried after it), so a destination never
    sees them out of order. And once the destination does not answer at all (``unreachable``),
    the rest of the call is not tried: each would wait out the same timeout.
    """
    outcomes: list[Outcome] = []
    waiting: set[int] = set()
    down = False
    for delivery in deliveries:
        if down:
            outcomes.append(Outcome.retry(NOT_ATTEMPTED_UNREACHABLE))
            continue
        if delivery.profile_id is not None and delivery.profile_id in waiting:
            outcomes.append(Outcome.retry(NOT_ATTEMPTED_ORDER))
            continue
        outcome = send_one(delivery)
        outcomes.append(outcome)
        if outcome.status == "retry":
            if delivery.profile_id is not None:
                waiting.add(delivery.profile_id)
            down = unreachable(outcome)
    return outcomes
