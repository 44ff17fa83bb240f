"""``kenning profile``: show a person's profile, recompute profiles from the log."""

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

app = typer.Typer(help="Unified profiles: show one, recompute all from the log.")


@app.command("show")
def show_command(
    identifier: Annotated[
        str, typer.Argument(help="Any identifier, TYPE:VALUE (email:jane@example.com).")
    ],
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Print the profile holding IDENTIFIER: traits (with source and time), computed traits,
    identities, consent."""
    with connect(db, url, token) as backend:
        found = backend.profile(identifier)
    if json:
        print(orjson.dumps(found).decode())
        return
    out = Console()
    out.print(f"[bold]profile {found['profile_id']}[/bold]")
    understanding = found["understanding"]
    missing = ", ".join(m["requirement"] for m in understanding["missing"]) or "nothing"
    out.print(
        f"understanding: level {understanding['level']} ({understanding['label']}); "
        f"the next level needs {missing}",
        soft_wrap=True,
    )
    traits = Table("trait", "value", "source", "at", title="traits")
    for path, meta in found["trait_sources"].items():
        value = found["traits"]
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        traits.add_row(path, orjson.dumps(value).decode(), meta["source"], meta["at"])
    out.print(traits)
    computed = Table("computed trait", "value", title="computed traits")
    for name, value in found["computed_traits"].items():
        computed.add_row(name, orjson.dumps(value).decode())
    out.print(computed)
    identities = Table("type", "value", "first seen", title="identities")
    for held in found["identities"]:
        identities.add_row(held["type"], held["value"], held["first_seen"])
    out.print(identities)
    if found["consent"]:
        consent = Table("category", "granted", "source", "at", title="consent")
        for category, choice in found["consent"].items():
            consent.add_row(category, str(choice["granted"]), choice["source"], choice["at"])
        out.print(consent)


@app.command("recompute")
def recompute_command(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """Rebuild every profile's traits and consent from the event log."""
    with connect(db, url, token) as backend:
        result = backend.recompute_profiles()
    if json:
        print(orjson.dumps(result).decode())
        return
    Console().print(f"recomputed profiles from {result['events_stating']} events stating traits")
