"""``kenning traits``: computed traits: list, declare, remove, recompute from the log."""

from pathlib import Path
from typing import Annotated

import orjson
import typer
import yaml
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import CommandError, connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

app = typer.Typer(help="Computed traits: list, declare, remove, recompute from the log.")


@app.command("list")
def list_command(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """Every computed trait: its definition, where it comes from, when it was computed."""
    with connect(db, url, token) as backend:
        listed = backend.computed_traits()
    if json:
        print(orjson.dumps(listed).decode())
        return
    table = Table()
    table.add_column("name", no_wrap=True)  # the one column a reader must see whole
    for column in ("kind", "events", "value", "window", "origin", "computed at"):
        table.add_column(column)
    for d in listed:
        events = d.get("event", [])
        value = d.get("value", "")
        table.add_row(
            d["name"],
            d["kind"],
            ", ".join(events) if events else "any",
            value if isinstance(value, str) else " | ".join(value),
            d.get("window", ""),
            d["origin"],
            (d["computed_at"] or "not yet")[:16],
        )
    Console().print(table)


@app.command("declare")
def declare_command(
    file: Annotated[
        Path, typer.Argument(help="A YAML file: trait names, each with its definition.")
    ],
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
) -> None:
    """Add or replace computed traits (as the admin API does), computing each from the log."""
    try:
        specs = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise CommandError(f"{file} is not valid YAML: {error}") from None
    if not isinstance(specs, dict) or not specs:
        raise CommandError(f"{file} must map trait names to definitions")
    out = Console()
    with connect(db, url, token) as backend:
        for name, spec in specs.items():
            declared = backend.declare_trait(str(name), spec)
            out.print(f"declared {declared['name']} ({declared['kind']}), computed from the log")


@app.command("remove")
def remove_command(
    name: Annotated[str, typer.Argument(help="A trait declared through the API or CLI.")],
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
) -> None:
    """Remove a declared trait and its values."""
    with connect(db, url, token) as backend:
        backend.remove_trait(name)
    Console().print(f"removed {name}")


@app.command("recompute")
def recompute_command(
    name: Annotated[
        list[str] | None, typer.Option("--name", help="Only this trait (repeatable).")
    ] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Rebuild computed traits from the whole event log."""
    with connect(db, url, token) as backend, Console().status("recomputing from the log"):
        result = backend.recompute_traits(name or None)
    if json:
        print(orjson.dumps(result).decode())
        return
    Console().print(f"recomputed {len(result['recomputed'])} trait(s) in {result['seconds']:.1f} s")


@app.command("refresh")
def refresh_command(db: Db = DEFAULT, url: Url = None, token: Token = None) -> None:
    """Recompute the windowed traits now (a server does it on a schedule)."""
    with connect(db, url, token) as backend:
        result = backend.refresh_traits()
    Console().print(f"refreshed {len(result['recomputed'])} windowed trait(s)")
