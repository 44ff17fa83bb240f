"""``kenning stats``: what the store holds."""

import orjson
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url


def stats(db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False) -> None:
    """Counts of events, quarantined messages, sources, profiles and identifiers."""
    with connect(db, url, token) as backend:
        figures = backend.stats()
    if json:
        print(orjson.dumps(figures).decode())
        return
    table = Table("what", "count")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}")
    Console().print(table)
