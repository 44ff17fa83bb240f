"""A profile's computed traits: its tallies and those of the profiles merged into it, combined
and turned into values by kind.

Counts, sums and unique counts are 0 for a profile with no event to count; a unique list is
empty; the other kinds have no value then and are left out. Sums and averages are rounded to
6 decimal places (the sum of 0.1 and 0.2 is 0.3, not 0.30000000000000004).
"""

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import orjson

from kenning.profiles.computed.definitions import TIMESTAMP, Kind, TraitDefinition

_ZERO = {Kind.COUNT: 0, Kind.SUM: 0.0, Kind.UNIQUE_COUNT: 0, Kind.UNIQUE_LIST: []}
_DECIMALS = 6


def computed_traits(
    con: duckdb.DuckDBPyConnection, ids: Sequence[int], definitions: Iterable[TraitDefinition]
) -> dict[str, Any]:
    """Each trait's value for the person whose profiles are ``ids``, by trait name."""
    rows = {
        str(row[0]): row[1:]
        for row in con.execute(
            """SELECT trait, sum(n), fsum(total), min(low), max(high),
                      arg_min(first_value, (first_at, first_seq)), min(first_at),
                      arg_max(last_value, (last_at, last_seq)), max(last_at)
               FROM __kenning_trait_tallies WHERE profile_id = ANY(?) GROUP BY trait""",
            [list(ids)],
        ).fetchall()
    }
    values: dict[str, list[tuple[str, int, Any, int]]] = {}
    for trait, value, n, at, seq in con.execute(
        """SELECT trait, value, sum(n), max(last_at), arg_max(last_seq, (last_at, last_seq))
           FROM __kenning_trait_values WHERE profile_id = ANY(?) GROUP BY trait, value""",
        [list(ids)],
    ).fetchall():
        values.setdefault(str(trait), []).append((str(value), int(n), at, int(seq)))
    result: dict[str, Any] = {}
    for definition in definitions:
        value = _value(definition, rows.get(definition.name), values.get(definition.name, []))
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
        # Most frequent first; a tie goes to the value seen last.
        ranked = sorted(values, key=lambda v: (v[1], v[2], v[3]), reverse=True)
        if kind == Kind.UNIQUE_COUNT:
            return len(ranked)
        if kind == Kind.UNIQUE_LIST:
            return [orjson.loads(v[0]) for v in ranked]
        return orjson.loads(ranked[0][0]) if ranked else None
    if row is None:
        return _ZERO.get(kind)
    n, total, low, high, first_value, first_at, last_value, last_at = row
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
        return first_at.isoformat() if timestamp else orjson.loads(first_value)
    return last_at.isoformat() if timestamp else orjson.loads(last_value)
