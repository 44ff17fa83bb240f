"""Aggregated path files: the input format attribution tools share (ChannelAttribution's
``Data.csv``, exports of ad platforms' path reports).

One row per path::

    path;total_conversions;total_conversion_value;total_null
    eta > iota > alpha > eta;1;0.244;3

The caller names the columns: the path, its conversions, and optionally its non-conversions
(*nulls*) and its value. Channels in a path are separated by ``separator`` (``>`` by
default) and trimmed of spaces, so ``a > b`` and ``a>b`` are the same path. The field
delimiter is sniffed from the header (``,``, ``;``, tab or ``|``) unless given.

A file is checked whole: a missing column, an empty path or channel, a count that is not a
number or is negative is refused with a ``PathFileError`` naming the line and column
(``paths.csv:7.total_conversions``). Read with pyarrow's CSV reader (multi-threaded), paths
split and channels coded in Arrow: no Python loop per row unless the file is bad.
"""

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from kenning.attribution.journeys import MAX_CHANNELS, Floats, Paths
from kenning.errors import FieldError

DELIMITERS = (",", ";", "\t", "|")


class PathFileError(FieldError):
    """A path file refused, with ``field`` naming where: ``name:line.column``."""


def read_path_file(
    source: Path | str | bytes,
    *,
    path_column: str = "path",
    conversions_column: str = "total_conversions",
    nulls_column: str | None = None,
    value_column: str | None = None,
    separator: str = ">",
    delimiter: str | None = None,
    name: str | None = None,
) -> Paths:
    """The paths of a CSV file (a filesystem path, or its bytes as ``source``); ``name``
    is how errors call it (the file's name by default, ``paths`` for bytes).

    >>> paths = read_path_file(b"path,conversions\\nsearch > email,3\\nemail,1\\n",
    ...                        conversions_column="conversions")
    >>> paths.names, paths.path_text(0), paths.conversions.tolist()
    (('email', 'search'), 'search > email', [3.0, 1.0])
    """
    if not separator.strip():
        raise FieldError("the path separator must not be blank", "separator")
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    label = name or ("paths" if isinstance(source, bytes) else Path(source).name)
    text_delimiter = delimiter or _sniff(data)
    columns = {"path": path_column, "conversions": conversions_column}
    if nulls_column:
        columns["nulls"] = nulls_column
    if value_column:
        columns["value"] = value_column
    table = _read(data, text_delimiter, label)
    header = table.column_names
    for column in columns.values():
        if column not in header:
            raise PathFileError(
                f"the header has no {column!r} column (it has {', '.join(header)})",
                f"{label}:1",
            )
    numbers = {
        key: _numbers(table.column(column), label, column)
        for key, column in columns.items()
        if key != "path"
    }
    offsets, channels, names = _split_paths(
        table.column(path_column), separator.strip(), label, path_column
    )
    rows = table.num_rows
    return Paths(
        offsets=offsets,
        channels=channels,
        conversions=numbers["conversions"],
        nulls=numbers.get("nulls", np.zeros(rows)),
        values=numbers.get("value", np.zeros(rows)),
        names=names,
    )


def _sniff(data: bytes) -> str:
    header = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read(data: bytes, delimiter: str, label: str) -> pa.Table:
    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            # Every column as text: numbers are checked here, with the row they are on.
            convert_options=pacsv.ConvertOptions(
                column_types=_all_text(data, delimiter), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as error:
        raise PathFileError(f"not a readable CSV file: {error}", label) from None


def _all_text(data: bytes, delimiter: str) -> dict[str, Any]:
    header = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    return {column.strip('"'): pa.string() for column in header.split(delimiter)}


def _numbers(column: pa.ChunkedArray, label: str, name: str) -> Floats:
    text = pc.utf8_trim_whitespace(column.combine_chunks())
    try:
        numbers: Floats = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        numbers = np.full(len(text), np.nan)
        for row, value in enumerate(text.to_pylist()):
            try:
                numbers[row] = float(value)
            except (TypeError, ValueError):
                raise PathFileError(
                    f"{value!r} is not a number", f"{label}:{row + 2}.{name}"
                ) from None
    bad = np.flatnonzero(~np.isfinite(numbers) | (numbers < 0))
    if len(bad):
        row = int(bad[0])
        raise PathFileError(
            f"{text[row].as_py()!r} is not a count or amount (a finite number, at least 0)",
            f"{label}:{row + 2}.{name}",
        )
    return numbers.astype(np.float64)


def _split_paths(
    column: pa.ChunkedArray, separator: str, label: str, name: str
) -> tuple[
    np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int16]], tuple[str, ...]
]:
    lists = pc.split_pattern(column.combine_chunks(), separator)
    touches = pc.utf8_trim_whitespace(lists.flatten())
    owner = pc.list_parent_indices(lists).to_numpy()
    empty = np.flatnonzero(pc.equal(pc.utf8_length(touches), 0).to_numpy(zero_copy_only=False))
    if len(empty):
        row = int(owner[empty[0]])
        path = column[row].as_py()
        problem = "the path is empty" if not path.strip() else f"{path!r} has an empty channel"
        raise PathFileError(problem, f"{label}:{row + 2}.{name}")
    encoded = touches.dictionary_encode()
    dictionary = encoded.dictionary.to_pylist()
    if len(dictionary) > MAX_CHANNELS:
        raise PathFileError(
            f"{len(dictionary):,} distinct channels, more than the {MAX_CHANNELS:,} a path "
            "file may name",
            f"{label}:{name}",
        )
    order = np.argsort(np.array(dictionary, dtype=object)) if dictionary else np.zeros(0, int)
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[order] = np.arange(len(dictionary))
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)].astype(np.int16)
    offsets = lists.offsets.to_numpy().astype(np.int64)
    names = tuple(str(dictionary[i]) for i in order)
    return offsets, codes, names
