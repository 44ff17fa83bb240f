"""What each event adds to each computed trait, on ingest, in Python.

A trait is kept as *tallies* per profile an event was stitched to (as profile traits are), so
a merge costs nothing: the profile's value is its tallies and those of the profiles merged into
it, combined when read (``computed/read.py``). One row per (profile, trait) holds the count,
sum, minimum, maximum, and the first and last value with their time and log position; the
value kinds (most frequent, unique) keep one row per distinct value with its count.

``computed/batch.py`` computes the same tallies from the log in SQL; both follow the rules in
``definitions.py`` and must agree exactly (tested on random logs).
"""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from kenning.profiles.computed.definitions import (
    NUMERIC_KINDS,
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


@dataclass(frozen=True, slots=True)
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
        for segment in path.split("."):
            if not isinstance(node, Mapping) or segment not in node:
                return _MISSING
            node = node[segment]
        return node


def value_text(value: Any) -> str | None:
    """A scalar as canonical JSON text (the key of a distinct value), None for anything else.

    Floats are written as Python's ``repr`` (DuckDB's cast of a DOUBLE to text writes the same);
    integers that fit 64 bits as digits; strings as JSON strings.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value in _INT64 else repr(float(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()
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


def _equals(value: Any, operand: Any) -> bool:
    if isinstance(operand, bool):
        return isinstance(value, bool) and value == operand
    if isinstance(operand, int | float):
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (float(value) == float(operand))
        )
    return isinstance(value, str) and value == operand


def holds(condition: Condition, event: Event) -> bool:
    value = event.read(condition.path)
    op, operand = condition.op, condition.operand
    if op == "exists":
        return (value is not _MISSING and value is not None) is bool(operand)
    if op in {"eq", "ne"}:
        return _equals(value, operand) == (op == "eq")
    if op in {"in", "not_in"}:
        return any(_equals(value, o) for o in operand) == (op == "in")
    n = number(value)
    if n is None:
        return False
    bound = float(operand)
    return {"gt": n > bound, "gte": n >= bound, "lt": n < bound, "lte": n <= bound}[op]


def selects(definition: TraitDefinition, event: Event) -> bool:
    """Whether the event is one the trait reads (its names, types and filters)."""
    if definition.events and event.event not in definition.events:
        return False
    if definition.types and event.type not in definition.types:
        return False
    return all(holds(c, event) for c in definition.where)


def first_value(definition: TraitDefinition, event: Event) -> Any:
    """The value of the first of the trait's paths that has one (null counts as none)."""
    for path in definition.value:
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

    n: int = 0
    last: tuple[datetime, int] | None = None


@dataclass
class Tallies:
    """What a group of events adds, by (profile, trait) and (profile, trait, value)."""

    rows: dict[tuple[int, str], Tally] = field(default_factory=dict)
    values: dict[tuple[int, str, str], ValueTally] = field(default_factory=dict)

    def add(self, definitions: Sequence[TraitDefinition], event: Event, now: datetime) -> None:
        """Add what ``event`` contributes; windowed traits take it only if it falls inside
        their window as of ``now``."""
        for definition in definitions:
            if definition.window is not None and event.at <= now - definition.window:
                continue
            if selects(definition, event):
                self._add(definition, event)

    def _add(self, definition: TraitDefinition, event: Event) -> None:
        kind = definition.kind
        if kind == Kind.COUNT:
            self._row(event, definition).n += 1
            return
        value = first_value(definition, event)
        if value is _MISSING:
            return
        if kind in NUMERIC_KINDS:
            n = number(value)
            if n is None:
                return
            row = self._row(event, definition)
            row.n += 1
            if kind in {Kind.SUM, Kind.AVERAGE}:
                row.total = n if row.total is None else row.total + n
            elif kind == Kind.MIN:
                row.low = n if row.low is None else min(row.low, n)
            else:
                row.high = n if row.high is None else max(row.high, n)
            return
        if definition.value == (TIMESTAMP,):
            text: str | None = None  # the time itself, kept in the row's time column
        else:
            text = value_text(value)
            if text is None:
                return
        position = (event.at, event.seq)
        if kind in VALUE_KINDS:
            assert text is not None
            tally = self.values.setdefault((event.profile_id, definition.name, text), ValueTally())
            tally.n += 1
            tally.last = position if tally.last is None else max(tally.last, position)
            return
        row = self._row(event, definition)
        row.n += 1
        stated = (event.at, event.seq, text)
        if row.first is None or position < row.first[:2]:
            row.first = stated
        if row.last is None or position > row.last[:2]:
            row.last = stated

    def _row(self, event: Event, definition: TraitDefinition) -> Tally:
        return self.rows.setdefault((event.profile_id, definition.name), Tally())
