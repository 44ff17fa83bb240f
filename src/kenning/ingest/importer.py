"""Importing a file: read rows, map them to messages, send them in chunks to a sink.

The sink is the store (no server running) or a server's import endpoint; either way the rows go
through the same validation, dedup and quarantine as collected events.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kenning.ingest.files import read_rows
from kenning.ingest.mapping import Kind, Mapping, row_to_message


@dataclass(frozen=True, slots=True)
class ChunkResult:
    accepted: int
    stored: int
    duplicates: int
    rejected: int


@dataclass(slots=True)
class ImportSummary:
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


Sink = Callable[[list[dict[str, Any]]], ChunkResult]


def import_file(
    path: Path,
    *,
    kind: Kind,
    source: str,
    sink: Sink,
    mapping: Mapping | None = None,
    id_column: str | None = None,
    chunk_size: int = 1_000,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Stream ``path`` into ``sink``; returns counts. Idempotent: row-derived messageIds."""
    summary = ImportSummary()
    resolved: Mapping | None = None
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        result = sink(chunk)
        summary.stored += result.stored
        summary.duplicates += result.duplicates
        summary.rejected += result.rejected
        chunk.clear()

    for row in read_rows(path, progress=progress):
        if resolved is None:
            resolved = (mapping or Mapping()).resolve_defaults(list(row))
            if id_column is not None and id_column not in row:
                raise ValueError(f"--id-column {id_column!r} is not a column of {path.name}")
        chunk.append(
            row_to_message(row, mapping=resolved, kind=kind, source=source, id_column=id_column)
        )
        summary.rows += 1
        if len(chunk) >= chunk_size:
            flush()
    if chunk:
        flush()
    return summary
