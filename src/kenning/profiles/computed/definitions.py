"""Computed traits: what each one counts, sums or keeps, declared as data.

A definition names a kind, the events it reads (names, types, property filters), the value it
reads from each (a dotted path; a list tries each path in turn) and an optional sliding window::

    lifetime_value:
      kind: sum
      event: Order Completed
      value: properties.revenue
      where: {properties.currency: EUR, properties.total: {gte: 1}}
      window: 30d

Paths name fields of the message as stored (``properties.category``, ``context.device.id``,
``anonymousId``), or one of the event's own columns: ``timestamp`` (the event time, after the
spec's clock correction), ``source`` (the source's name), ``event`` and ``type``.

Definitions come from Kenning's built-ins, the ``profiles.computed_traits`` section of the
configuration and the admin API, each later one replacing an earlier one of the same name.
"""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import orjson


class Kind(StrEnum):
    COUNT = "count"
    SUM = "sum"
    AVERAGE = "average"
    MIN = "min"
    MAX = "max"
    FIRST = "first"
    LAST = "last"
    MOST_FREQUENT = "most_frequent"
    UNIQUE_LIST = "unique_list"
    UNIQUE_COUNT = "unique_count"


NUMERIC_KINDS = frozenset({Kind.SUM, Kind.AVERAGE, Kind.MIN, Kind.MAX})
ORDERED_KINDS = frozenset({Kind.FIRST, Kind.LAST})
# Kinds kept per distinct value (``__kenning_trait_values``), not in one row per profile.
VALUE_KINDS = frozenset({Kind.MOST_FREQUENT, Kind.UNIQUE_LIST, Kind.UNIQUE_COUNT})

# The event's own columns, read from the log row rather than from the message.
COLUMN_PATHS = frozenset({"timestamp", "source", "event", "type"})
TIMESTAMP = "timestamp"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SEGMENT = re.compile(r'^[^."\[\]]+$')
# In a filter, a segment may end with [] to test each item of an array:
# properties.products[].category holds when some product's category passes.
_EACH_SEGMENT = re.compile(r'^[^."\[\]]+(\[\])?$')
EACH = "[]"
_WINDOW = re.compile(r"^(\d+)\s*([hdw])$")
_WINDOW_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_OPERATORS = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"})
_ORDER_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
_KEYS = frozenset({"kind", "event", "type", "where", "value", "window", "description"})

Scalar = str | int | float | bool


class DefinitionError(ValueError):
    """A definition that cannot be used; ``field`` is the path of the bad part."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Condition:
    """One test of a path: ``op`` is one of eq, ne, in, not_in, gt, gte, lt, lte, exists.

    ``eq``/``in`` compare like with like (a number equals a number of the same value, a string
    the same string); ``gt``... compare numbers, and strings that spell a number; ``exists``
    holds when the path has a value other than null; ``ne``/``not_in`` hold when ``eq``/``in``
    do not, including when the path is missing.
    """

    path: str
    op: str
    operand: Any  # a scalar, a tuple of scalars, a number or a bool, by op


@dataclass(frozen=True)
class TraitDefinition:
    name: str
    kind: Kind
    events: tuple[str, ...] = ()  # event names (track calls); empty: any
    types: tuple[str, ...] = ()  # message types; empty: any
    where: tuple[Condition, ...] = ()
    value: tuple[str, ...] = ()  # paths, the first with a value wins; empty only for count
    window: timedelta | None = None
    description: str = ""
    origin: str = "builtin"  # builtin, config or api

    @property
    def spec(self) -> dict[str, Any]:
        """The definition as declared (what the API returns and the store keeps)."""
        spec: dict[str, Any] = {"kind": self.kind.value}
        if self.events:
            spec["event"] = list(self.events)
        if self.types:
            spec["type"] = list(self.types)
        if self.where:
            spec["where"] = {
                c.path: {c.op: list(c.operand) if isinstance(c.operand, tuple) else c.operand}
                for c in self.where
            }
        if self.value:
            spec["value"] = self.value[0] if len(self.value) == 1 else list(self.value)
        if self.window is not None:
            spec["window"] = _window_text(self.window)
        if self.description:
            spec["description"] = self.description
        return spec

    @property
    def fingerprint(self) -> str:
        """Changes when what the trait computes changes (not its description)."""
        spec = {k: v for k, v in self.spec.items() if k != "description"}
        return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    def paths(self) -> set[str]:
        """Every path the trait reads."""
        return {*self.value, *(c.path for c in self.where)}


def parse(name: str, spec: object, origin: str = "config") -> TraitDefinition:
    """A definition from its declared form, or a ``DefinitionError`` naming the bad part."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            "a computed trait's name is lower case letters, digits and _, starting with a "
            "letter, at most 64 characters",
            "name",
        )
    if not isinstance(spec, Mapping):
        raise DefinitionError("a computed trait is a mapping of kind, event, value, ...", name)
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise DefinitionError(f"unknown key {unknown[0]!r}", f"{name}.{unknown[0]}")
    try:
        kind = Kind(str(spec.get("kind")))
    except ValueError:
        kinds = ", ".join(k.value for k in Kind)
        raise DefinitionError(f"kind must be one of {kinds}", f"{name}.kind") from None
    value = _paths(spec.get("value"), f"{name}.value")
    if kind != Kind.COUNT and not value:
        raise DefinitionError(f"a {kind.value} trait needs a value path", f"{name}.value")
    if kind == Kind.COUNT and value:
        raise DefinitionError("a count reads no value", f"{name}.value")
    if TIMESTAMP in value and (kind not in ORDERED_KINDS or len(value) > 1):
        raise DefinitionError(
            "the timestamp is a value of first and last only, and alone", f"{name}.value"
        )
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise DefinitionError("description must be text", f"{name}.description")
    return TraitDefinition(
        name=name,
        kind=kind,
        events=_names(spec.get("event"), f"{name}.event"),
        types=_names(spec.get("type"), f"{name}.type"),
        where=parse_filters(spec.get("where"), f"{name}.where"),
        value=value,
        window=_window(spec.get("window"), f"{name}.window"),
        description=description,
        origin=origin,
    )


def parse_all(specs: object, origin: str, field: str) -> tuple[TraitDefinition, ...]:
    if specs is None:
        return ()
    if not isinstance(specs, Mapping):
        raise DefinitionError("computed traits are a mapping of name to definition", field)
    definitions = []
    for name, spec in specs.items():
        try:
            definitions.append(parse(name, spec, origin))
        except DefinitionError as error:
            raise DefinitionError(str(error), f"{field}.{error.field}") from None
    return tuple(definitions)


def _names(value: object, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise DefinitionError("a name or a list of names", field)
    return tuple(items)


def _paths(value: object, field: str, *, each: bool = False) -> tuple[str, ...]:
    """Dotted paths; with ``each``, segments may end with ``[]`` (a filter's array items)."""
    paths = _names(value, field)
    segment_pattern = _EACH_SEGMENT if each else _SEGMENT
    for path in paths:
        if not all(segment_pattern.match(segment) for segment in path.split(".")):
            hint = "" if each or EACH not in path else " (arrays only in where filters)"
            raise DefinitionError(f"{path!r} is not a dotted path{hint}", field)
    return paths


def parse_filters(value: object, field: str) -> tuple[Condition, ...]:
    """A ``where`` mapping as filters (also the audience language's event filters)."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise DefinitionError("where is a mapping of path to a value or {operator: operand}", field)
    conditions = []
    for path, test in value.items():
        here = f"{field}.{path}"
        _paths(path, here, each=True)
        if path == TIMESTAMP:
            raise DefinitionError("filter on time with window, not where", here)
        if isinstance(test, Mapping):
            for op, operand in test.items():
                conditions.append(_condition(path, op, operand, f"{here}.{op}"))
        else:
            conditions.append(_condition(path, "eq", test, here))
    return tuple(conditions)


def _condition(path: str, op: object, operand: object, field: str) -> Condition:
    if op not in _OPERATORS:
        raise DefinitionError(f"operators are {', '.join(sorted(_OPERATORS))}", field)
    if op == "exists":
        if not isinstance(operand, bool):
            raise DefinitionError("exists takes true or false", field)
        return Condition(path, op, operand)
    if op in _ORDER_OPERATORS:
        if not _is_number(operand):
            raise DefinitionError(f"{op} takes a number", field)
        return Condition(path, str(op), float(operand))  # type: ignore[arg-type]
    if op in {"in", "not_in"}:
        if not isinstance(operand, list) or not operand or not all(map(_is_scalar, operand)):
            raise DefinitionError(f"{op} takes a list of strings, numbers or booleans", field)
        return Condition(path, str(op), tuple(operand))
    if not _is_scalar(operand):
        raise DefinitionError("compare with a string, a number or a boolean", field)
    return Condition(path, str(op), operand)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _window(value: object, field: str) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return timedelta(days=value)
    match = _WINDOW.match(str(value).strip()) if isinstance(value, str) else None
    if match is None or int(match[1]) == 0:
        raise DefinitionError("a window is a number of days, or like 30d, 12h, 4w", field)
    return int(match[1]) * _WINDOW_UNITS[match[2]]


def _window_text(window: timedelta) -> str:
    hours = int(window.total_seconds()) // 3600
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


# The channel an event came through: the order's own channel (web, app, store) where it says,
# else the source that sent it (web, app, email, sms, pos, ...). Sends are not engagement.
_CHANNEL = ["properties.channel", "source"]
_ENGAGEMENT = {"type": ["track", "page", "screen"], "where": {"event": {"not_in": [
    "Email Sent", "SMS Sent", "Push Sent"]}}}  # fmt: skip
_ORDER = "Order Completed"
_BUILT_IN_SPECS: dict[str, dict[str, Any]] = {
    "first_seen": {"kind": "first", "value": TIMESTAMP, "description": "time of the first event"},
    "last_seen": {"kind": "last", "value": TIMESTAMP, "description": "time of the latest event"},
    "lifetime_value": {"kind": "sum", "event": _ORDER, "value": "properties.revenue",
                       "description": "revenue of every order"},
    "orders_count": {"kind": "count", "event": _ORDER, "description": "orders placed"},
    "average_order_value": {"kind": "average", "event": _ORDER, "value": "properties.revenue",
                            "description": "mean revenue per order"},
    "last_order_at": {"kind": "last", "event": _ORDER, "value": TIMESTAMP,
                      "description": "time of the latest order"},
    "preferred_channel": {"kind": "most_frequent", "value": _CHANNEL, **_ENGAGEMENT,
                          "description": "the channel the customer engages through most"},
    "channels_used": {"kind": "unique_list", "value": _CHANNEL, **_ENGAGEMENT,
                      "description": "every channel the customer engaged through"},
    # Every browser and app install has its own anonymous id, sent on every call (a device id
    # is not: taking it where present would count one phone twice).
    "devices_count": {"kind": "unique_count", "value": "anonymousId",
                      "description": "browsers and app installs seen (their anonymous ids)"},
    "favourite_category": {"kind": "most_frequent", "value": "properties.category",
                           "event": ["Product Viewed", "Product Added", _ORDER],
                           "description": "the product category viewed, added or bought most"},
}  # fmt: skip
BUILT_IN: tuple[TraitDefinition, ...] = tuple(
    parse(name, spec, "builtin") for name, spec in _BUILT_IN_SPECS.items()
)


def combined(*layers: tuple[TraitDefinition, ...]) -> dict[str, TraitDefinition]:
    """Definitions by name, a later layer's replacing an earlier one's."""
    return {d.name: d for layer in layers for d in layer}
