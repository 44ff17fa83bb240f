"""Options shared by the commands, so every command spells them the same way."""

from pathlib import Path
from typing import Annotated

import typer

from kenning.settings import DEFAULT_DB

Db = Annotated[Path, typer.Option("--db", envvar="KENNING_DB", help="The store file.")]
Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="KENNING_URL",
        help="A running server (default: the store file, or the server that holds it).",
    ),
]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar="KENNING_TOKEN", help="An admin bearer token for --url."),
]
Config = Annotated[
    Path | None,
    typer.Option(
        "--config", envvar="KENNING_CONFIG", help="A YAML configuration file (identity rules, ...)."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DEFAULT = DEFAULT_DB
