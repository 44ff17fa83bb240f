"""Computed traits from the whole log, in SQL: a recompute, a new trait's backfill, the refresh
of windowed traits.

The log is read once into a base table: each event with the profile it was stitched to, its
columns, the JSON at every message path the traits filter on (one JSON parse per event), and
for every path they read a value from, whether it is present, its canonical text and its
number. Traits that take the same events and read the same value the same way then share one
aggregate (``first_seen`` and ``last_seen``; ``preferred_channel`` and ``channels_used``),
written once per trait name. The tallies are those ``tally.py`` keeps on ingest, by the same
rules: a value is the first of the trait's paths that is present and not null; numbers are
JSON numbers or strings spelling one (``NUMERIC_TEXT``); distinct values are keyed by canonical
JSON text (DuckDB's cast of a DOUBLE to text writes what Python's ``repr`` does).
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import duckdb

from kenning.identity.stitching import RebuiltProfiles
from kenning.profiles.computed.definitions import (
    COLUMN_PATHS,
    EACH,
    ORDERED_KINDS,
    TIMESTAMP,
    Condition,
    Kind,
    TraitDefinition,
)
from kenning.profiles.computed.tally import NUMERIC_TEXT

_BASE = "__kenning_trait_base"
_SHARED = "__kenning_trait_shared"
_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE')"


def json_path(path: str) -> str:
    """A dotted path as a JSON path; an array segment (``products[]``) takes every item."""
    return "$." + ".".join(
        f'"{segment[: -len(EACH)]}"[*]' if segment.endswith(EACH) else f'"{segment}"'
        for segment in path.split(".")
    )


def json_number_sql(json: str) -> str:
    """A JSON value as a DOUBLE when it is a number or text spelling one (tally.number)."""
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


class _Base:
    """The base table's columns: ``x`` holds the JSON of the filtered paths; each value path
    ``i`` has ``p{i}`` (present and not null), ``t{i}`` (canonical text) and ``n{i}``
    (number)."""

    def __init__(self, definitions: Sequence[TraitDefinition]) -> None:
        filtered = {c.path for d in definitions for c in d.where} - COLUMN_PATHS
        valued = {p for d in definitions for p in d.value} - {TIMESTAMP}
        # Array filters (``products[].category``) each get a column of their own: DuckDB
        # refuses wildcards in a multi-path extract.
        self.each = {path: i for i, path in enumerate(sorted(p for p in filtered if EACH in p))}
        self.extracted = sorted((filtered - set(self.each)) | (valued - COLUMN_PATHS))
        self.slot = {path: i + 1 for i, path in enumerate(self.extracted)}
        self.valued = {path: i for i, path in enumerate(sorted(valued))}

    def _json(self, path: str) -> str:
        if path in COLUMN_PATHS:
            return f"to_json({path})"
        return f"x[{self.slot[path]}]"

    def create(self, con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> None:
        extracted = (
            f", json_extract(e.payload, [{', '.join(repr(json_path(p)) for p in self.extracted)}])"
            " AS x"
            if self.extracted
            else ""
        )
        extracted += "".join(
            f", json_extract(e.payload, {json_path(path)!r}) AS y{i}"
            for path, i in self.each.items()
        )
        typed = "".join(
            f""", coalesce(json_type({self._json(path)}) <> 'NULL', false) AS p{i},
                  {_text(self._json(path))} AS t{i}, {json_number_sql(self._json(path))} AS n{i}"""
            for path, i in self.valued.items()
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_BASE} AS
                SELECT *{typed} FROM (
                    SELECT e.seq, p.profile_id, e.type, e.event,
                           coalesce(s.name, e.source_id) AS source, e.timestamp AS ts {extracted}
                    FROM __kenning_events e
                    JOIN __kenning_event_profiles p USING (seq)
                    LEFT JOIN __kenning_sources s ON s.id = e.source_id
                    WHERE {where})""",
            params,
        )

    def value(self, paths: tuple[str, ...], column: str) -> str:
        """The text (``t``) or number (``n``) of the first present path: a present value that
        is no scalar, or no number, is no value; a later path is not tried."""
        branches = " ".join(f"WHEN p{self.valued[p]} THEN {column}{self.valued[p]}" for p in paths)
        return f"CASE {branches} END"

    def condition(self, condition: Condition, params: list[Any]) -> str:
        path, op, operand = condition.path, condition.op, condition.operand
        if path in COLUMN_PATHS:
            return _column_condition(path, op, operand, params)
        if path in self.each:
            return self._each_condition(condition, params)
        return _json_condition(self._json(path), op, operand, params)

    def _each_condition(self, condition: Condition, params: list[Any]) -> str:
        return _each_condition(f"y{self.each[condition.path]}", condition, params)


def payload_condition_sql(
    condition: Condition, payload: str, params: list[Any], *, source: str = "source"
) -> str:
    """A filter over a message's JSON text ``payload``, for queries that read a few paths
    once (journeys, funnels) rather than the shared base table; ``event`` and ``type``
    columns, and the source's name as ``source``, in scope."""
    path, op, operand = condition.path, condition.op, condition.operand
    if path in COLUMN_PATHS:
        return _column_condition(source if path == "source" else path, op, operand, params)
    extracted = f"json_extract({payload}, {json_path(path)!r})"
    if EACH in path:
        return _each_condition(extracted, condition, params)
    return _json_condition(extracted, op, operand, params)


def _each_condition(items: str, condition: Condition, params: list[Any]) -> str:
    """An array filter over a list of JSON items (tally._holds_for_some): some item passes;
    for ``ne`` and ``not_in``, no item equals; for ``exists: false``, no item has the
    value."""
    op, operand = condition.op, condition.operand
    negated = op in {"ne", "not_in"} or (op == "exists" and not operand)
    positive = {"ne": "eq", "not_in": "in"}.get(op, op)
    test = _json_condition("item", positive, True if op == "exists" else operand, params)
    some = f"coalesce(list_bool_or(list_transform({items}, lambda item: {test})), false)"
    return f"NOT {some}" if negated else some


def _json_condition(json: str, op: str, operand: Any, params: list[Any]) -> str:
    """A filter on a JSON value (tally.holds)."""
    if op == "exists":
        present = f"coalesce(json_type({json}) <> 'NULL', false)"
        return present if operand else f"NOT {present}"
    if op in {"eq", "ne", "in", "not_in"}:
        options = operand if op in {"in", "not_in"} else (operand,)
        test = f"({' OR '.join(json_equals_sql(json, o, params) for o in options)})"
        return test if op in {"eq", "in"} else f"NOT {test}"
    params.append(operand)
    symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    return f"coalesce({json_number_sql(json)} {symbol} ?, false)"


def json_equals_sql(json: str, operand: Any, params: list[Any]) -> str:
    """A JSON value equals ``operand``, like with like (tally.equals)."""
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


def _column_condition(column: str, op: str, operand: Any, params: list[Any]) -> str:
    """A filter on ``event``, ``type`` or ``source``: text columns, so only a string equals."""
    if op == "exists":
        return f"({column} IS NOT NULL)" if operand else f"({column} IS NULL)"
    if op in {"eq", "ne", "in", "not_in"}:
        options = [o for o in (operand if op in {"in", "not_in"} else (operand,))]
        texts = [o for o in options if isinstance(o, str)]
        params.extend(texts)
        test = (
            f"coalesce({column} IN ({', '.join('?' for _ in texts)}), false)" if texts else "false"
        )
        return test if op in {"eq", "in"} else f"NOT {test}"
    params.append(operand)
    symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    n = f"TRY_CAST({column} AS DOUBLE)"
    return f"""coalesce(CASE WHEN regexp_full_match({column}, '{NUMERIC_TEXT}') AND isfinite({n})
                             THEN {n} END {symbol} ?, false)"""


def _family(kind: Kind) -> str:
    """Traits of one family over the same events and value share one aggregate."""
    if kind in {Kind.SUM, Kind.AVERAGE}:
        return "total"
    if kind in ORDERED_KINDS:
        return "ordered"
    if kind in {Kind.MIN, Kind.MAX, Kind.COUNT}:
        return kind.value
    return "distinct"


# A tally row's columns after (profile_id, trait), with their types: an aggregate names those
# it fills (``_tally``), the others are NULL.
_TALLY_COLUMNS = {
    "n": "BIGINT", "total": "DOUBLE", "low": "DOUBLE", "high": "DOUBLE",
    "first_value": "VARCHAR", "first_at": "TIMESTAMPTZ", "first_seq": "BIGINT",
    "last_value": "VARCHAR", "last_at": "TIMESTAMPTZ", "last_seq": "BIGINT",
}  # fmt: skip


def _tally(**filled: str) -> str:
    """Every tally column, in the table's order: ``filled`` ones by their SQL, NULL else."""
    return ", ".join(
        f"{filled[c]} AS {c}" if c in filled else f"NULL::{kind} AS {c}"
        for c, kind in _TALLY_COLUMNS.items()
    )


def _aggregate(
    family: str, sample: TraitDefinition, base: _Base, now: datetime
) -> tuple[str, str, list[Any]]:
    """(the table written, the aggregate's SQL, its parameters) for traits like ``sample``:
    ``(profile_id, <every tally column>)`` or ``(profile_id, value, n, last_at, last_seq)``."""
    params: list[Any] = []
    where = ["true"]
    if sample.events:
        where.append(f"event IN ({', '.join('?' for _ in sample.events)})")
        params.extend(sample.events)
    if sample.types:
        where.append(f"type IN ({', '.join('?' for _ in sample.types)})")
        params.extend(sample.types)
    if sample.window is not None:
        where.append("ts > ?")
        params.append(now - sample.window)
    where.extend(base.condition(c, params) for c in sample.where)
    rows = f"FROM {_BASE} WHERE {' AND '.join(where)}"
    if family == "count":
        return "tallies", f"SELECT profile_id, {_tally(n='count(*)')} {rows} GROUP BY 1", params
    if family in {"total", "min", "max"}:
        number = base.value(sample.value, "n")
        column, aggregate = {"total": ("total", "fsum"), "min": ("low", "min"),
                             "max": ("high", "max")}[family]  # fmt: skip
        sql = f"""SELECT profile_id, {_tally(n="count(*)", **{column: f"{aggregate}(v)"})}
                  FROM (SELECT profile_id, {number} AS v {rows}) WHERE v IS NOT NULL
                  GROUP BY 1"""
        return "tallies", sql, params
    ends = {"first_at": "min(ts)", "first_seq": "arg_min(seq, (ts, seq))",
            "last_at": "max(ts)", "last_seq": "arg_max(seq, (ts, seq))"}  # fmt: skip
    if sample.value == (TIMESTAMP,):  # the time itself: kept in the time columns
        return (
            "tallies",
            f"SELECT profile_id, {_tally(n='count(*)', **ends)} {rows} GROUP BY 1",
            params,
        )
    text = base.value(sample.value, "t")
    valued = f"FROM (SELECT profile_id, ts, seq, {text} AS v {rows}) WHERE v IS NOT NULL"
    if family == "ordered":
        columns = _tally(
            n="count(*)", first_value="arg_min(v, (ts, seq))",
            last_value="arg_max(v, (ts, seq))", **ends,
        )  # fmt: skip
        return "tallies", f"SELECT profile_id, {columns} {valued} GROUP BY 1", params
    sql = f"""SELECT profile_id, v AS value, count(*) AS n, max(ts) AS last_at,
                     arg_max(seq, (ts, seq)) AS last_seq
              {valued} GROUP BY profile_id, v"""
    return "values", sql, params


TALLIES = "__kenning_trait_tallies"
VALUES = "__kenning_trait_values"


def recompute(
    con: duckdb.DuckDBPyConnection,
    definitions: Sequence[TraitDefinition],
    now: datetime,
    *,
    tallies: str = TALLIES,
    values: str = VALUES,
    only: RebuiltProfiles | None = None,
) -> None:
    """Replace the tallies of ``definitions`` with ones computed from the log (windows end at
    ``now``), inside the caller's transaction, for every profile or ``only`` those a rebuild
    changed (their tallies of every other trait are dropped: pass every definition);
    ``tallies`` and ``values`` name the tables written (a preview writes temporary ones)."""
    if not definitions:
        return
    names = [d.name for d in definitions]
    where, params = _prefilter(definitions, now)
    if only is None:
        tallies, swap_tallies = _cleared(con, tallies, names)
        values, swap_values = _cleared(con, values, names)
    else:
        for table in (tallies, values):
            con.execute(f"DELETE FROM {table} WHERE {only.hold('profile_id')}")
        swap_tallies = swap_values = _unchanged
        where += f" AND {only.hold('p.profile_id')}"
    _write(con, definitions, now, where, params, tallies, values)
    swap_tallies()
    swap_values()


def tally_since(
    con: duckdb.DuckDBPyConnection,
    definitions: Sequence[TraitDefinition],
    now: datetime,
    after: int,
    upto: int,
) -> int:
    """Append the tallies of the events ``after < seq <= upto`` (windows end at ``now``),
    inside the caller's transaction: what the catch-up adds to the stored ones. Returns the
    rows appended.

    Three statements, whatever the traits: the base table, then one insert per table whose
    aggregates are common table expressions. A catch-up runs beside a server whose Python
    holds the GIL most of the time, and each statement waits for the GIL to start and to end
    (up to the 5 ms switch interval each time): thirty statements took a catch-up 0.5 s."""
    if not definitions:
        return 0
    where, params = _prefilter(definitions, now)
    base = _Base(definitions)
    # Both tables are filtered by position: DuckDB skips the row groups before the watermark.
    base.create(
        con,
        f"e.seq > ? AND e.seq <= ? AND p.seq > ? AND p.seq <= ? AND {where}",
        [after, upto, after, upto, *params],
    )
    ctes: dict[str, tuple[str, list[Any]]] = {}  # name: (SQL, parameters)
    branches: dict[str, list[tuple[str, str]]] = {"tallies": [], "values": []}
    for i, (key, members) in enumerate(_groups(definitions).items()):
        table, sql, aggregate_params = _aggregate(key[-1], members[0], base, now)
        ctes[f"g{i}"] = (sql, aggregate_params)
        branches[table].extend((f"g{i}", d.name) for d in members)
    inserted = 0
    for table, target in (("tallies", TALLIES), ("values", VALUES)):
        if not branches[table]:
            continue
        # Only the aggregates this table reads (DuckDB would compute the others too), each
        # once however many traits it serves.
        used = list(dict.fromkeys(name for name, _ in branches[table]))
        union = " UNION ALL ".join(
            f"SELECT profile_id, ? AS trait, * EXCLUDE (profile_id) FROM {name}"
            for name, _ in branches[table]
        )
        shared = {n for n in used if sum(1 for m, _ in branches[table] if m == n) > 1}
        counted = con.execute(
            f"INSERT INTO {target} WITH "
            + ", ".join(
                f"{n} AS {'MATERIALIZED ' if n in shared else ''}({ctes[n][0]})" for n in used
            )
            + f" {union}",
            [*(p for n in used for p in ctes[n][1]), *(trait for _, trait in branches[table])],
        ).fetchone()
        inserted += int(counted[0]) if counted else 0
    return inserted


def _groups(
    definitions: Sequence[TraitDefinition],
) -> dict[tuple[Any, ...], list[TraitDefinition]]:
    """Traits that take the same events and read the same value the same way: one aggregate
    serves them all."""
    groups: dict[tuple[Any, ...], list[TraitDefinition]] = {}
    for d in definitions:
        groups.setdefault(
            (d.events, d.types, d.where, d.window, d.value, _family(d.kind)), []
        ).append(d)
    return groups


def _write(
    con: duckdb.DuckDBPyConnection,
    definitions: Sequence[TraitDefinition],
    now: datetime,
    where: str,
    params: list[Any],
    tallies: str = TALLIES,
    values: str = VALUES,
) -> None:
    """Insert into ``tallies`` and ``values`` those of the events ``where`` selects, one
    aggregate at a time (a recompute: each aggregate over the whole log is worth its
    statements)."""
    base = _Base(definitions)
    base.create(con, where, params)
    for key, members in _groups(definitions).items():
        table, sql, aggregate_params = _aggregate(key[-1], members[0], base, now)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_SHARED} AS {sql}", aggregate_params)
        target = values if table == "values" else tallies
        for d in members:  # one aggregate, written once per trait that shares it
            con.execute(
                f"INSERT INTO {target} SELECT profile_id, ?, * EXCLUDE (profile_id) FROM {_SHARED}",
                [d.name],
            )
    con.execute(f"DROP TABLE IF EXISTS {_SHARED}")
    con.execute(f"DROP TABLE {_BASE}")


# Deleting rows from a table with an index costs DuckDB's commit about a second per million
# rows (each index entry removed): a recompute of twenty traits over 20M events replaced 21M
# rows, and its commit took 26 to 56 s of its 60 to 100 (bench/profiles traits).
# When a recompute replaces at least as many rows of a table as it keeps, and at least this
# many, it writes the rows kept and the new ones into a table built beside it, then swaps
# that in and indexes it afresh, all in the caller's transaction.
REBUILD_MIN_ROWS = 100_000
# The store's own tables, not temporary ones (their database is "temp"); an encrypted store
# is attached and used: its catalog, not memory's.
_HERE = "database_name = current_database() AND schema_name = current_schema()"


def _cleared(
    con: duckdb.DuckDBPyConnection, table: str, names: list[str]
) -> tuple[str, Callable[[], None]]:
    """``table`` without the rows of the traits ``names``: the table to write the new rows
    into, and what makes it ``table`` once they are written (nothing, when the rows were
    deleted in place)."""
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE trait = ANY($names)),
                  count(*) FILTER (WHERE NOT trait = ANY($names)) FROM {table}""",
        {"names": names},
    ).fetchone()
    replaced, kept = row if row else (0, 0)
    beside = rebuilt_beside(con, table) if replaced >= max(kept, REBUILD_MIN_ROWS) else None
    if beside is None:
        con.execute(f"DELETE FROM {table} WHERE trait = ANY(?)", [names])
        return table, lambda: None
    rebuilt, swap = beside
    con.execute(f"INSERT INTO {rebuilt} SELECT * FROM {table} WHERE NOT trait = ANY(?)", [names])
    return rebuilt, swap


def rebuilt_beside(
    con: duckdb.DuckDBPyConnection, table: str
) -> tuple[str, Callable[[], None]] | None:
    """An empty table like ``table`` (one of the store's, with indexes), and what swaps it in
    for ``table`` with the indexes built afresh, in the caller's transaction; None when
    ``table`` has no index (deleting from it costs the commit nothing much)."""
    indexes = [
        str(sql)
        for (sql,) in con.execute(
            f"""SELECT sql FROM duckdb_indexes()
                WHERE table_name = ? AND sql IS NOT NULL AND {_HERE}""",
            [table],
        ).fetchall()
    ]
    if not indexes:
        return None
    found = con.execute(
        f"SELECT sql FROM duckdb_tables() WHERE table_name = ? AND {_HERE}", [table]
    ).fetchone()
    assert found is not None  # it has indexes, so it is one of the store's tables
    rebuilt = f"{table}_rebuilt"
    con.execute(str(found[0]).replace(table, rebuilt, 1))

    def swap() -> None:
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {rebuilt} RENAME TO {table}")
        for sql in indexes:
            con.execute(sql)

    return rebuilt, swap


def _unchanged() -> None:
    """Nothing to swap: the rows were deleted in place."""


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
