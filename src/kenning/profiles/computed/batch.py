"""Computed traits from the whole log, in SQL: a recompute, a new trait's backfill, the refresh
of windowed traits.

The log is read once: each event with the profile it was stitched to, its columns, and every
message path the traits read, extracted in one JSON parse. Each trait is then one aggregate
over that table, writing the same tallies ``tally.py`` keeps on ingest, by the same rules:
a value is the first of the trait's paths that is present and not null; numbers are JSON
numbers or strings spelling one (``NUMERIC_TEXT``); distinct values are keyed by canonical
JSON text (DuckDB's cast of a DOUBLE to text writes what Python's ``repr`` does).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb

from kenning.profiles.computed.definitions import (
    COLUMN_PATHS,
    NUMERIC_KINDS,
    TIMESTAMP,
    VALUE_KINDS,
    Condition,
    Kind,
    TraitDefinition,
)
from kenning.profiles.computed.tally import NUMERIC_TEXT

_BASE = "__kenning_trait_base"
_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE')"


def _quoted(path: str) -> str:
    return "$." + ".".join(f'"{segment}"' for segment in path.split("."))


class _Columns:
    """SQL for the JSON at each path, over the base table."""

    def __init__(self, payload_paths: Sequence[str]) -> None:
        self.slot = {path: i + 1 for i, path in enumerate(payload_paths)}

    def json(self, path: str) -> str:
        if path in COLUMN_PATHS:
            return f"to_json({path})"  # event, type, source: strings or null
        return f"x[{self.slot[path]}]"

    def value(self, definition: TraitDefinition) -> str:
        present = [
            f"CASE WHEN json_type({self.json(p)}) <> 'NULL' THEN {self.json(p)} END"
            for p in definition.value
        ]
        return present[0] if len(present) == 1 else f"coalesce({', '.join(present)})"


def _number(json: str) -> str:
    text = f"json_extract_string({json}, '$')"
    n = f"""CASE WHEN json_type({json}) IN {_NUMBER_TYPES} THEN TRY_CAST({json} AS DOUBLE)
                 WHEN json_type({json}) = 'VARCHAR' AND regexp_full_match({text}, '{NUMERIC_TEXT}')
                 THEN TRY_CAST({text} AS DOUBLE) END"""
    return f"(CASE WHEN isfinite({n}) THEN {n} END)"  # "1e999" is no number


def _text(json: str) -> str:
    return f"""CASE json_type({json})
                 WHEN 'VARCHAR' THEN {json}::VARCHAR WHEN 'BIGINT' THEN {json}::VARCHAR
                 WHEN 'UBIGINT' THEN {json}::VARCHAR WHEN 'BOOLEAN' THEN {json}::VARCHAR
                 WHEN 'DOUBLE' THEN CAST(TRY_CAST({json} AS DOUBLE) AS VARCHAR) END"""


def _equals(json: str, operand: Any, params: list[Any]) -> str:
    if isinstance(operand, bool):
        params.append("true" if operand else "false")
        return f"coalesce(json_type({json}) = 'BOOLEAN' AND {json}::VARCHAR = ?, false)"
    if isinstance(operand, int | float):
        params.append(float(operand))
        return f"""(CASE WHEN json_type({json}) IN {_NUMBER_TYPES}
                         THEN coalesce(TRY_CAST({json} AS DOUBLE) = ?, false) ELSE false END)"""
    params.append(operand)
    return f"""(CASE WHEN json_type({json}) = 'VARCHAR'
                     THEN json_extract_string({json}, '$') = ? ELSE false END)"""


def _condition(condition: Condition, columns: _Columns, params: list[Any]) -> str:
    json = columns.json(condition.path)
    op, operand = condition.op, condition.operand
    if op == "exists":
        present = f"coalesce(json_type({json}) <> 'NULL', false)"
        return present if operand else f"NOT {present}"
    if op in {"eq", "ne"}:
        test = _equals(json, operand, params)
        return test if op == "eq" else f"NOT {test}"
    if op in {"in", "not_in"}:
        tests = [_equals(json, o, params) for o in operand]
        test = f"({' OR '.join(tests)})"
        return test if op == "in" else f"NOT {test}"
    params.append(operand)
    symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    return f"coalesce({_number(json)} {symbol} ?, false)"


def _filters(
    definition: TraitDefinition, columns: _Columns, now: datetime, params: list[Any]
) -> str:
    where = ["true"]
    if definition.events:
        where.append(f"event IN ({', '.join('?' for _ in definition.events)})")
        params.extend(definition.events)
    if definition.types:
        where.append(f"type IN ({', '.join('?' for _ in definition.types)})")
        params.extend(definition.types)
    if definition.window is not None:
        where.append("ts > ?")
        params.append(now - definition.window)
    where.extend(_condition(c, columns, params) for c in definition.where)
    return " AND ".join(where)


def _insert(definition: TraitDefinition, columns: _Columns, now: datetime) -> tuple[str, list[Any]]:
    params: list[Any] = [definition.name]
    where = _filters(definition, columns, now, params)
    kind = definition.kind
    if kind == Kind.COUNT:
        sql = f"""INSERT INTO __kenning_trait_tallies (profile_id, trait, n)
                  SELECT profile_id, ?, count(*) FROM {_BASE} WHERE {where} GROUP BY profile_id"""
        return sql, params
    value = columns.value(definition)
    if kind in NUMERIC_KINDS:
        column, aggregate = {
            Kind.SUM: ("total", "sum"),
            Kind.AVERAGE: ("total", "sum"),
            Kind.MIN: ("low", "min"),
            Kind.MAX: ("high", "max"),
        }[kind]
        sql = f"""INSERT INTO __kenning_trait_tallies (profile_id, trait, n, {column})
                  SELECT profile_id, ?, count(*), {aggregate}(v)
                  FROM (SELECT profile_id, {_number("value")} AS v
                        FROM (SELECT profile_id, {value} AS value FROM {_BASE} WHERE {where}))
                  WHERE v IS NOT NULL GROUP BY profile_id"""
        return sql, params
    if definition.value == (TIMESTAMP,):  # the time itself: kept in the time columns
        selected = f"SELECT profile_id, ts, seq, NULL::VARCHAR AS v FROM {_BASE} WHERE {where}"
        present, first, last = "true", "NULL", "NULL"
    else:
        selected = f"""SELECT profile_id, ts, seq, {_text("value")} AS v
                       FROM (SELECT profile_id, ts, seq, {value} AS value
                             FROM {_BASE} WHERE {where})"""
        present, first, last = "v IS NOT NULL", "arg_min(v, (ts, seq))", "arg_max(v, (ts, seq))"
    if kind in VALUE_KINDS:
        sql = f"""INSERT INTO __kenning_trait_values
                  SELECT profile_id, ?, v, count(*), max(ts), arg_max(seq, (ts, seq))
                  FROM ({selected}) WHERE {present} GROUP BY profile_id, v"""
        return sql, params
    sql = f"""INSERT INTO __kenning_trait_tallies (profile_id, trait, n, first_value, first_at,
                  first_seq, last_value, last_at, last_seq)
              SELECT profile_id, ?, count(*), {first}, min(ts), arg_min(seq, (ts, seq)),
                     {last}, max(ts), arg_max(seq, (ts, seq))
              FROM ({selected}) WHERE {present} GROUP BY profile_id"""
    return sql, params


def recompute(
    con: duckdb.DuckDBPyConnection, definitions: Sequence[TraitDefinition], now: datetime
) -> None:
    """Replace the tallies of ``definitions`` with ones computed from the log (windows end at
    ``now``), inside the caller's transaction."""
    if not definitions:
        return
    names = [d.name for d in definitions]
    con.execute("DELETE FROM __kenning_trait_tallies WHERE trait = ANY(?)", [names])
    con.execute("DELETE FROM __kenning_trait_values WHERE trait = ANY(?)", [names])
    payload_paths = sorted({p for d in definitions for p in d.paths()} - COLUMN_PATHS)
    columns = _Columns(payload_paths)
    extracted = (
        f", json_extract(e.payload, [{', '.join(repr(_quoted(p)) for p in payload_paths)}]) AS x"
        if payload_paths
        else ""
    )
    where, params = _prefilter(definitions, now)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_BASE} AS
            SELECT e.seq, p.profile_id, e.type, e.event, coalesce(s.name, e.source_id) AS source,
                   e.timestamp AS ts {extracted}
            FROM __kenning_events e
            JOIN __kenning_event_profiles p USING (seq)
            LEFT JOIN __kenning_sources s ON s.id = e.source_id
            WHERE {where}""",
        params,
    )
    for definition in definitions:
        sql, params = _insert(definition, columns, now)
        con.execute(sql, params)
    con.execute(f"DROP TABLE {_BASE}")


def _prefilter(definitions: Sequence[TraitDefinition], now: datetime) -> tuple[str, list[Any]]:
    """Only the events some trait can read: by name when every trait names its events, by
    time when every trait has a window."""
    where: list[str] = ["true"]
    params: list[Any] = []
    if all(d.events for d in definitions):
        names = sorted({name for d in definitions for name in d.events})
        where.append(f"e.event IN ({', '.join('?' for _ in names)})")
        params.extend(names)
    windows = [d.window for d in definitions]
    if all(w is not None for w in windows):
        where.append("e.timestamp > ?")
        params.append(now - max(w for w in windows if w is not None))
    return " AND ".join(where), params
