"""``kenning attribution``: conversions credited to channels by each model, with return on
spend; ``attribution paths FILE``: an aggregated path file; ``attribution acquisition``: the
channels that bring first-time buyers and new members; ``kenning spend``: marketing spend."""

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.attribution.analysis import attribute_path_file, credit_rows
from kenning.cli.backend import CommandError, connect
from kenning.cli.journeys import Csv, Since, Until, print_csv
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

attribution = typer.Typer(
    help="Attribution: credit conversions to channels; path files; acquisition.",
    invoke_without_command=True,
)
Models = Annotated[
    str | None,
    typer.Option(help="Models, comma-separated (default: every one): first_touch, last_touch, "
                 "last_non_direct, linear, time_decay, position_based, markov, shapley."),
]  # fmt: skip
MarkovOrder = Annotated[int, typer.Option(help="The Markov chain's order, 1 to 4.")]
Lookback = Annotated[str, typer.Option(help="Touches this long before a conversion: 30d.")]
By = Annotated[str, typer.Option(help="Credit channels, or campaigns.")]


@attribution.callback()
def attribution_command(
    ctx: typer.Context,
    conversion: Annotated[
        str | None, typer.Option(help="The conversion event, e.g. 'Order Completed'.")
    ] = None,
    models: Models = None,
    lookback: Lookback = "30d",
    by: By = "channel",
    markov_order: MarkovOrder = 1,
    half_life: Annotated[
        float | None, typer.Option(help="time_decay's half-life in days (default 7).")
    ] = None,
    since: Since = None,
    until: Until = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
    csv_rows: Csv = False,
) -> None:
    """Credit a conversion event to channels by each model, with return on spend."""
    if ctx.invoked_subcommand is not None:
        return
    if conversion is None:
        raise CommandError("name the conversion event: --conversion EVENT")
    question: dict[str, Any] = {"conversion": conversion, "lookback": lookback, "by": by}
    for key, value in (("models", models), ("since", since), ("until", until),
                       ("half_life_days", half_life)):  # fmt: skip
        if value is not None:
            question[key] = value
    if markov_order != 1:
        question["markov_order"] = markov_order
    with connect(db, url, token) as backend:
        found = backend.ask("attribution", question)
    _show(found, json=json, csv_rows=csv_rows)
    if not json and not csv_rows and found["roi"]:
        _show_returns(found["roi"])


@attribution.command("paths")
def paths_command(
    file: Annotated[Path, typer.Argument(help="A CSV of aggregated paths.")],
    path_col: Annotated[str, typer.Option(help="The column of paths: 'a > b > c'.")] = "path",
    conv_col: Annotated[str, typer.Option(help="The column of conversions.")] = (
        "total_conversions"
    ),
    null_col: Annotated[str | None, typer.Option(help="The column of non-conversions.")] = None,
    value_col: Annotated[str | None, typer.Option(help="The column of value.")] = None,
    separator: Annotated[str, typer.Option(help="Between a path's steps.")] = ">",
    models: Models = None,
    markov_order: MarkovOrder = 1,
    json: Json = False,
    csv_rows: Csv = False,
) -> None:
    """Attribute an aggregated path file (the format attribution tools exchange)."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {file}: {error.strerror}") from None
    found = attribute_path_file(
        data,
        path_column=path_col,
        conversions_column=conv_col,
        nulls_column=null_col,
        value_column=value_col,
        separator=separator,
        models=[m.strip() for m in models.split(",")] if models else None,
        markov_order=markov_order,
        name=file.name,
    )
    _show(found, json=json, csv_rows=csv_rows)


@attribution.command("acquisition")
def acquisition_command(
    event: Annotated[
        list[str], typer.Option(help="A first-time event: 'Order Completed', 'Loyalty Joined'.")
    ],
    models: Models = None,
    lookback: Lookback = "30d",
    by: By = "channel",
    since: Since = None,
    until: Until = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Which channels bring people to each event for the first time (first touch, last touch
    and Markov unless --models says otherwise)."""
    question: dict[str, Any] = {"events": event, "lookback": lookback, "by": by}
    for key, value in (("models", models), ("since", since), ("until", until)):
        if value is not None:
            question[key] = value
    with connect(db, url, token) as backend:
        found = backend.ask("attribution/acquisition", question)
    if json:
        print(orjson.dumps(found).decode())
        return
    for answer in found["events"]:
        _show(answer, json=False, csv_rows=False, title=f"first {answer['conversion']}")


def _show(found: dict[str, Any], *, json: bool, csv_rows: bool, title: str = "") -> None:
    if json:
        print(orjson.dumps(found).decode())
        return
    rows = credit_rows(found)
    if csv_rows:
        print_csv(rows)
        return
    models = list(found["models"])
    label = found.get("by", "channel")
    table = Table(title=title or f"{found['total_conversions']:,.0f} conversions, "
                  f"{found['total_value']:,.2f} value")  # fmt: skip
    table.add_column(label)
    for model in models:
        table.add_column(model, justify="right")
    channels = sorted({c["channel"] for m in found["models"].values() for c in m["channels"]})
    credited = {(m, c["channel"]): c["conversions"] for m, v in found["models"].items()
                for c in v["channels"]}  # fmt: skip
    for channel in channels:
        table.add_row(channel, *(f"{credited.get((m, channel), 0.0):,.1f}" for m in models))
    Console().print(table)
    if found.get("untouched_conversions"):
        Console().print(f"{found['untouched_conversions']:,.0f} conversions had no touch in "
                        "their lookback and are credited to no channel")  # fmt: skip


def _show_returns(rows: list[dict[str, Any]]) -> None:
    table = Table(title="return on spend")
    for column in ("model", "channel", "conversions", "revenue", "cost", "ROAS", "CPA"):
        table.add_column(column, justify="left" if column in ("model", "channel") else "right")
    for r in rows:
        if r["cost"] is None:
            continue
        table.add_row(r["model"], r["channel"], f"{r['conversions']:,.1f}",
                      f"{r['revenue']:,.2f}", f"{r['cost']:,.2f}",
                      "" if r["roas"] is None else f"{r['roas']:.2f}",
                      "" if r["cpa"] is None else f"{r['cpa']:,.2f}")  # fmt: skip
    Console().print(table)


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
