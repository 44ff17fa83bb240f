"""``kenning spend``: marketing spend per day, channel and campaign, for return on spend."""

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from kenning.cli.backend import CommandError, connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

spend = typer.Typer(help="Marketing spend: import a CSV of date, channel, campaign, spend.")


@spend.command("import")
def import_spend_command(
    file: Annotated[Path, typer.Argument(help="CSV: date,channel,campaign,spend[,currency].")],
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Store the spend in FILE (checked whole first; rows already held are replaced)."""
    try:
        text = file.read_text()
    except OSError as error:
        raise CommandError(f"cannot read {file}: {error.strerror}") from None
    with connect(db, url, token) as backend:
        stored = backend.import_spend(text)
    if json:
        print(orjson.dumps(stored).decode())
        return
    Console().print(
        f"stored {stored['rows']:,} rows, {stored['spend']:,.2f} spent from "
        f"{stored['first_day']} to {stored['last_day']} on {', '.join(stored['channels'])}"
    )
