"""``kenning journey`` (a person's timeline) and ``kenning paths`` (the most frequent paths to
a goal): tables by default, ``--json`` for the API's answer, ``--csv`` for rows."""

import csv
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

Csv = Annotated[bool, typer.Option("--csv", help="Print CSV rows instead of a table.")]
Since = Annotated[
    str | None, typer.Option(help="Goals from this time on (ISO 8601, e.g. 2026-03-01).")
]
Until = Annotated[str | None, typer.Option(help="Goals before this time (ISO 8601).")]


def journey_command(
    identifier: Annotated[str, typer.Argument(help="Any identifier: user_id:u1, email:a@b.c.")],
    limit: Annotated[int, typer.Option(help="The newest events to show.")] = 1_000,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """A person's journey: every event across devices and channels, oldest first."""
    with connect(db, url, token) as backend:
        found = backend.journey(identifier, limit)
    if json:
        print(orjson.dumps(found).decode())
        return
    summary = found["summary"]
    table = Table(title=f"profile {found['profile_id']}: {summary['events']} events, "
                  f"{summary['touches']} touches")  # fmt: skip
    for column in ("time", "type", "event", "channel", "campaign", "device", "touch"):
        table.add_column(column)
    for e in found["events"]:
        cells = (e["timestamp"][:19], e["type"], e["event"], e["channel"], e["campaign"],
                 e["device"], "•" if e["touch"] else "")  # fmt: skip
        table.add_row(*(c or "" for c in cells))
    Console().print(table)
    Console().print(f"channels: {' → '.join(summary['channels']) or 'none'}; "
                    f"devices: {', '.join(summary['devices']) or 'none'}")  # fmt: skip


def paths_command(
    goal: Annotated[str, typer.Option(help="The goal event, e.g. 'Order Completed'.")],
    lookback: Annotated[str, typer.Option(help="Touches this long before a goal: 30d, 12h.")] = (
        "30d"
    ),
    label: Annotated[str, typer.Option(help="Steps by channel, event or campaign.")] = "channel",
    start: Annotated[
        str | None, typer.Option(help="Only paths through this step, from it on.")
    ] = None,
    steps: Annotated[int, typer.Option(help="Steps kept per path.")] = 5,
    keep_repeats: Annotated[
        bool, typer.Option(help="Keep a step repeated in a row (folded by default).")
    ] = False,
    top: Annotated[int, typer.Option(help="How many paths.")] = 20,
    since: Since = None,
    until: Until = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
    csv_rows: Csv = False,
) -> None:
    """The most frequent paths to a goal (and, with --json, their Sankey graph)."""
    question: dict[str, Any] = {
        "goal": goal,
        "lookback": lookback,
        "label": label,
        "steps": steps,
        "fold_repeats": not keep_repeats,
        "top": top,
    }
    question.update({k: v for k, v in (("start", start), ("since", since), ("until", until)) if v})
    with connect(db, url, token) as backend:
        found = backend.ask("paths", question)
    if json:
        print(orjson.dumps(found).decode())
        return
    if csv_rows:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("path", "people", "conversions"))
        for p in found["paths"]:
            writer.writerow((" > ".join(p["path"]), p["people"], p["conversions"]))
        return
    table = Table(title=f"paths to {goal} (lookback {lookback})")
    table.add_column("path")
    table.add_column("people", justify="right")
    table.add_column("conversions", justify="right")
    for p in found["paths"]:
        table.add_row(" → ".join(p["path"]), f"{p['people']:,}", f"{p['conversions']:,}")
    Console().print(table)
