"""A profile's computed traits: its tallies and those of the profiles merged into it, combined
and turned into values by kind.

Counts, sums and unique counts are 0 for a profile with no event to count; a unique list is
empty; the other kinds have no value then and are left out. Sums and averages are rounded to
6 decimal places (the sum of 0.1 and 0.2 is 0.3, not 0.30000000000000004).
"""

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from kenning.profiles.computed.definitions import TIMESTAMP, Kind, TraitDefinition
from kenning.profiles.rows import PersonRows, Tally, ValueCount

_ZERO = {Kind.COUNT: 0, Kind.SUM: 0.0, Kind.UNIQUE_COUNT: 0, Kind.UNIQUE_LIST: []}
_DECIMALS = 6
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def combined_tallies(rows: Iterable[Tally]) -> dict[str, tuple[Any, ...]]:
    """A person's tally rows, one per trait (without the trait name)."""
    tallies: dict[str, tuple[Any, ...]] = {}
    for trait, *tally in rows:
        tallies[trait] = _combined(tallies.get(trait), tuple(tally))
    return tallies


def counted_values(rows: Iterable[ValueCount]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """A person's value counts, one per (trait, value): count, last time, last log position."""
    counted: dict[tuple[str, str], tuple[int, int, int]] = {}
    for trait, value, n, at, seq in rows:
        key = (trait, value)
        before = counted.get(key)
        counted[key] = (
            (n, at, seq) if before is None else (before[0] + n, *max(before[1:], (at, seq)))
        )
    return counted


def computed_traits(rows: PersonRows, definitions: Iterable[TraitDefinition]) -> dict[str, Any]:
    """Each trait's value for the person whose rows these are, by trait name."""
    # Rows fetched as they are and combined here: a GROUP BY with arg_min planned per lookup
    # cost DuckDB more than the index lookup itself (bench/profiles).
    tallies = combined_tallies(rows.tallies)
    counted = counted_values(rows.values)
    values: dict[str, list[tuple[str, int, Any, int]]] = {}
    for (trait, value), (n, at, seq) in counted.items():
        values.setdefault(trait, []).append((value, n, at, seq))
    result: dict[str, Any] = {}
    for definition in definitions:
        value = _value(definition, tallies.get(definition.name), values.get(definition.name, []))
        if value is not None:
            result[definition.name] = value
    return result


def _value(
    definition: TraitDefinition,
    row: tuple[Any, ...] | None,
    values: list[tuple[str, int, Any, int]],
) -> Any:
    kind = definition.kind
    if kind in {Kind.MOST_FREQUENT, Kind.UNIQUE_LIST, Kind.UNIQUE_COUNT}:
        # Most frequent first; a tie goes to the value seen last, then (several values of
        # one event) to the greater value text, as in SQL (current.py).
        ranked = sorted(values, key=lambda v: (v[1], v[2], v[3], v[0]), reverse=True)
        if kind == Kind.UNIQUE_COUNT:
            return len(ranked)
        if kind == Kind.UNIQUE_LIST:
            return [orjson.loads(v[0]) for v in ranked]
        return orjson.loads(ranked[0][0]) if ranked else None
    if row is None:
        return _ZERO.get(kind)
    n, total, low, high, first_value, first_at, _, last_value, last_at, _ = row
    if kind == Kind.COUNT:
        return int(n)
    if kind == Kind.SUM:
        return round(float(total), _DECIMALS)
    if kind == Kind.AVERAGE:
        return round(float(total) / int(n), _DECIMALS)
    if kind == Kind.MIN:
        return low
    if kind == Kind.MAX:
        return high
    timestamp = definition.value == (TIMESTAMP,)
    if kind == Kind.FIRST:
        return _time(first_at) if timestamp else orjson.loads(first_value)
    return _time(last_at) if timestamp else orjson.loads(last_value)


def _time(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).isoformat()


def _combined(held: tuple[Any, ...] | None, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Two tally rows of one trait as one: counts and sums add, extremes compare, the first
    and last value are the earliest and latest by (time, log position)."""
    if held is None:
        return row
    n, total, low, high, first_value, first_at, first_seq, last_value, last_at, last_seq = held
    n2, total2, low2, high2, fv2, fa2, fs2, lv2, la2, ls2 = row
    if fa2 is not None and (first_at is None or (fa2, fs2) < (first_at, first_seq)):
        first_value, first_at, first_seq = fv2, fa2, fs2
    if la2 is not None and (last_at is None or (la2, ls2) > (last_at, last_seq)):
        last_value, last_at, last_seq = lv2, la2, ls2
    return (
        n + n2,
        total2 if total is None else total if total2 is None else math.fsum((total, total2)),
        low2 if low is None else low if low2 is None else min(low, low2),
        high2 if high is None else high if high2 is None else max(high, high2),
        first_value, first_at, first_seq, last_value, last_at, last_seq,
    )  # fmt: skip
