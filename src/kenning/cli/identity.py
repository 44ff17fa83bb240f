"""``kenning identity``: explain joins, unmerge (overrides), rebuild the graph."""

import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

app = typer.Typer(
    help="Identity resolution: explain joins, unmerge, rebuild the graph from the log."
)
Identifier = Annotated[str, typer.Argument(help="An identifier, TYPE:VALUE.")]
Reason = Annotated[str | None, typer.Option(help="Why: kept with the override.")]


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
        for override in result.get("overrides", []):
            pair = override["a"] + (f" / {override['b']}" if override["b"] else "")
            out.print(f"  override {override['id']}: {override['kind']} {pair}")
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


def _print_applied(result: dict[str, Any], json: bool) -> None:
    if json:
        print(orjson.dumps(result).decode())
        return
    out = Console()
    override, rebuild = result["override"], result["rebuild"]
    out.print(
        f"override {override['id']} ({override['kind']}): replayed {rebuild['events']:,} events; "
        f"{rebuild['profiles_before']:,} -> {rebuild['profiles_after']:,} profiles"
    )
    for identifier, moved in rebuild["watched"].items():
        out.print(f"  {identifier}: profile {moved['before']} -> {moved['after']}")


@app.command("detach")
def detach_command(
    identifier: Identifier,
    reason: Reason = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Unmerge: the identifier links nothing any more; its profile is rebuilt without it."""
    with connect(db, url, token) as backend:
        _print_applied(backend.add_override("detach", identifier, None, reason), json)


@app.command("never-join")
def never_join_command(
    a: Identifier,
    b: Identifier,
    reason: Reason = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Declare that two identifiers are never one person; profiles are rebuilt to obey."""
    with connect(db, url, token) as backend:
        _print_applied(backend.add_override("never_join", a, b, reason), json)


@app.command("overrides")
def overrides_command(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """List the active overrides."""
    with connect(db, url, token) as backend:
        found = backend.list_overrides()
    if json:
        print(orjson.dumps(found).decode())
        return
    table = Table("id", "kind", "a", "b", "reason", "created")
    for o in found:
        table.add_row(
            str(o["id"]), o["kind"], o["a"], o["b"] or "", o["reason"] or "", o["created_at"]
        )
    Console().print(table)


@app.command("lift")
def lift_command(
    override_id: Annotated[int, typer.Argument(help="The override's id (see `overrides`).")],
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Lift an override; the graph is rebuilt without it."""
    with connect(db, url, token) as backend:
        _print_applied(backend.remove_override(override_id), json)


@app.command("evaluate")
def evaluate_command(
    truth: Annotated[
        list[Path],
        typer.Option(
            "--truth",
            help="A ground-truth CSV: person_id with source,message_id or identifier. Repeatable.",
        ),
    ],
    ceiling: Annotated[
        bool,
        typer.Option(
            "--ceiling",
            help="Also score the evidence ceiling: the best any resolver could do without "
            "joining two people (touches that share nothing with the rest of their person "
            "stay apart).",
        ),
    ] = False,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Score the identity graph against ground truth: pairwise and B-cubed precision, recall, F1."""
    with connect(db, url, token) as backend:
        scores = backend.evaluate_identity(truth, ceiling)
    if json:
        print(orjson.dumps(scores).decode())
        return
    out = Console()
    out.print(
        f"{scores['items']:,} items ({scores['missing']:,} not in the store), "
        f"{scores['people']:,} people, {scores['profiles']:,} profiles"
    )
    table = Table("", "precision", "recall", "F1")
    rows = [("", scores)]
    if "ceiling" in scores:
        rows.append((" (evidence ceiling)", scores["ceiling"]))
    for suffix, figures in rows:
        for name in ("pairwise", "bcubed"):
            table.add_row(
                ("B-cubed" if name == "bcubed" else name) + suffix,
                *(f"{figures[f'{name}_{m}']:.4f}" for m in ("precision", "recall", "f1")),
            )
    out.print(table)
    if "ceiling" in scores:
        out.print(
            f"clusters in the evidence ceiling: {scores['ceiling']['profiles']:,} (touches that "
            "share nothing with the rest of their person stay apart)"
        )


@app.command("households")
def households_command(
    by_surname: Annotated[
        bool, typer.Option("--by-surname", help="Split an address's profiles by surname.")
    ] = False,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Group profiles into households by their latest address; prints the size distribution."""
    with connect(db, url, token) as backend:
        summary = backend.households(by_surname)
    if json:
        print(orjson.dumps(summary).decode())
        return
    out = Console()
    out.print(
        f"{summary['households']:,} households from {summary['profiles_with_address']:,} "
        f"profiles with an address; {summary['profiles_in_shared_households']:,} share a home"
    )
    table = Table("size", "households")
    for size, count in summary["sizes"].items():
        table.add_row(size, f"{count:,}")
    out.print(table)


@app.command("match")
def match_command(
    match_probability: Annotated[
        float | None,
        typer.Option(help="Merge pairs at or above this probability (default: configured)."),
    ] = None,
    review_probability: Annotated[
        float | None,
        typer.Option(help="Queue pairs from this probability up for review."),
    ] = None,
    every: Annotated[
        float | None,
        typer.Option(help="Run again every this many minutes, until interrupted (a schedule)."),
    ] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Probabilistic matching (Splink): merge profiles that are one person by their traits."""
    while True:
        with connect(db, url, token) as backend:
            report = backend.match(match_probability, review_probability)
        _print_match(report, json)
        if every is None:
            return
        time.sleep(every * 60)


def _print_match(report: dict[str, Any], json: bool) -> None:
    if json:
        print(orjson.dumps(report).decode())
        return
    out = Console()
    out.print(
        f"run {report['run_id']}: {report['records']:,} records of {report['profiles']:,} "
        f"profiles, {report['pairs_scored']:,} pairs scored in {report['seconds']:.1f} s "
        f"({report['records_per_second']:,.0f} records/s)"
    )
    out.print(
        f"  [bold]{report['merged']:,} merged[/bold], {report['queued_for_review']:,} queued "
        f"for review, {report['already_decided']:,} already decided"
    )
    for reason, count in report["refused"].items():
        out.print(f"  {count:,} not merged: {reason}")
    for note in report["notes"]:
        out.print(f"  note: {note}")


@app.command("reviews")
def reviews_command(
    status: Annotated[str, typer.Option(help="pending, accepted, rejected or all.")] = "pending",
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """List the pairs probabilistic matching left for a person to decide."""
    with connect(db, url, token) as backend:
        reviews = backend.reviews(status, limit)
    if json:
        print(orjson.dumps(reviews).decode())
        return
    table = Table("id", "a", "b", "probability", "status", "reason")
    for r in reviews:
        table.add_row(
            str(r["id"]), r["a"], r["b"], f"{r['probability']:.4f}", r["status"], r["reason"]
        )
    Console().print(table)


ReviewId = Annotated[int, typer.Argument(help="The review's id (see `kenning identity reviews`).")]


@app.command("accept")
def accept_command(
    review_id: ReviewId,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Accept a reviewed pair: the two profiles merge now (and after every rebuild)."""
    _decide(review_id, True, db, url, token, json)


@app.command("reject")
def reject_command(
    review_id: ReviewId,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Reject a reviewed pair: later match runs will not ask again."""
    _decide(review_id, False, db, url, token, json)


def _decide(
    review_id: int, accept: bool, db: Path, url: str | None, token: str | None, json: bool
) -> None:
    with connect(db, url, token) as backend:
        result = backend.decide_review(review_id, accept)
    if json:
        print(orjson.dumps(result).decode())
        return
    Console().print(f"review {review_id}: {result['outcome']}")
