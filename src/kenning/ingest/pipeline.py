"""Turn received messages into event rows and quarantine rows.

Every message either becomes an event row or a quarantine row with a reason: nothing received
in a well-formed request is dropped.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from kenning.identity.identifiers import holds_other_identifiers
from kenning.spec.limits import Limits
from kenning.spec.messages import InvalidMessage, ValidMessage, validate_message
from kenning.spec.nesting import dumps_any_depth
from kenning.store.writer import EventRow, QuarantineRow


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    code: str
    message: str
    field: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "code": self.code,
            "message": self.message,
            "field": self.field,
        }


@dataclass(slots=True)
class Prepared:
    events: list[EventRow] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchDefaults:
    """Fields given once at the top of a batch that apply to every message in it."""

    sent_at: Any = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None

    def apply(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.sent_at is None and self.context is None and self.integrations is None:
            return message
        merged = dict(message)
        if self.sent_at is not None and "sentAt" not in merged:
            merged["sentAt"] = self.sent_at
        if self.context is not None:
            own = merged.get("context")
            merged["context"] = {**self.context, **own} if isinstance(own, dict) else self.context
        if self.integrations is not None and "integrations" not in merged:
            merged["integrations"] = self.integrations
        return merged


def event_row(
    valid: ValidMessage,
    *,
    source_id: str,
    received_at: datetime,
    message: dict[str, Any] | None = None,
    keep_message: bool = True,
) -> EventRow:
    """The row of a valid message; ``message`` (the parsed message, when the caller has it)
    answers ``other_identifiers`` and is kept on the row unless ``keep_message`` is False."""
    return EventRow(
        source_id=source_id,
        message_id=valid.message_id,
        type=valid.type,
        event=valid.event,
        user_id=valid.user_id,
        anonymous_id=valid.anonymous_id,
        timestamp=valid.timestamp,
        original_timestamp=valid.original_timestamp,
        sent_at=valid.sent_at,
        received_at=received_at,
        flags=valid.flags,
        payload=valid.payload,
        other_identifiers=holds_other_identifiers(
            message if message is not None else orjson.loads(valid.payload)
        ),
        message=message if keep_message else None,
    )


def prepare_messages(
    messages: Sequence[object],
    *,
    source_id: str,
    received_at: datetime,
    limits: Limits,
    defaults: BatchDefaults | None = None,
    require_user_or_anonymous_id: bool = True,
    field_prefix: str | None = "batch",
    keep_messages: bool = True,
) -> Prepared:
    """Validate each message; valid ones become event rows, invalid ones quarantine rows.

    ``field_prefix`` names the array in error paths (``batch[3].userId``); None for a single
    message. ``keep_messages``: the rows carry their parsed messages (``EventRow.message``),
    so that the real-time stages need not parse them again; not where the rows are pickled to
    another process (ingest/workers.py), to which carrying them costs more than parsing.
    """
    prepared = Prepared()
    for index, raw in enumerate(messages):
        message = defaults.apply(raw) if defaults and isinstance(raw, dict) else raw
        try:
            valid = validate_message(
                message,
                received_at=received_at,
                limits=limits,
                require_user_or_anonymous_id=require_user_or_anonymous_id,
            )
        except InvalidMessage as error:
            path = error.field
            if field_prefix is not None:
                path = f"{field_prefix}[{index}]" + (f".{path}" if path else "")
            prepared.rejections.append(Rejection(index, error.code, error.message, path))
            prepared.quarantine.append(
                QuarantineRow(
                    source_id=source_id,
                    received_at=received_at,
                    code=error.code,
                    message=error.message,
                    field=path,
                    # A message too deep to store may be too deep for orjson to write.
                    payload=dumps_any_depth(message).decode(),
                )
            )
            continue
        prepared.events.append(
            event_row(
                valid,
                source_id=source_id,
                received_at=received_at,
                message=message if isinstance(message, dict) else None,
                keep_message=keep_messages,
            )
        )
    return prepared
