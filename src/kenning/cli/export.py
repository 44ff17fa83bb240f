"""``kenning export``: the stored events, as JSON lines or Parquet."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from kenning.cli.backend import CommandError, connect
from kenning.cli.options import DEFAULT, Db, Token, Url
from kenning.store.events import EXPORT_FORMATS

app = typer.Typer(help="Export stored data: a customer's data is never locked in.")


@app.command("events")
def events(
    since: Annotated[
        str | None, typer.Option(help="Only events from this time (ISO 8601).")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="Write here (default: standard output).")] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
) -> None:
    """Export the event log in log order, with each event's raw payload."""
    if format not in EXPORT_FORMATS:
        raise CommandError(f"--format must be one of {', '.join(EXPORT_FORMATS)}")
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise CommandError(f"--since {since!r} is not an ISO 8601 date or time") from None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    err = Console(stderr=True)
    with connect(db, url, token) as backend:
        if out is None:
            backend.export(out, start, format)
            return
        # Writing to a file can take minutes for a large log: show how far it got.
        with Progress(
            TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), console=err
        ) as bar:
            task = bar.add_task("events", total=backend.stats()["events"])
            count = backend.export(
                out, start, format, progress=lambda done: bar.update(task, completed=done)
            )
    err.print(f"exported {count:,} events to {out}")


@app.command("identities")
def identities(
    format: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Write here (default: standard output).")] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
) -> None:
    """Export the identity graph: profile_id, type, value, source, first_seen."""
    if format not in ("csv", "jsonl"):
        raise CommandError("--format must be csv or jsonl")
    with connect(db, url, token) as backend:
        backend.export_identities(out, format)
