"""``kenning identity``: explain why two identifiers are one person, rebuild the graph."""

from typing import Annotated

import orjson
import typer
from rich.console import Console

from kenning.cli.backend import connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

app = typer.Typer(help="Identity resolution: explain joins, rebuild the graph from the log.")


@app.command("explain")
def explain_command(
    a: Annotated[str, typer.Argument(help="An identifier, TYPE:VALUE (email:jane@example.com).")],
    b: Annotated[str, typer.Argument(help="Another identifier, TYPE:VALUE.")],
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Show the chain of merges that joins two identifiers, or that they are not joined."""
    with connect(db, url, token) as backend:
        result = backend.explain(a, b)
    if json:
        print(orjson.dumps(result).decode())
        return
    out = Console()
    if not result["joined"]:
        out.print(
            f"{a} and {b} are [bold]not joined[/bold] "
            f"(profiles {result['profile_a']} and {result['profile_b']})"
        )
        return
    out.print(f"{a} and {b} are one profile: [bold]{result['profile_a']}[/bold]")
    for step in result["steps"]:
        detail = step["detail"]
        where = f"event {step['message_id']} from {step['source']} at {step['timestamp']}"
        if step["kind"] == "attached":
            out.print(
                f"  {detail['identifier']} attached to profile {detail['profile']} by {where}"
            )
        else:
            out.print(
                f"  profile {detail['merged']} merged into {detail['kept']} "
                f"({detail['rule']}: {', '.join(detail['identifiers'])}) by {where}"
            )


@app.command("rebuild")
def rebuild_command(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """Rebuild the identity graph from the event log."""
    with connect(db, url, token) as backend:
        result = backend.rebuild_identity()
    if json:
        print(orjson.dumps(result).decode())
    else:
        Console().print(
            f"replayed {result['events']:,} events: {result['profiles']:,} profiles, "
            f"{result['identifiers']:,} identifiers"
        )
