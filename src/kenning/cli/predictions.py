"""``kenning predict``: what customers are likely to do next.

``predict run``: every model refitted on the store's orders and everyone scored (the scores
land on profiles); ``predict models``: each model's latest run, fit and diagnostics;
``predict clv --transactions FILE``: the customer-base models (BG/NBD, Pareto/NBD,
Gamma-Gamma) fitted on a file of transactions, with the holdout fit; no store needed.
"""

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import CommandError, connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url
from kenning.journeys.declarations import parse_window

predict = typer.Typer(
    help="Predictions: RFM, lifetime value, lifecycle stages, propensities, lookalikes."
)
CalibrationEnd = Annotated[
    str | None,
    typer.Option(help="Fit on transactions up to this day; the rest is the holdout "
                 "(default: every transaction, no holdout)."),
]  # fmt: skip
Scores = Annotated[
    Path | None,
    typer.Option(help="Write each customer's history and values (by the first model) "
                 "to this CSV file."),
]  # fmt: skip


@predict.command("run")
def run_command(
    models: Annotated[
        str | None,
        typer.Option(
            help="Models, comma-separated (default: every one): rfm, clv, lifecycle, "
            "propensity, next_channel."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Score as of this time (ISO 8601; default: the newest event's)."),
    ] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Refit the models on the orders in the store and write everyone's scores."""
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    with connect(db, url, token) as backend:
        ran = backend.run_predictions(chosen, as_of)
    if json:
        print(orjson.dumps(ran).decode())
        return
    console = Console()
    console.print(f"{ran['customers']:,} customers with {ran['orders']:,} orders, scored as of "
                  f"{ran['as_of']} in {ran['seconds']:.1f} s")  # fmt: skip
    for name, report in ran["models"].items():
        if "skipped" in report:
            console.print(f"{name}: skipped ({report['skipped']})")
        else:
            console.print(f"{name}: {report['scores_written']:,} scores written")
    audiences = ran["audiences"]
    console.print(f"audiences: {audiences['entered']:,} entries, {audiences['exited']:,} exits")


@predict.command("models")
def models_command(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """Each model's latest run: when it ran, its fit and diagnostics (the model card)."""
    with connect(db, url, token) as backend:
        runs = backend.prediction_runs()
    if json:
        print(orjson.dumps({"runs": runs}).decode())
        return
    table = Table(title="predictions")
    for column in ("model", "computed at", "customers", "fit"):
        table.add_column(column)
    for run in runs:
        report = run["report"]
        fits = "; ".join(
            f"{f['model']} " + ", ".join(f"{k} {v:.3g}" for k, v in f["params"].items())
            for f in report.get("fits", [])
        )
        table.add_row(run["model"], run["computed_at"], f"{report.get('customers', 0):,}", fits)
    Console().print(table)


@predict.command("lookalike")
def lookalike_command(
    seed: Annotated[str, typer.Option(help="The seed audience (at least 100 members).")],
    name: Annotated[str, typer.Option(help="The lookalike audience to make or refresh.")],
    top: Annotated[float, typer.Option(help="Its size: this share of everyone else, %.")] = 5.0,
    method: Annotated[str, typer.Option(help="classifier, knn or both.")] = "both",
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Rank everyone by likeness to a seed audience; save the top share as an audience."""
    spec = {"seed": seed, "name": name, "top_percent": top, "method": method}
    with connect(db, url, token) as backend:
        made = backend.make_lookalike(spec)
    if json:
        print(orjson.dumps(made).decode())
        return
    evaluation = made["evaluation"]
    table = Table(title=f"{evaluation['held_out']:,} held-out seed members among "
                  f"{evaluation['candidates']:,} people")  # fmt: skip
    for column in ("ranked in the top", "held-out seed found", "random would find", "lift"):
        table.add_column(column, justify="right")
    for top_share in (1, 5, 10):
        found = evaluation[f"top_{top_share}"]
        table.add_row(f"{top_share}%", f"{found['share']:.1%}", f"{found['random']:.1%}",
                      f"{found['lift']:.1f}×")  # fmt: skip
    console = Console()
    console.print(table)
    console.print(f"audience {name}: {made['audience']['size']:,} people like {seed}")


@predict.command("clv")
def clv_command(
    transactions: Annotated[
        Path, typer.Option(help="A CSV or Parquet file: one transaction per row.")
    ],
    customer_col: Annotated[str, typer.Option(help="The customer column.")] = "customer_id",
    date_col: Annotated[str, typer.Option(help="The date column (ISO 8601).")] = "date",
    amount_col: Annotated[str, typer.Option(help="The amount column.")] = "amount",
    date_format: Annotated[
        str | None, typer.Option(help="A strptime pattern when dates are not ISO: %Y%m%d.")
    ] = None,
    calibration_end: CalibrationEnd = None,
    observation_end: Annotated[
        str | None, typer.Option(help="The holdout's last day (default: the last transaction's).")
    ] = None,
    time_unit: Annotated[str, typer.Option(help="day, week or month.")] = "week",
    models: Annotated[
        str, typer.Option(help="Purchase models, comma-separated: bgnbd, paretonbd.")
    ] = "bgnbd,paretonbd",
    horizon: Annotated[str, typer.Option(help="Lifetime value over this long: 365d, 52w.")] = (
        "365d"
    ),
    discount_rate: Annotated[float, typer.Option(help="A yearly discount rate.")] = 0.10,
    scores: Scores = None,
    json: Json = False,
) -> None:
    """Fit BG/NBD, Pareto/NBD and Gamma-Gamma on a transactions file; print the parameters,
    the fit and how it forecasts the holdout."""
    if not transactions.is_file():
        raise CommandError(f"no file at {transactions}")
    from kenning.predictions.analysis import clv_of_transactions  # scipy, when asked for

    answer = clv_of_transactions(
        transactions,
        customer_column=customer_col,
        date_column=date_col,
        amount_column=amount_col,
        date_format=date_format,
        calibration_end=calibration_end,
        observation_end=observation_end,
        unit=time_unit,
        models=[m.strip() for m in models.split(",") if m.strip()],
        horizon_days=parse_window(horizon, "horizon").total_seconds() / 86_400,
        discount_rate=discount_rate,
    )
    if scores is not None:
        _write_scores(scores, answer.score_rows())
    if json:
        sys.stdout.write(orjson.dumps(answer.report, option=orjson.OPT_SERIALIZE_NUMPY).decode())
        sys.stdout.write("\n")
        return
    _show(answer.report)


def _write_scores(path: Path, rows: list[dict[str, Any]]) -> None:
    try:
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["customer"])
            writer.writeheader()
            writer.writerows(rows)
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}") from None


def _show(report: dict[str, Any]) -> None:
    console = Console()
    console.print(
        f"{report['customers']:,} customers, {report['transactions']:,} transactions; "
        f"calibration to {report['calibration_end']}, holdout to {report['observation_end']}, "
        f"in {report['time_unit']}s"
    )
    fits = Table(title="fitted parameters")
    for column in ("model", "parameters", "log-likelihood", "converged"):
        fits.add_column(column)
    spend = report.get("gammagamma")
    for fit in [*report["models"].values(), *([spend] if spend else [])]:
        params = ", ".join(f"{k} {v:.4g}" for k, v in fit["params"].items())
        fits.add_row(fit["model"], params, f"{fit['log_likelihood']:,.2f}",
                     "yes" if fit["converged"] else "no")  # fmt: skip
    console.print(fits)
    for name, fit in report["models"].items():
        holdout = fit["holdout"]
        if not holdout:
            continue
        table = Table(title=f"{name}: holdout of {holdout['length']:.4g} {holdout['unit']}s, "
                      f"{holdout['actual_purchases']:,.0f} purchases seen, "
                      f"{holdout['predicted_purchases']:,.1f} forecast")  # fmt: skip
        for column in ("calibration frequency", "customers", "seen", "forecast"):
            table.add_column(column, justify="right")
        for row in holdout["by_frequency"]:
            table.add_row(row["frequency"], f"{row['customers']:,}", f"{row['actual']:.3f}",
                          f"{row['predicted']:.3f}")  # fmt: skip
        console.print(table)
