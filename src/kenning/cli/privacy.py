"""``kenning privacy``: regulation requests (suppress, delete), deletion checks, access
exports, retention, and the audit log."""

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

app = typer.Typer(help="Privacy: suppress, delete, verify, export a person; retention; audit.")
Identifiers = Annotated[list[str], typer.Argument(help="TYPE:VALUE identifiers of the person.")]


def _regulate(kind: str, identifiers: list[str], db: Path, url: str | None, token: str | None,
              json: bool) -> None:  # fmt: skip
    with connect(db, url, token) as backend:
        done = backend.regulate(kind, identifiers)
    if json:
        print(orjson.dumps(done).decode())
    else:
        _print_regulation(done)
    if done["status"] not in ("finished",):
        raise typer.Exit(1)


def _print_regulation(done: dict[str, Any]) -> None:
    out = Console()
    out.print(f"[bold]{done['type']}[/bold] {done['id']}: {done['status']}")
    receipt = done.get("receipt") or {}
    for key in ("suppressed", "unsuppressed", "profiles", "rows_deleted", "files_rewritten",
                "traces_left", "seconds"):  # fmt: skip
        if key in receipt:
            out.print(f"  {key.replace('_', ' ')}: {receipt[key]}")
    rows = receipt.get("rows") or {}
    if rows:
        table = Table("table", "rows deleted")
        for name, count in rows.items():
            table.add_row(name, f"{count:,}")
        out.print(table)


@app.command("delete")
def delete(identifiers: Identifiers, suppress: Annotated[bool, typer.Option(
               "--suppress", help="Also refuse their future events (SUPPRESS_WITH_DELETE).")
           ] = False, db: Db = DEFAULT, url: Url = None, token: Token = None,
           json: Json = False) -> None:  # fmt: skip
    """Delete the person from every table and exported file; prints the receipt."""
    kind = "SUPPRESS_WITH_DELETE" if suppress else "DELETE"
    _regulate(kind, identifiers, db, url, token, json)


@app.command("suppress")
def suppress(identifiers: Identifiers, db: Db = DEFAULT, url: Url = None, token: Token = None,
             json: Json = False) -> None:  # fmt: skip
    """Refuse every future event carrying the person's identifiers (kept as salted hashes)."""
    _regulate("SUPPRESS", identifiers, db, url, token, json)


@app.command("unsuppress")
def unsuppress(identifiers: Identifiers, db: Db = DEFAULT, url: Url = None,
               token: Token = None, json: Json = False) -> None:  # fmt: skip
    """Lift the suppression of these identifiers."""
    _regulate("UNSUPPRESS", identifiers, db, url, token, json)


@app.command("regulations")
def regulations(db: Db = DEFAULT, url: Url = None, token: Token = None,
                json: Json = False) -> None:  # fmt: skip
    """The regulation requests, newest first, with their status."""
    with connect(db, url, token) as backend:
        found = backend.regulations()
    if json:
        print(orjson.dumps(found).decode())
        return
    table = Table("id", "type", "identifiers", "status", "requested", "rows deleted")
    for r in found:
        table.add_row(r["id"], r["type"], str(r["identifiers"]), r["status"], r["requested_at"],
                      str((r.get("receipt") or {}).get("rows_deleted", "")))  # fmt: skip
    Console().print(table)


@app.command("verify")
def verify(identifiers: Identifiers, db: Db = DEFAULT, url: Url = None, token: Token = None,
           json: Json = False) -> None:  # fmt: skip
    """Search every table and exported file for the identifiers; exit 1 if any trace is left."""
    with connect(db, url, token) as backend:
        found = backend.verify(identifiers)
    if json:
        print(orjson.dumps(found).decode())
    elif found["clean"]:
        Console().print("no trace: no table or exported file holds these identifiers")
    else:
        table = Table("where", "rows", title="traces left")
        for trace in found["traces"]:
            table.add_row(trace["where"], f"{trace['rows']:,}")
        Console().print(table)
    if not found["clean"]:
        raise typer.Exit(1)


@app.command("export")
def export(identifier: Annotated[str, typer.Argument(help="TYPE:VALUE of the person.")],
           out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")]
           = None, db: Db = DEFAULT, url: Url = None, token: Token = None) -> None:  # fmt: skip
    """Everything Kenning holds about a person, as one JSON document (an access request)."""
    with connect(db, url, token) as backend:
        document = backend.access_export(identifier)
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    if out is None:
        print(text.decode())
    else:
        out.write_bytes(text)
        Console(stderr=True).print(f"wrote {out} ({len(document['events'])} events)")


@app.command("retention")
def retention(db: Db = DEFAULT, url: Url = None, token: Token = None,
              json: Json = False) -> None:  # fmt: skip
    """Delete the events older than their source keeps them, and rebuild what they fed."""
    with connect(db, url, token) as backend:
        done = backend.retention()
    if json:
        print(orjson.dumps(done).decode())
    else:
        Console().print(f"deleted {done['events_deleted']:,} expired event(s) and "
                        f"{done['quarantine_deleted']:,} quarantined message(s)")  # fmt: skip


@app.command("audit")
def audit(action: Annotated[str | None, typer.Option(help="Only actions starting so.")] = None,
          limit: Annotated[int, typer.Option(min=1, max=1000)] = 50, db: Db = DEFAULT,
          url: Url = None, token: Token = None, json: Json = False) -> None:  # fmt: skip
    """The audit log, newest first: who did what, to what, when."""
    with connect(db, url, token) as backend:
        entries = backend.audit_log(action, limit)
    if json:
        print(orjson.dumps(entries).decode())
        return
    table = Table("at", "actor", "action", "target", "status")
    for e in entries:
        table.add_row(e["at"], e["actor"], e["action"], e["target"] or "", str(e["status"] or ""))
    Console().print(table)
