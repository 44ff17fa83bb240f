"""Files Kenning exported (file destinations' snapshots and deltas): found, read as text,
and rewritten without a person's rows when the person is deleted.

Each file is rewritten as the destination writes one: under a hidden temporary name in its
folder, then renamed into place, so a reader never sees half a file.
"""

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True, slots=True)
class Rewritten:
    files: int
    rows: int


def exported_files(folders: Sequence[Path]) -> Iterator[Path]:
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.suffix in _SUFFIXES and path.is_file() and not path.name.startswith("."):
                    yield path


def file_text(path: Path) -> str:
    """A file's contents as text: a CSV as it is, a Parquet file's rows as CSV."""
    if path.suffix == ".parquet":
        return _csv_of(pq.read_table(path))
    return path.read_text(errors="replace")


def rewrite_exports(
    folders: Sequence[Path], profile_ids: Sequence[int], needles: Sequence[str]
) -> Rewritten:
    """Rewrite every exported file holding a row of ``profile_ids`` or any needle, without
    those rows; returns how many files and rows."""
    files = rows = 0
    ids = {str(p) for p in profile_ids}
    lowered = [n.lower() for n in needles]
    for path in list(exported_files(folders)):
        if path.suffix == ".parquet":
            dropped = _rewrite_parquet(path, ids, lowered)
        else:
            dropped = _rewrite_csv(path, ids, lowered)
        if dropped:
            files += 1
            rows += dropped
    return Rewritten(files, rows)


def _names_them(
    cells: Sequence[str], id_cell: str | None, ids: set[str], needles: list[str]
) -> bool:
    if id_cell is not None and id_cell in ids:
        return True
    text = "\x1f".join(cells).lower()
    return any(n in text for n in needles)


def _rewrite_csv(path: Path, ids: set[str], needles: list[str]) -> int:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return 0
        body = list(reader)
    at = header.index("profile_id") if "profile_id" in header else None
    kept = [r for r in body if not _names_them(r, r[at] if at is not None else None, ids, needles)]
    if len(kept) == len(body):
        return 0
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(kept)
    _replace(path, buffer.getvalue().encode())
    return len(body) - len(kept)


def _rewrite_parquet(path: Path, ids: set[str], needles: list[str]) -> int:
    table = pq.read_table(path)
    lines = _csv_of(table).splitlines()[1:]
    id_column = (
        [str(v) for v in table.column("profile_id").to_pylist()]
        if "profile_id" in table.column_names
        else [None] * table.num_rows
    )
    keep = [not _names_them([line], id_column[i], ids, needles) for i, line in enumerate(lines)]
    dropped = keep.count(False)
    if not dropped:
        return 0
    sink = pa.BufferOutputStream()
    pq.write_table(table.filter(pc.invert(pa.array([not k for k in keep]))), sink)
    _replace(path, sink.getvalue().to_pybytes())
    return dropped


def _csv_of(table: pa.Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else str(v) for v in row.values()])
    return buffer.getvalue()


def _replace(path: Path, content: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_folders(destinations: Iterable[Any], db_path: Path) -> list[Path]:
    """The folders the store's file destinations write to (a relative one lives beside the
    store's file)."""
    from kenning.activation.destinations.files import resolve_folder

    folders = []
    for destination in destinations:
        if destination.kind == "file" and isinstance(destination.config.get("folder"), str):
            try:
                folders.append(
                    resolve_folder(destination.config["folder"], db_path.resolve().parent)
                )
            except ValueError:  # a folder refused when declared: it holds nothing of ours
                continue
    return folders
