"""Writing rows to a table: a few as lists bound to one statement, many as one Arrow table; and
selecting the rows of a few ids.

Real-time writes are a handful to a few dozen rows per group (its events' identifiers, their
profiles, their traits and tallies), paid on every group: DuckDB spends about 0.6 ms on any
statement, and reading an Arrow table costs about 0.7 ms more, while binding each column as
one list parameter and unnesting it costs about 4 µs a row. So a few rows go as lists, and
many as an Arrow table, whose cost hardly grows with the rows. Both paths store the same
(``tests/store/test_rows.py``).
"""

from collections.abc import Sequence

import duckdb
import pyarrow as pa

# Up to this many rows, list parameters (measured: equal to an Arrow table at about 170 rows
# of six columns; fewer here, as the tables written in real time have up to twelve).
FEW = 100


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, *, on_conflict: str = ""
) -> None:
    """``INSERT INTO table`` the rows, whose columns are the table's, in its order; then
    ``on_conflict`` (an ``ON CONFLICT`` clause; ``excluded`` is the incoming row either way)."""
    if not rows.num_rows:
        return
    if rows.num_rows <= FEW:
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


def any_of(column: str, values: Sequence[int]) -> tuple[str, list[int]]:
    """``column IN (?, ?, ...)`` with its parameters. DuckDB finds the rows of one or a few
    ids through the index three times faster this way than with ``= ANY(?)`` and a list (a
    semi-join): it matters to a profile lookup, which reads four tables so."""
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)
