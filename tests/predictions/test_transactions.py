"""Transactions read from CSV and Parquet files, and bad rows refused with where they are."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kenning.errors import FieldError
from kenning.predictions.transactions import read_transactions
from tests.predictions.cdnow import transactions

COLUMNS = {"customer_column": "customer", "date_column": "day", "amount_column": "total"}
JAN_2_US = 1_704_153_600_000_000  # 2024-01-02T00:00:00Z


def write(tmp_path: Path, text: str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_cdnow_file_is_read_whole() -> None:
    sample = transactions()
    assert sample.count == 6919 and len(sample.names) == 2357
    assert sample.names[int(sample.customer[0])] == "0001"
    assert sample.amount[:2].tolist() == [29.33, 29.73]
    assert sample.amount.sum() == pytest.approx(244_091.94, abs=0.01)  # awk sums the file alike


def test_dates_in_iso_forms_and_offsets_are_utc_instants(tmp_path: Path) -> None:
    path = write(tmp_path, "customer;day;total\n"
                           "a;2024-01-02;10\n"
                           "b;2024-01-02T01:30:00;5.5\n"
                           "a;2024-01-02T03:00:00+02:00;1\n"
                           "c;2024-01-02 00:00:00Z;-2\n")  # fmt: skip
    read = read_transactions(path, **COLUMNS)
    hour = 3_600_000_000
    assert read.time_us.tolist() == [JAN_2_US, JAN_2_US + 1.5 * hour, JAN_2_US + hour, JAN_2_US]
    assert read.amount.tolist() == [10.0, 5.5, 1.0, -2.0]
    assert [read.names[c] for c in read.customer] == ["a", "b", "a", "c"]


def test_a_date_format_reads_compact_dates(tmp_path: Path) -> None:
    path = write(tmp_path, "customer,day,total\na,20240102,3\n")
    read = read_transactions(path, **COLUMNS, date_format="%Y%m%d")
    assert read.time_us.tolist() == [JAN_2_US]
    with pytest.raises(FieldError) as error:
        read_transactions(write(tmp_path, "customer,day,total\na,20240102,3\nb,2024-13-01,1\n"),
                          **COLUMNS, date_format="%Y%m%d")  # fmt: skip
    assert error.value.field == "orders.csv:3.day" and "%Y%m%d" in error.value.message


def test_parquet_keeps_its_types(tmp_path: Path) -> None:
    table = pa.table({
        "customer": pa.array([7, 8], pa.int64()),
        "day": pa.array([JAN_2_US, JAN_2_US + 1], pa.timestamp("us", "UTC")),
        "total": pa.array([1.25, 2], pa.float32()),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "orders.parquet")
    read = read_transactions(tmp_path / "orders.parquet", **COLUMNS)
    assert read.time_us.tolist() == [JAN_2_US, JAN_2_US + 1]
    assert read.names == ("7", "8") and np.allclose(read.amount, [1.25, 2.0])


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("customer,day\na,2024-01-02\n", "amount_col", "no 'total' column"),
        ("customer,day,total\na,2024-01-02,1\nb,yesterday,2\n", "orders.csv:3.day", "ISO 8601"),
        ("customer,day,total\na,2024-01-02,1\nb,2024-01-02,\n", "orders.csv:3.total", "finite"),
        ("customer,day,total\na,2024-01-02,1\nb,2024-01-02,ten\n", "orders.csv:3.total",
         "finite"),
        ("customer,day,total\na,2024-01-02,nan\n", "orders.csv:2.total", "finite"),
    ],
)  # fmt: skip
def test_bad_rows_are_refused_with_where_they_are(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    with pytest.raises(FieldError, match=message) as error:
        read_transactions(write(tmp_path, text), **COLUMNS)
    assert error.value.field == field


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FieldError, match="no file") as error:
        read_transactions(tmp_path / "nope.csv", **COLUMNS)
    assert error.value.field == "transactions"
