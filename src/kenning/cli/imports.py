"""``kenning import``: load a CSV, JSON-lines or Parquet file of events, customers or orders."""

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from kenning.cli.backend import CommandError, connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url
from kenning.ingest.files import detect_format, file_size
from kenning.ingest.importer import import_file
from kenning.ingest.mapping import KINDS, Kind, Mapping


def import_command(
    file: Annotated[Path, typer.Argument(help="A .csv, .jsonl or .parquet file.")],
    source: Annotated[str, typer.Option(help="The source the rows come from.")],
    kind: Annotated[str, typer.Option(help="events, customers or orders.")] = "events",
    mapping: Annotated[Path | None, typer.Option(help="A mapping file (YAML or JSON).")] = None,
    id_column: Annotated[
        str | None,
        typer.Option(help="The column holding each record's id (identifier type <source>_id)."),
    ] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Import a file, streamed, with a progress bar. Importing the same file twice stores
    nothing new."""
    if kind not in KINDS:
        raise CommandError(f"--kind must be one of {', '.join(KINDS)}")
    if not file.is_file():
        raise CommandError(f"{file} does not exist")
    detect_format(file)
    loaded = Mapping.load(mapping) if mapping else None
    err = Console(stderr=True)
    with connect(db, url, token) as backend:
        if backend.ensure_source(source):
            err.print(f"created source {source!r}")
        with Progress(
            TextColumn("importing {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=json,
        ) as bar:
            task = bar.add_task(file.name, total=file_size(file))
            summary = import_file(
                file,
                kind=_kind(kind),
                source=source,
                sink=lambda m: backend.import_chunk(source, m),
                mapping=loaded,
                id_column=id_column,
                progress=lambda done: bar.update(task, completed=done),
            )
            bar.update(task, completed=file_size(file))
    figures = {
        "rows": summary.rows,
        "stored": summary.stored,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected,
    }
    if json:
        print(orjson.dumps(figures).decode())
    else:
        err.print(
            f"{summary.rows:,} rows: {summary.stored:,} stored, "
            f"{summary.duplicates:,} already stored, {summary.rejected:,} quarantined"
        )


def _kind(kind: str) -> Kind:
    assert kind in KINDS
    return kind  # type: ignore[return-value]
