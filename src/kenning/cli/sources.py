"""``kenning sources``: create and list the sources events come from; their retention."""

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

app = typer.Typer(help="Create and list sources (each has its own write key).")
out = Console()


@app.command("create")
def create(
    name: str,
    rate_limit: Annotated[float | None, typer.Option(help="Events per second allowed.")] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Create a source and print its write key (shown once)."""
    with connect(db, url, token) as backend:
        created = backend.create_source(name, rate_limit)
    if json:
        print(orjson.dumps(created).decode())
    else:
        out.print(f"Source [bold]{created['name']}[/bold] ({created['id']})")
        out.print(f"Write key (shown once): [bold]{created['write_key']}[/bold]")


@app.command("list")
def list_(db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False) -> None:
    """List sources."""
    with connect(db, url, token) as backend:
        sources = backend.list_sources()
    if json:
        print(orjson.dumps(sources).decode())
        return
    table = Table("id", "name", "write key", "rate limit", "kept (days)", "created")
    for s in sources:
        table.add_row(
            s["id"],
            s["name"],
            s["write_key_prefix"] + "…",
            str(s["rate_limit"] or "-"),
            str(s.get("retention_days") or "for ever"),
            s["created_at"],
        )
    out.print(table)


@app.command("retention")
def retention(
    name: str,
    days: Annotated[int | None, typer.Argument(min=1, help="Days kept; leave out: for ever.")]
    = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
) -> None:  # fmt: skip
    """Keep the source's events DAYS days (expired ones are deleted by `kenning privacy
    retention`, or a server's schedule); without DAYS, for ever."""
    with connect(db, url, token) as backend:
        changed = backend.set_retention(name, days)
    kept = changed["retention_days"]
    out.print(f"{changed['name']}: events kept {f'{kept} days' if kept else 'for ever'}")
