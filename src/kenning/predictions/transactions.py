"""Transactions to fit the customer-base models on: from a file a brand exports (CSV or
Parquet: a customer, a date and an amount per row) or from the event log (each person's
orders, ``Order Completed`` by default, valued as attribution values conversions).

Read with pyarrow, parsed column by column; a row that cannot be read is refused with a
``FieldError`` naming the file, the line and the column (``orders.csv:7.amount``).
"""

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kenning.errors import FieldError
from kenning.predictions.histories import Floats, Ints


@dataclass(frozen=True)
class Transactions:
    customer: Ints  # codes into ``names``
    time_us: Ints  # microseconds since the epoch, UTC
    amount: Floats
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.customer)


def read_transactions(
    path: Path,
    *,
    customer_column: str,
    date_column: str,
    amount_column: str,
    date_format: str | None = None,
) -> Transactions:
    """The transactions in a CSV or Parquet file (by its suffix). Dates are ISO 8601 (a
    date, or a time with or without an offset; no offset is UTC) unless ``date_format``
    gives a ``strptime`` pattern such as ``%Y%m%d``."""
    label = path.name
    table = _read(path, label)
    for option, column in (("customer_col", customer_column), ("date_col", date_column),
                           ("amount_col", amount_column)):  # fmt: skip
        if column not in table.column_names:
            raise FieldError(
                f"the file has no {column!r} column (it has {', '.join(table.column_names)})",
                option,
            )
    customers = pc.cast(table.column(customer_column).combine_chunks(), pa.string())
    missing = pc.is_null(customers).to_numpy(zero_copy_only=False)
    if missing.any():
        raise FieldError("no customer on this row", _where(label, path, missing, customer_column))
    encoded = customers.dictionary_encode()
    dates = table.column(date_column).combine_chunks()
    return Transactions(
        customer=encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        time_us=_times(dates, date_format, label, path, date_column),
        amount=_amounts(table.column(amount_column).combine_chunks(), label, path, amount_column),
        names=tuple(str(n) for n in encoded.dictionary.to_pylist()),
    )


def _read(path: Path, label: str) -> pa.Table:
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pq.read_table(path)
        data = path.read_bytes()
        header = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
        delimiter = max(",;\t|", key=header.count)
        names = [c.strip('"') for c in header.split(delimiter)]
        return pacsv.read_csv(
            io.BytesIO(data),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            # every column as text: numbers and dates are parsed here, with the line they are on
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
    except FileNotFoundError:
        raise FieldError(f"no file at {path}", "transactions") from None
    except (pa.ArrowInvalid, OSError) as error:
        raise FieldError(f"not a readable CSV or Parquet file: {error}", label) from None


def _times(column: pa.Array, date_format: str | None, label: str, path: Path, name: str) -> Ints:
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        zone = column.type.tz if pa.types.is_timestamp(column.type) else None
        stamps = pc.cast(column, pa.timestamp("us", zone))
    else:
        text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
        stamps = _parse_dates(text, date_format, label, path, name)
    missing = pc.is_null(stamps).to_numpy(zero_copy_only=False)
    if missing.any():
        raise FieldError("no date on this row", _where(label, path, missing, name))
    times: Ints = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)
    return times


def _parse_dates(
    text: pa.Array, date_format: str | None, label: str, path: Path, name: str
) -> pa.Array:
    if date_format:
        try:
            return pc.strptime(text, format=date_format, unit="us")
        except pa.ArrowInvalid:
            return _row_by_row(text, lambda v: datetime.strptime(v, date_format), label, path,
                               name, f"a date in the format {date_format}")  # fmt: skip
    for target in (pa.timestamp("us"), pa.timestamp("us", "UTC")):
        try:
            return pc.cast(text, target).cast(pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return _row_by_row(text, datetime.fromisoformat, label, path, name, "an ISO 8601 date")


def _row_by_row(
    text: pa.Array, parse: Any, label: str, path: Path, name: str, expected: str
) -> pa.Array:
    """Mixed forms (dates with and without offsets), or the first bad row found."""
    values: list[int | None] = []
    for row, value in enumerate(text.to_pylist()):
        try:
            moment = parse(value)
        except (TypeError, ValueError):
            raise FieldError(
                f"{value!r} is not {expected}", f"{label}:{_line(path, row)}.{name}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        values.append(int(moment.timestamp() * 1_000_000))
    return pa.array(values, pa.int64()).cast(pa.timestamp("us"))


def _amounts(column: pa.Array, label: str, path: Path, name: str) -> Floats:
    if (
        pa.types.is_floating(column.type)
        or pa.types.is_integer(column.type)
        or (pa.types.is_decimal(column.type))
    ):
        numbers = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    else:
        text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
        try:
            numbers = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers = np.array([_number(v) for v in text.to_pylist()], dtype=np.float64)
    bad = ~np.isfinite(numbers)
    if bad.any():
        raise FieldError("the amount is not a finite number", _where(label, path, bad, name))
    amounts: Floats = numbers.astype(np.float64)
    return amounts


def _number(value: str | None) -> float:
    try:
        return float(value) if value else float("nan")
    except ValueError:
        return float("nan")


def _where(label: str, path: Path, bad: np.ndarray[Any, Any], name: str) -> str:
    return f"{label}:{_line(path, int(np.flatnonzero(bad)[0]))}.{name}"


def _line(path: Path, row: int) -> str:
    """A CSV row's line (the header is line 1); a Parquet file's row number."""
    return f"row {row + 1}" if path.suffix.lower() in {".parquet", ".pq"} else str(row + 2)
