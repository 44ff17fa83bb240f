"""What each event adds to each computed trait, in Python.

A trait is kept as *tallies* per profile an event was stitched to (as profile traits are), so
a merge costs nothing: the profile's value is its tallies and those of the profiles merged into
it, combined when read (``computed/read.py``). A (profile, trait) row holds the count, sum,
minimum, maximum, and the first and last value with their time and log position; the value
kinds (most frequent, unique) keep a row per distinct value with its count. Each catch-up
appends its own rows; ``stage.compact`` combines them now and then.

``computed/batch.py`` computes the same tallies from the log in SQL; both follow the rules in
``definitions.py`` and agree exactly, sums up to the order of floating-point additions (tested
on random logs). The stored tallies are computed by it, after the acknowledgement
(``catchup.py``); this module tallies, as a profile is read, its events not tallied yet
(``tail``).
"""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from kenning.profiles.computed.definitions import (
    EACH,
    NUMERIC_KINDS,
    ORDERED_KINDS,
    TIMESTAMP,
    VALUE_KINDS,
    Condition,
    Kind,
    TraitDefinition,
)

# A string that counts as a number for sum, average, min, max and the order operators; the
# same expression is used in SQL (batch.py), so both read the same strings as numbers.
NUMERIC_TEXT = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
_NUMERIC = re.compile(NUMERIC_TEXT)
_INT64 = range(-(2**63), 2**64)
_MISSING = object()


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a µs per event
class Event:
    """The parts of a stored event a trait reads."""

    seq: int
    profile_id: int
    at: datetime
    type: str
    event: str | None
    source: str  # the source's name
    message: Mapping[str, Any]

    def read(self, path: str) -> Any:
        """The value at ``path``, None for JSON null, ``_MISSING`` when absent."""
        if path == TIMESTAMP:
            return self.at
        if path == "source":
            return self.source
        if path == "event":
            return _MISSING if self.event is None else self.event
        if path == "type":
            return self.type
        node: Any = self.message
        segments = _SEGMENTS.get(path)
        if segments is None:
            segments = _SEGMENTS[path] = tuple(path.split("."))
        for segment in segments:
            # dict, not Mapping: messages are parsed JSON, and an ABC check costs 0.3 µs.
            if not isinstance(node, dict) or segment not in node:
                return _MISSING
            node = node[segment]
        return node

    def read_each(self, path: str) -> list[Any]:
        """The values at a path with ``[]`` segments (``properties.products[].category``):
        one per array item that has it, in order; none when a ``[]`` segment is no array."""
        nodes: list[Any] = [self.message]
        for segment in path.split("."):
            each = segment.endswith(EACH)
            key = segment[: -len(EACH)] if each else segment
            found: list[Any] = []
            for node in nodes:
                if not isinstance(node, dict) or key not in node:
                    continue
                value = node[key]
                if each:
                    if isinstance(value, list):
                        found.extend(value)
                else:
                    found.append(value)
            nodes = found
        return nodes


_SEGMENTS: dict[str, tuple[str, ...]] = {}  # a value path's segments, split once
_STRING_TEXT: dict[str, str] = {}  # the few strings traits see again and again (channels, ...)


def value_text(value: Any) -> str | None:
    """A scalar as canonical JSON text (the key of a distinct value), None for anything else.

    Floats are written as Python's ``repr`` (DuckDB's cast of a DOUBLE to text writes the same);
    integers that fit 64 bits as digits; strings as JSON strings.
    """
    text = _STRING_TEXT.get(value) if type(value) is str else None
    if text is not None:  # the usual case, first
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value in _INT64 else repr(float(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        text = _STRING_TEXT.get(value)
        if text is None:
            text = orjson.dumps(value).decode()
            if len(_STRING_TEXT) < 10_000 and len(value) <= 64:
                _STRING_TEXT[value] = text
        return text
    return None


def number(value: Any) -> float | None:
    """A JSON number, or a string spelling one (``"12.50"``), as a float; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMERIC.fullmatch(value)):
        result = float(value)
    else:
        return None
    return result if math.isfinite(result) else None


def equals(value: Any, operand: Any) -> bool:
    """Like with like: text with text, a boolean with a boolean, a number with a number."""
    if isinstance(operand, str):  # the usual case, first
        return isinstance(value, str) and value == operand
    if isinstance(operand, bool):
        return isinstance(value, bool) and value == operand
    if isinstance(operand, int | float):
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (float(value) == float(operand))
        )
    return False


def holds(condition: Condition, event: Event) -> bool:
    if EACH in condition.path:
        return _holds_for_some(condition, event.read_each(condition.path))
    value = event.read(condition.path)
    op, operand = condition.op, condition.operand
    if op == "exists":
        return (value is not _MISSING and value is not None) is bool(operand)
    if op in {"eq", "ne"}:
        return equals(value, operand) == (op == "eq")
    if op in {"in", "not_in"}:
        return any(equals(value, o) for o in operand) == (op == "in")
    n = number(value)
    if n is None:
        return False
    bound = float(operand)
    return {"gt": n > bound, "gte": n >= bound, "lt": n < bound, "lte": n <= bound}[op]


def _holds_for_some(condition: Condition, values: list[Any]) -> bool:
    """An array filter (``products[].category``): ``eq``, ``in``, ``exists`` and the order
    operators hold when some item passes; ``ne`` and ``not_in`` when none equals, ``exists:
    false`` when none has the value."""
    op, operand = condition.op, condition.operand
    if op == "exists":
        return any(v is not None for v in values) is bool(operand)
    if op in {"eq", "ne"}:
        return any(equals(v, operand) for v in values) == (op == "eq")
    if op in {"in", "not_in"}:
        return any(equals(v, o) for v in values for o in operand) == (op == "in")
    bound = float(operand)
    numbers = [n for n in map(number, values) if n is not None]
    compare = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}
    return any(compare[op](n, bound) for n in numbers)


def _selected(definition: TraitDefinition, event: Event) -> bool:
    """Whether the event, of a name the trait reads, is of its types and passes its filters."""
    if definition.types and event.type not in definition.types:
        return False
    return not definition.where or all(holds(c, event) for c in definition.where)


def _first_present(paths: tuple[str, ...], event: Event) -> Any:
    """The value of the first path that has one (null counts as none)."""
    for path in paths:
        value = event.read(path)
        if value is not _MISSING and value is not None:
            return value
    return _MISSING


@dataclass(slots=True)
class Tally:
    """One (profile, trait) row of ``__kenning_trait_tallies``."""

    n: int = 0
    total: float | None = None
    low: float | None = None
    high: float | None = None
    first: tuple[datetime, int, str | None] | None = None  # (at, seq, value text)
    last: tuple[datetime, int, str | None] | None = None


@dataclass(slots=True)
class ValueTally:
    """One (profile, trait, value) row of ``__kenning_trait_values``."""

    n: int
    last: tuple[datetime, int]


@dataclass(frozen=True)
class _Reading:
    """Traits that read the same paths from the same events: the value is found once."""

    paths: tuple[str, ...]
    definitions: tuple[TraitDefinition, ...]


@dataclass(frozen=True)
class _Selection:
    """Traits that take the same events (names, types, filters, window)."""

    sample: TraitDefinition  # any of them: they select alike
    readings: tuple[_Reading, ...]


class Plan:
    """The traits each event name can concern, grouped so that each selection and each value
    is worked out once per event, however many traits share it (the built-ins share a lot:
    first and last seen read the same time of the same events)."""

    def __init__(self, definitions: Sequence[TraitDefinition]) -> None:
        self.definitions = tuple(definitions)
        self._for: dict[str | None, tuple[_Selection, ...]] = {}

    def for_event(self, name: str | None) -> tuple[_Selection, ...]:
        found = self._for.get(name)
        if found is None:
            found = self._group([d for d in self.definitions if not d.events or name in d.events])
            self._for[name] = found
        return found

    @staticmethod
    def _group(definitions: list[TraitDefinition]) -> tuple[_Selection, ...]:
        by_selection: dict[tuple[Any, ...], dict[tuple[str, ...], list[TraitDefinition]]] = {}
        for d in definitions:
            # The event name is settled already; what else decides whether an event is taken:
            selection = (d.types, d.where, d.window)
            by_selection.setdefault(selection, {}).setdefault(d.value, []).append(d)
        return tuple(
            _Selection(
                next(iter(readings.values()))[0],
                tuple(_Reading(paths, tuple(ds)) for paths, ds in readings.items()),
            )
            for readings in by_selection.values()
        )


@dataclass
class Tallies:
    """What a group of events adds, by (profile, trait) and (profile, trait, value)."""

    rows: dict[tuple[int, str], Tally] = field(default_factory=dict)
    values: dict[tuple[int, str, str], ValueTally] = field(default_factory=dict)

    def add(self, plan: Plan, event: Event, now: datetime) -> None:
        """Add what ``event`` contributes; windowed traits take it only if it falls inside
        their window as of ``now``."""
        for selection in plan.for_event(event.event):
            window = selection.sample.window
            if window is not None and event.at <= now - window:
                continue
            if not _selected(selection.sample, event):
                continue
            for reading in selection.readings:
                value = _first_present(reading.paths, event)
                for definition in reading.definitions:
                    _ADDERS[definition.kind](self, definition, event, value)

    def _count(self, definition: TraitDefinition, event: Event, value: Any) -> None:
        self._row(event, definition).n += 1

    def _number(self, definition: TraitDefinition, event: Event, value: Any) -> None:
        n = number(value)
        if n is None:
            return
        row = self._row(event, definition)
        row.n += 1
        kind = definition.kind
        if kind is Kind.SUM or kind is Kind.AVERAGE:
            row.total = n if row.total is None else row.total + n
        elif kind is Kind.MIN:
            row.low = n if row.low is None else min(row.low, n)
        else:
            row.high = n if row.high is None else max(row.high, n)

    def _ordered(self, definition: TraitDefinition, event: Event, value: Any) -> None:
        if value is _MISSING:
            return
        if definition.value == (TIMESTAMP,):
            text: str | None = None  # the time itself, kept in the row's time column
        else:
            text = value_text(value)
            if text is None:
                return
        row = self._row(event, definition)
        row.n += 1
        position = (event.at, event.seq)
        if row.first is None or position < row.first[:2]:
            row.first = (event.at, event.seq, text)
        if row.last is None or position > row.last[:2]:
            row.last = (event.at, event.seq, text)

    def _distinct(self, definition: TraitDefinition, event: Event, value: Any) -> None:
        text = value_text(value)  # None for a missing value, as for an object or a list
        if text is None:
            return
        key = (event.profile_id, definition.name, text)
        tally = self.values.get(key)
        position = (event.at, event.seq)
        if tally is None:
            self.values[key] = ValueTally(1, position)
        else:
            tally.n += 1
            tally.last = max(tally.last, position)

    def _row(self, event: Event, definition: TraitDefinition) -> Tally:
        key = (event.profile_id, definition.name)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Tally()
        return row


_Adder = Callable[[Tallies, TraitDefinition, Event, Any], None]
_ADDERS: dict[Kind, _Adder] = {
    Kind.COUNT: Tallies._count,
    **dict.fromkeys(NUMERIC_KINDS, Tallies._number),
    **dict.fromkeys(ORDERED_KINDS, Tallies._ordered),
    **dict.fromkeys(VALUE_KINDS, Tallies._distinct),
}


class TailEvent(NamedTuple):
    """An event after the watermark, as a profile read finds it (times in µs since the
    epoch, the source by name, the message as JSON text)."""

    seq: int
    at: int
    type: str
    event: str | None
    source: str
    payload: str


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def tail(
    plan: Plan, events: Sequence[TailEvent], now: datetime | None = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """One person's events not tallied yet, as rows like the stored ones (``rows.Tally`` and
    ``rows.ValueCount``: times in µs) to combine with them."""
    now = now or datetime.now(UTC)
    tallies = Tallies()
    for e in events:
        at = _EPOCH + timedelta(microseconds=e.at)
        message = orjson.loads(e.payload)
        tallies.add(plan, Event(e.seq, 0, at, e.type, e.event, e.source, message), now)
    rows = []
    for (_, trait), t in tallies.rows.items():
        first_value, first_at, first_seq = _end(t.first)
        last_value, last_at, last_seq = _end(t.last)
        rows.append(
            (trait, t.n, t.total, t.low, t.high, first_value, first_at, first_seq,
             last_value, last_at, last_seq)
        )  # fmt: skip
    values = [
        (trait, value, v.n, _micros(v.last[0]), v.last[1])
        for (_, trait, value), v in tallies.values.items()
    ]
    return rows, values


def _end(end: tuple[datetime, int, str | None] | None) -> tuple[str | None, int | None, int | None]:
    """A first or last (at, seq, value) as a row's (value, at in µs, seq)."""
    if end is None:
        return None, None, None
    at, seq, value = end
    return value, _micros(at), seq
