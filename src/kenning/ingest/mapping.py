"""Mapping rows of a file (customers, orders, events) to Segment-spec messages.

A mapping file (JSON or YAML) names, for each message field, the column it comes from::

    userId: customer_ref          # a column
    timestamp: created_at
    event: "=Order Completed"     # a value starting with "=" is a literal
    traits: {firstName: first_name, address.city: city}   # dotted names nest
    properties: {total: amount, channel: "=store"}

Columns a mapping does not name go into ``traits`` (customers) or ``properties`` (orders,
events) under their own names, unless ``only_mapped: true``.
"""

import hashlib
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml

from kenning.spec.messages import MESSAGE_TYPES

Kind = Literal["events", "customers", "orders"]
KINDS: tuple[str, ...] = ("events", "customers", "orders")


class MappingError(Exception):
    pass


# Column names recognised without a mapping file.
_DEFAULT_COLUMNS = {
    "userId": ("userId", "user_id"),
    "anonymousId": ("anonymousId", "anonymous_id"),
    "timestamp": ("timestamp", "created_at", "date"),
    "event": ("event", "event_name"),
    "messageId": ("messageId", "message_id"),
}
_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?$")
# Values that look numeric but are identifiers or codes stay strings.
_KEEP_AS_TEXT = re.compile(r"(^|[._])(id|phone|postalcode|postal_code|zip|postcode)$|Id$", re.I)


@dataclass(frozen=True)
class Mapping:
    user_id: str | None = None
    anonymous_id: str | None = None
    timestamp: str | None = None
    message_id: str | None = None
    event: str | None = None
    type: str | None = None
    traits: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    only_mapped: bool = False

    @classmethod
    def from_dict(cls, data: MappingABC[str, Any]) -> "Mapping":
        known = {
            "userId",
            "anonymousId",
            "timestamp",
            "messageId",
            "event",
            "type",
            "traits",
            "properties",
            "only_mapped",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise MappingError(f"unknown mapping keys: {', '.join(unknown)}")
        for key in ("traits", "properties"):
            if not isinstance(data.get(key, {}), dict):
                raise MappingError(f"mapping {key} must be an object of name: column")
        return cls(
            user_id=data.get("userId"),
            anonymous_id=data.get("anonymousId"),
            timestamp=data.get("timestamp"),
            message_id=data.get("messageId"),
            event=data.get("event"),
            type=data.get("type"),
            traits=dict(data.get("traits", {})),
            properties=dict(data.get("properties", {})),
            only_mapped=bool(data.get("only_mapped", False)),
        )

    @classmethod
    def load(cls, path: Path) -> "Mapping":
        try:
            text = path.read_text()
        except OSError as error:
            raise MappingError(f"cannot read mapping {path}: {error.strerror}") from None
        try:
            data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (orjson.JSONDecodeError, yaml.YAMLError) as error:
            raise MappingError(f"mapping {path} is not valid: {error}") from None
        if not isinstance(data, dict):
            raise MappingError(f"mapping {path} must be an object")
        return cls.from_dict(data)

    def resolve_defaults(self, columns: list[str]) -> "Mapping":
        """Fill unnamed top-level fields from conventional column names."""
        chosen: dict[str, str | None] = {}
        for name, candidates in _DEFAULT_COLUMNS.items():
            attr = {
                "userId": "user_id",
                "anonymousId": "anonymous_id",
                "messageId": "message_id",
            }.get(name, name)
            current = getattr(self, attr)
            chosen[attr] = current or next((c for c in candidates if c in columns), None)
        return Mapping(
            type=self.type,
            traits=self.traits,
            properties=self.properties,
            only_mapped=self.only_mapped,
            **chosen,
        )


def _value(row: MappingABC[str, Any], source: str) -> Any:
    if source.startswith("="):
        return source[1:]
    return row.get(source)


def _typed(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if value == "":
            return None
        if _NUMBER.match(value) and not _KEEP_AS_TEXT.search(key):
            return float(value) if "." in value else int(value)
    return value


def set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_path(d, "a.b", 1)`` sets ``d["a"]["b"] = 1``, making (or replacing with) objects
    on the way."""
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[leaf] = value


def _fill(
    row: MappingABC[str, Any], named: dict[str, str], skip: set[str], only_mapped: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, column in named.items():
        value = _typed(name, _value(row, column))
        if value is not None:
            set_path(out, name, value)
    if not only_mapped:
        used = skip | {c for c in named.values() if not c.startswith("=")}
        for column, raw in row.items():
            if column not in used:
                value = _typed(column, raw)
                if value is not None:
                    out[column] = value
    return out


def row_to_message(
    row: MappingABC[str, Any],
    *,
    mapping: Mapping,
    kind: Kind,
    source: str,
    id_column: str | None,
) -> dict[str, Any]:
    """One file row as a Segment message, with a messageId derived from the row's content so
    that importing the same file twice stores nothing new.

    An events row that already is a Segment message (it has a spec ``type``), or a row of
    Kenning's own export (its ``payload``), is taken as it is.
    """
    if kind == "events":
        embedded = row.get("payload")
        if isinstance(embedded, MappingABC) and embedded.get("type") in MESSAGE_TYPES:
            return dict(embedded)
        if row.get("type") in MESSAGE_TYPES and not mapping.type:
            passthrough = dict(row)
            if not passthrough.get("messageId"):
                passthrough["messageId"] = _content_id(row, kind, source)
            return passthrough
    top = {
        mapping.user_id,
        mapping.anonymous_id,
        mapping.timestamp,
        mapping.message_id,
        mapping.event,
    }
    skip = {c for c in top if c and not c.startswith("=")}
    message: dict[str, Any] = {}
    for key, column in (
        ("userId", mapping.user_id),
        ("anonymousId", mapping.anonymous_id),
        ("timestamp", mapping.timestamp),
    ):
        value = _value(row, column) if column else None
        if value not in (None, ""):
            message[key] = str(value) if key != "timestamp" else _timestamp_text(value)
    record_id = row.get(id_column) if id_column else None
    if id_column and record_id not in (None, ""):
        message["context"] = {
            "externalIds": [
                {
                    "id": str(record_id),
                    "type": f"{source}_id",
                    "collection": "users",
                    "encoding": "none",
                }
            ]
        }
    if kind == "customers":
        message["type"] = mapping.type or "identify"
        message["traits"] = _fill(row, mapping.traits, skip, mapping.only_mapped)
    else:
        message["type"] = mapping.type or "track"
        default_event = "Order Completed" if kind == "orders" else None
        event = _value(row, mapping.event) if mapping.event else default_event
        if event not in (None, ""):
            message["event" if message["type"] == "track" else "name"] = str(event)
        message["properties"] = _fill(row, mapping.properties, skip, mapping.only_mapped)
    explicit_id = _value(row, mapping.message_id) if mapping.message_id else None
    if explicit_id not in (None, ""):
        message["messageId"] = str(explicit_id)
    else:
        message["messageId"] = _content_id(row, kind, source)
    return message


def _content_id(row: MappingABC[str, Any], kind: str, source: str) -> str:
    # From the row's whole content, not its record id: the same row imported again is a
    # duplicate, while an updated record (or a second line of the same order) is new.
    basis = f"{source}|{kind}|".encode() + orjson.dumps(
        dict(row), option=orjson.OPT_SORT_KEYS, default=str
    )
    return f"imp-{kind}-" + hashlib.sha1(basis).hexdigest()[:32]


def _timestamp_text(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    # A bare date is midnight UTC.
    return text + "T00:00:00Z" if len(text) == 10 else text
