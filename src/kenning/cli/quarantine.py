"""``kenning quarantine``: list quarantined messages and replay them once the cause is fixed."""

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

app = typer.Typer(help="List and replay quarantined messages.")


@app.command("list")
def list_(
    status: Annotated[str, typer.Option(help="pending, replayed or all.")] = "pending",
    code: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """List quarantined messages with their reason."""
    with connect(db, url, token) as backend:
        items = backend.quarantine(status, code, limit)
    if json:
        print(orjson.dumps(items).decode())
        return
    table = Table("id", "received", "code", "field", "message", "status")
    for item in items:
        table.add_row(
            str(item["id"]),
            str(item["received_at"])[:19],
            item["code"],
            item["field"] or "",
            item["message"],
            item["status"],
        )
    Console().print(table)


@app.command("replay")
def replay(
    ids: Annotated[list[int] | None, typer.Option("--id", help="Only these ids.")] = None,
    code: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Validate pending messages again and store the ones that now pass."""
    with connect(db, url, token) as backend:
        result = backend.replay(ids or None, code)
    if json:
        print(orjson.dumps(result).decode())
    else:
        Console().print(
            f"replayed {result['replayed']} ({result['duplicates']} already stored), "
            f"{result['still_invalid']} still invalid"
        )
