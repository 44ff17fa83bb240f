"""Writing rows to a table: a few through an appender, many as one Arrow table, upserts as
lists bound to one statement; and selecting the rows of a few ids.

Real-time writes are a handful to a few dozen rows per group (its events' identifiers, their
profiles, their traits and tallies), paid on every group: DuckDB spends about 0.6 ms on any
statement, and reading an Arrow table costs about 0.7 ms more. An appender (kept per
connection and table) flushes its rows in one statement without planning an ``INSERT``: a
third less than binding each column as a list parameter and unnesting it (which costs about
4 µs a row besides), and half an Arrow table's cost for a few rows. Past a few hundred rows
the Arrow table is cheaper, its cost hardly growing with the rows. An ``ON CONFLICT`` clause
goes with lists (or the Arrow table). Every path stores the same (``tests/store/test_rows.py``).
"""

from collections.abc import Iterable, Sequence
from weakref import WeakKeyDictionary

import duckdb
import pyarrow as pa

# Up to this many rows, an appender or list parameters (measured: lists equal an Arrow table
# at about 170 rows of six columns; fewer here, as the tables written in real time have up to
# twelve).
FEW = 100


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, *, on_conflict: str = ""
) -> None:
    """``INSERT INTO table`` the rows, whose columns are the table's, in its order; then
    ``on_conflict`` (an ``ON CONFLICT`` clause; ``excluded`` is the incoming row either way)."""
    if not rows.num_rows:
        return
    if rows.num_rows <= FEW and not on_conflict:
        append_rows(con, table, zip(*(c.to_pylist() for c in rows.columns), strict=True))
    elif rows.num_rows <= FEW:
        # unnest() side by side zips the lists; a list column's items stay lists (one level).
        columns = ", ".join(f"unnest(${i + 1})" for i in range(rows.num_columns))
        con.execute(
            f"INSERT INTO {table} SELECT {columns} {on_conflict}",
            [column.to_pylist() for column in rows.columns],
        )
    elif not on_conflict:
        con.from_arrow(rows).insert_into(table)
    else:
        con.register("__kenning_rows", rows)
        try:
            con.execute(f"INSERT INTO {table} SELECT * FROM __kenning_rows {on_conflict}")
        finally:
            con.unregister("__kenning_rows")


def insert_tuples(
    con: duckdb.DuckDBPyConnection,
    table: str,
    schema: pa.Schema,
    rows: Sequence[tuple[object, ...]],
) -> None:
    """``insert_rows`` for rows already built as tuples (the table's columns, in its order,
    typed as ``schema``): a few go to the appender as they are, with no Arrow table to build
    and take apart again."""
    if len(rows) <= FEW:
        if rows:
            append_rows(con, table, rows)
        return
    columns = zip(*rows, strict=True)
    arrays = [pa.array(list(values), f.type) for values, f in zip(columns, schema, strict=True)]
    insert_rows(con, table, pa.Table.from_arrays(arrays, schema=schema))


# Appenders by connection and table: made once, flushed per write. An appender names its
# table at each flush, so it outlives the table being replaced or altered.
_APPENDERS: "WeakKeyDictionary[duckdb.DuckDBPyConnection, dict[str, duckdb.Appender]]" = (
    WeakKeyDictionary()
)


def append_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[Sequence[object]]
) -> None:
    """Insert ``rows`` (Python values, one per column of the table, in its order) in one
    flush of the connection's appender for the table. A refused flush (a key already stored)
    raises as an ``INSERT`` would, aborting the transaction, and leaves nothing buffered."""
    appenders = _APPENDERS.setdefault(con, {})
    appender = appenders.get(table)
    if appender is None:
        appender = appenders[table] = con.appender(table)
    try:
        appender.append_rows(rows)
        appender.flush()
    except BaseException:
        appender.clear()
        raise


def any_of(column: str, values: Sequence[int]) -> tuple[str, list[int]]:
    """``column IN (?, ?, ...)`` with its parameters. DuckDB finds the rows of one or a few
    ids through the index three times faster this way than with ``= ANY(?)`` and a list (a
    semi-join): it matters to a profile lookup, which reads four tables so."""
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)
