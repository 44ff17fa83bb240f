"""``kenning audiences``: declare audiences from YAML or JSON files, preview them before saving,
list them, page their members, evaluate them now, remove them."""

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import CommandError, connect
from kenning.cli.declarations import read_declaration
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

app = typer.Typer(help="Audiences: declare, preview, list, members, evaluate, remove.")
AudienceFile = Annotated[
    Path,
    typer.Argument(
        help="A YAML or JSON file: name, description and condition (docs/audiences.md)."
    ),
]


def _read(file: Path) -> dict[str, Any]:
    return read_declaration(file, "an audience: name, description and condition")


@app.command("list")
def list_command(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """Every audience with its size."""
    with connect(db, url, token) as backend:
        listed = backend.list_audiences()
    if json:
        print(orjson.dumps(listed).decode())
        return
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("size", justify="right")
    table.add_column("description")
    table.add_column("updated")
    for a in listed:
        table.add_row(a["name"], f"{a['size']:,}", a["description"], a["updated_at"][:16])
    Console().print(table)


@app.command("preview")
def preview_command(
    file: AudienceFile,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """How many people the audience in FILE would hold now, and a sample, without saving it."""
    spec = _read(file)
    with connect(db, url, token) as backend:
        found = backend.preview_audience({k: v for k, v in spec.items() if k != "name"})
    if json:
        print(orjson.dumps(found).decode())
        return
    share = found["size"] / found["profiles"] if found["profiles"] else 0.0
    Console().print(
        f"{found['size']:,} of {found['profiles']:,} profiles ({share:.1%}); "
        f"sample: {', '.join(str(p) for p in found['sample']) or 'none'}"
    )


@app.command("declare")
def declare_command(
    file: AudienceFile, db: Db = DEFAULT, url: Url = None, token: Token = None
) -> None:
    """Add or replace the audience in FILE and evaluate it."""
    spec = _read(file)
    name = spec.get("name")
    if not isinstance(name, str):
        raise CommandError(f"{file}: the audience needs a name")
    with connect(db, url, token) as backend:
        declared = backend.declare_audience(name, spec)
    Console().print(f"declared {declared['name']}: {declared['size']:,} members")


@app.command("members")
def members_command(
    name: Annotated[str, typer.Argument(help="The audience.")],
    limit: Annotated[int, typer.Option(help="Members per page.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="The next_cursor of a page.")] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
) -> None:
    """A page of members (JSON lines), then the cursor of the next page on standard error."""
    with connect(db, url, token) as backend:
        page = backend.audience_members(name, limit, cursor)
    for member in page["members"]:
        print(orjson.dumps(member).decode())
    if page["next_cursor"]:
        Console(stderr=True).print(f"next page: --cursor {page['next_cursor']}")


@app.command("evaluate")
def evaluate_command(db: Db = DEFAULT, url: Url = None, token: Token = None) -> None:
    """Evaluate every audience for everyone now."""
    with connect(db, url, token) as backend:
        result = backend.evaluate_audiences()
    Console().print(f"{result['entered']:,} entered, {result['exited']:,} exited")


@app.command("remove")
def remove_command(
    name: Annotated[str, typer.Argument(help="The audience.")],
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
) -> None:
    """Remove an audience and its members."""
    with connect(db, url, token) as backend:
        backend.remove_audience(name)
    Console().print(f"removed {name}")
