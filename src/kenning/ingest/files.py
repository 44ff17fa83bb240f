"""Streaming readers for imported files: CSV, JSON lines and Parquet, never whole in memory."""

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

FORMATS = ("csv", "jsonl", "parquet")


class FileFormatError(Exception):
    pass


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv"):
        return "csv"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if suffix in ("parquet", "pq"):
        return "parquet"
    raise FileFormatError(f"cannot tell the format of {path.name}: use .csv, .jsonl or .parquet")


def file_size(path: Path) -> int:
    return path.stat().st_size


def read_rows(
    path: Path, *, progress: Callable[[int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Rows of ``path`` as dicts; ``progress(bytes_or_rows_done)`` is called as it reads."""
    fmt = detect_format(path)
    if fmt == "parquet":
        yield from _parquet_rows(path, progress)
        return
    with path.open("rb") as raw:
        lines = _counted_lines(raw, progress)
        if fmt == "csv":
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            reader = csv.DictReader(lines, delimiter=delimiter)
            for row in reader:
                yield {k: v for k, v in row.items() if k is not None}
        else:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    raise FileFormatError(f"{path.name} line {number}: {error}") from None
                if not isinstance(row, dict):
                    raise FileFormatError(f"{path.name} line {number}: not a JSON object")
                yield row


def _counted_lines(raw: io.BufferedReader, progress: Callable[[int], None] | None) -> Iterator[str]:
    done = 0
    for line in raw:
        done += len(line)
        if progress is not None:
            progress(done)
        yield line.decode("utf-8-sig" if done == len(line) else "utf-8")


def _parquet_rows(path: Path, progress: Callable[[int], None] | None) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:
        raise FileFormatError(f"{path.name} is not a Parquet file: {error}") from None
    total_rows = parquet.metadata.num_rows or 1
    size = file_size(path)
    done = 0
    for batch in parquet.iter_batches(batch_size=10_000):
        rows: list[dict[str, Any]] = batch.to_pylist()
        yield from rows
        done += len(rows)
        if progress is not None:
            progress(int(size * done / total_rows))
