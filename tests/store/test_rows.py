"""``insert_rows`` writes a few rows as lists bound to one statement and many as an Arrow
table: both must store the same values, of every type the store's tables hold, with or
without an ``ON CONFLICT`` clause."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from kenning.store import rows

_TIMESTAMP = pa.timestamp("us", tz="UTC")
ROWS = pa.table(
    {
        "id": pa.array([1, 2, 3, 2**62], pa.int64()),
        "name": pa.array(["a", None, "ü'; DROP TABLE t; --", ""], pa.string()),
        "seen_at": pa.array(
            [datetime(2026, 1, 1, 12, 30, 0, 123456, tzinfo=UTC), None, None,
             datetime(1999, 12, 31, tzinfo=UTC)], _TIMESTAMP),
        "score": pa.array([None, 1.5, 2.0, -0.1], pa.float64()),
        "tags": pa.array([["x", "y"], [], None, ["z"]], pa.list_(pa.string())),
        "live": pa.array([True, None, False, True], pa.bool_()),
    }
)  # fmt: skip
_TABLE = """CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, seen_at TIMESTAMPTZ, score DOUBLE,
                            tags VARCHAR[], live BOOLEAN)"""


def _stored(path: Path, few: int, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    monkeypatch.setattr(rows, "FEW", few)
    con = duckdb.connect(str(path))
    con.execute(_TABLE)
    rows.insert_rows(con, "t", ROWS)
    # A second write of changed rows, one new: the clause sees the incoming row as excluded.
    changed = ROWS.slice(1, 2).set_column(1, "name", pa.array(["b", "c"], pa.string()))
    again = pa.concat_tables([changed, ROWS.slice(0, 1).set_column(0, "id", pa.array([9]))])
    rows.insert_rows(
        con, "t", again, on_conflict="ON CONFLICT (id) DO UPDATE SET name = excluded.name"
    )
    rows.insert_rows(con, "t", ROWS.slice(0, 0))  # nothing to write
    stored = con.execute("FROM t ORDER BY id").fetchall()
    con.close()
    return stored


def test_lists_and_arrow_store_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    few = _stored(tmp_path / "few.duckdb", 100, monkeypatch)
    many = _stored(tmp_path / "many.duckdb", 0, monkeypatch)
    assert few == many
    assert [r[0] for r in few] == [1, 2, 3, 9, 2**62]
    assert [r[1] for r in few] == ["a", "b", "c", "a", ""]
    assert few[0][2] == datetime(2026, 1, 1, 12, 30, 0, 123456, tzinfo=UTC)
    assert few[0][4] == ["x", "y"] and few[1][4] == [] and few[2][4] is None
    assert [r[5] for r in few] == [True, None, False, True, True]


def test_tuples_store_as_tables_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``insert_tuples`` (the appender for a few, an Arrow table for many) stores what
    ``insert_rows`` stores from the same rows as a table."""
    tuples = list(zip(*(column.to_pylist() for column in ROWS.columns), strict=True))
    stored = []
    for few in (100, 0):
        monkeypatch.setattr(rows, "FEW", few)
        con = duckdb.connect(str(tmp_path / f"tuples-{few}.duckdb"))
        con.execute(_TABLE)
        rows.insert_tuples(con, "t", ROWS.schema, tuples)
        rows.insert_tuples(con, "t", ROWS.schema, [])
        stored.append(con.execute("FROM t ORDER BY id").fetchall())
        con.close()
    con = duckdb.connect(str(tmp_path / "table.duckdb"))
    con.execute(_TABLE)
    rows.insert_rows(con, "t", ROWS)
    assert stored[0] == stored[1] == con.execute("FROM t ORDER BY id").fetchall()
    assert len(stored[0]) == ROWS.num_rows
