"""``kenning journey`` (a person's timeline), ``kenning paths`` (the most frequent paths to
a goal) and ``kenning funnel``: tables by default, ``--json`` for the API's answer, ``--csv``
for rows."""

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import CommandError, connect
from kenning.cli.declarations import read_declaration
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


def funnel_command(
    file: Annotated[
        Path | None, typer.Argument(help="A YAML or JSON funnel definition (docs/funnels.md).")
    ] = None,
    step: Annotated[
        list[str] | None, typer.Option(help="A step's event, in order (instead of a file).")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="ordered, strict or any_order.")] = None,
    window: Annotated[str | None, typer.Option(help="The conversion window: 14d, 12h.")] = None,
    count: Annotated[str | None, typer.Option(help="unique (people) or totals.")] = None,
    breakdown: Annotated[
        str | None, typer.Option(help="A step-1 property path, or channel.")
    ] = None,
    since: Since = None,
    until: Until = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
    csv_rows: Csv = False,
) -> None:
    """A funnel's step and overall conversion, drop-off and time to convert."""
    if (file is None) == (not step):
        raise CommandError("give a funnel file or --step events (two or more), not both")
    definition: dict[str, Any] = (
        read_declaration(file, "a funnel: steps, mode, window, ...")
        if file is not None
        else {"steps": [{"event": e} for e in step or []]}
    )
    options = {"mode": mode, "window": window, "count": count, "breakdown": breakdown,
               "since": since, "until": until}  # fmt: skip
    definition.update({k: v for k, v in options.items() if v is not None})
    with connect(db, url, token) as backend:
        found = backend.ask("funnels", definition)
    if json:
        print(orjson.dumps({k: v for k, v in found.items() if k != "rows"}).decode())
        return
    if csv_rows:
        print_csv(found["rows"])
        return
    console = Console()
    console.print(found["statement"])
    for figures in [found["overall"], *found.get("groups", [])]:
        title = "everyone" if figures is found["overall"] else f"{found['breakdown']} = "
        title += "" if figures is found["overall"] else str(figures["group"])
        table = Table(title=title)
        for column in ("step", "entered", "from previous", "overall", "dropped", "median time"):
            table.add_column(column, justify="left" if column == "step" else "right")
        for s in figures["steps"]:
            time = s["time_to_convert"]
            table.add_row(
                f"{s['step']}. {s['name']}",
                f"{s['entered']:,}",
                _share(s["from_previous"]),
                _share(s["from_first"]),
                f"{s['dropped']:,}",
                _duration(time["median"]) if time else "",
            )
        console.print(table)


def goals_command(
    file: Annotated[
        Path, typer.Argument(help="A YAML or JSON mapping of touchpoint names to goals.")
    ],
    since: Annotated[str | None, typer.Option(help="Touches from this time on.")] = None,
    until: Annotated[str | None, typer.Option(help="Touches before this time.")] = None,
    confidence: Annotated[float, typer.Option(help="Of the Wilson interval.")] = 0.95,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
    csv_rows: Csv = False,
) -> None:
    """Each touchpoint's conversion rate against its benchmark; which fall short."""
    declared = read_declaration(file, "goals: a mapping of touchpoint names to goals")
    question: dict[str, Any] = {"goals": declared.get("goals", declared),
                                "confidence": confidence}  # fmt: skip
    question.update({k: v for k, v in (("since", since), ("until", until)) if v})
    with connect(db, url, token) as backend:
        found = backend.ask("goals", question)
    if json:
        print(orjson.dumps({k: v for k, v in found.items() if k != "rows"}).decode())
        return
    if csv_rows:
        print_csv(found["rows"])
        return
    table = Table(title=f"touchpoint goals ({found['interval']} interval)")
    for column in ("touchpoint", "touched", "converted", "rate", "benchmark", "standing"):
        table.add_column(
            column, justify="left" if column in ("touchpoint", "standing") else "right"
        )
    for g in found["goals"]:
        standing = g["standing"] if g["standing"] != "short" else "[red]short[/red]"
        table.add_row(g["name"], f"{g['touched']:,}", f"{g['converted']:,}", _share(g["rate"]),
                      _share(g["benchmark"]), standing)  # fmt: skip
    Console().print(table)


def print_csv(rows: list[dict[str, Any]]) -> None:
    """Rows of one shape as CSV with a header on standard output (nothing for no rows)."""
    if not rows:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
