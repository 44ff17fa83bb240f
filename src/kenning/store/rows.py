"""Writing rows to a table: a few as statement parameters, many as one Arrow table; and
selecting the rows of a few ids.

Real-time writes are a handful of rows per request (one event's identifiers, its link, its
merge, its traits): a statement with parameters costs about 0.7 ms, an Arrow table about 1.0 ms
(1.4 ms registered and selected from, which an ``ON CONFLICT`` clause needs), paid on every
such request. Many rows go as an Arrow table, which does not grow the statement per row. Both
paths store the same (tested).
"""

from collections.abc import Sequence

import duckdb
import pyarrow as pa

# Up to this many rows, parameters.
FEW = 8


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, *, on_conflict: str = ""
) -> None:
    """``INSERT INTO table`` the rows, whose columns are the table's, in its order; then
    ``on_conflict`` (an ``ON CONFLICT`` clause; ``excluded`` is the incoming row either way)."""
    if not rows.num_rows:
        return
    if rows.num_rows <= FEW:
        one = "(" + ", ".join(["?"] * rows.num_columns) + ")"
        con.execute(
            f"INSERT INTO {table} VALUES {', '.join([one] * rows.num_rows)} {on_conflict}",
            [value for row in rows.to_pylist() for value in row.values()],
        )
    elif not on_conflict:
        con.from_arrow(rows).insert_into(table)
    else:
        con.register("__kenning_rows", rows)
        try:
            con.execute(f"INSERT INTO {table} SELECT * FROM __kenning_rows {on_conflict}")
        finally:
            con.unregister("__kenning_rows")


def any_of(column: str, values: Sequence[int]) -> tuple[str, list[int]]:
    """``column IN (?, ?, ...)`` with its parameters. DuckDB finds the rows of one or a few
    ids through the index three times faster this way than with ``= ANY(?)`` and a list (a
    semi-join): it matters to a profile lookup, which reads four tables so."""
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)
