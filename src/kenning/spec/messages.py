"""Validation of one Segment-spec message into the columns Kenning stores.

The raw message is stored as received (unknown fields included); validation only checks what the
spec requires and extracts the columns the store indexes.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from kenning.spec.limits import Limits
from kenning.spec.nesting import find_violation
from kenning.spec.timestamps import as_utc, resolve_timestamp

MessageType = Literal["identify", "track", "page", "screen", "group", "alias"]
MESSAGE_TYPES: tuple[str, ...] = ("identify", "track", "page", "screen", "group", "alias")


class InvalidMessage(Exception):
    """A message the spec does not allow. ``field`` is the path of the offending value."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def _id_to_str(value: object) -> object:
    # SDKs in loosely typed languages send numeric ids; Segment stores them as strings.
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            # Not an id (an import's float column can hold one): JSON cannot write it, the
            # stored payload would say null while the column said "inf". Refused as not text.
            return value
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


Identifier = Annotated[str, BeforeValidator(_id_to_str)]


class _Fields(BaseModel):
    """The fields the spec constrains; everything else is kept in the raw payload untouched."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    type: MessageType
    messageId: Identifier | None = None
    userId: Identifier | None = None
    anonymousId: Identifier | None = None
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    event: str | None = None
    name: str | None = None
    groupId: Identifier | None = None
    previousId: Identifier | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None


@dataclass(slots=True)  # not frozen: built for every message received (see EventRow)
class ValidMessage:
    """A message that passed validation, with the columns derived from it."""

    message_id: str
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    flags: tuple[str, ...]
    payload: bytes  # the raw message as JSON


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _present(value: str | None) -> bool:
    return value is not None and value != ""


def validate_message(
    raw: object,
    *,
    received_at: datetime,
    limits: Limits,
    generated_message_id: str | None = None,
    require_user_or_anonymous_id: bool = True,
) -> ValidMessage:
    """Check one message against the spec and derive its stored columns.

    Raises ``InvalidMessage`` with a reason code and the field path. ``generated_message_id`` is
    used when the client sent none (Segment's API generates one too); by default a random one.
    """
    if not isinstance(raw, dict):
        raise InvalidMessage("invalid_message", "a message must be a JSON object")
    payload = _payload(raw, limits.max_depth)
    if len(payload) > limits.max_event_bytes:
        raise InvalidMessage(
            "event_too_large",
            f"the event is {len(payload)} bytes; the limit is {limits.max_event_bytes}",
        )
    try:
        fields = _Fields.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        path = _field_path(first["loc"])
        if first["type"] == "missing" and path == "type":
            raise InvalidMessage("missing_field", "the message has no type", "type") from None
        if path == "type":
            allowed = ", ".join(MESSAGE_TYPES)
            raise InvalidMessage("invalid_type", f"type must be one of {allowed}", "type") from None
        raise InvalidMessage("invalid_field", f"{path}: {first['msg']}", path) from None

    message_id = fields.messageId
    if message_id is None or message_id == "":
        message_id = generated_message_id or "kn-" + uuid.uuid4().hex
    elif len(message_id) > limits.max_message_id_chars:
        raise InvalidMessage(
            "message_id_too_long",
            f"messageId must be under {limits.max_message_id_chars + 1} characters",
            "messageId",
        )
    _check_type_fields(fields, require_user_or_anonymous_id)

    original_timestamp = as_utc(fields.originalTimestamp) if fields.originalTimestamp else None
    sent_at = as_utc(fields.sentAt) if fields.sentAt else None
    resolved = resolve_timestamp(
        received_at=received_at,
        timestamp=as_utc(fields.timestamp) if fields.timestamp else None,
        original_timestamp=original_timestamp,
        sent_at=sent_at,
        max_future=limits.max_future,
    )
    return ValidMessage(
        message_id=message_id,
        type=fields.type,
        event=fields.event if fields.type == "track" else fields.name,
        user_id=fields.userId or None,
        anonymous_id=fields.anonymousId or None,
        timestamp=resolved.timestamp,
        original_timestamp=original_timestamp,
        sent_at=sent_at,
        flags=resolved.flags,
        payload=payload,
    )


def _payload(raw: dict[str, Any], max_depth: int) -> bytes:
    """The message as JSON, if it is nested no deeper than ``max_depth``."""
    try:
        payload = orjson.dumps(raw)
    except orjson.JSONEncodeError:
        # orjson writes at most 254 levels; a message deeper than that is refused below.
        payload = None
    # Counting the brackets bounds the depth from above at C speed: most messages open fewer
    # containers than the limit and need no walk.
    if payload is None or payload.count(b"{") + payload.count(b"[") > max_depth:
        violation = find_violation(raw, max_depth=max_depth)
        if violation is not None:
            raise InvalidMessage(violation.code, violation.message, violation.field)
    if payload is None:
        return orjson.dumps(raw)  # not too deep: the error was another, and is raised
    return payload


def _check_type_fields(fields: _Fields, require_ids: bool) -> None:
    if fields.type == "alias":
        if not _present(fields.userId):
            raise InvalidMessage("missing_identity", "alias requires userId", "userId")
        if not _present(fields.previousId):
            raise InvalidMessage("missing_field", "alias requires previousId", "previousId")
    elif not (_present(fields.userId) or _present(fields.anonymousId)):
        external = (fields.context or {}).get("externalIds")
        if require_ids or not external:
            raise InvalidMessage(
                "missing_identity", "a message needs a userId or an anonymousId", "userId"
            )
    if fields.type == "track" and not _present(fields.event):
        raise InvalidMessage("missing_field", "track requires an event name", "event")
    if fields.type == "group" and not _present(fields.groupId):
        raise InvalidMessage("missing_field", "group requires a groupId", "groupId")
