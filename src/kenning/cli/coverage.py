"""``kenning coverage``: how many customers Kenning knows each thing about."""

from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from kenning.cli.backend import connect
from kenning.cli.options import DEFAULT, Db, Json, Token, Url


def coverage_command(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """The share of profiles having each trait, computed trait, consent decision, identifier
    type and household, and at each customer-understanding level."""
    with connect(db, url, token) as backend:
        report = backend.coverage()
    if json:
        print(orjson.dumps(report).decode())
        return
    out = Console()
    out.print(f"[bold]{report['profiles']:,} profiles[/bold]")
    for table in _tables(report):
        if table.row_count:  # a brand with no consent recorded, say, gets no empty table
            out.print(table)


def _percent(entry: dict[str, Any]) -> str:
    return f"{entry['share']:.1%}"


def _count(entry: dict[str, Any]) -> str:
    return f"{entry['profiles']:,}"


def _sources(by_source: dict[str, dict[str, Any]]) -> str:
    return " · ".join(f"{source} {_percent(entry)}" for source, entry in by_source.items())


def _tables(report: dict[str, Any]) -> list[Table]:
    understanding = report["understanding"]
    levels = Table("level", "", "profiles", "share", title="customer understanding")
    for level in understanding["levels"]:
        levels.add_row(str(level["level"]), level["label"], _count(level), _percent(level))
    required = Table("level", "requirement", "profiles", "share", "rule", title="requirements met")
    for r in understanding["requirements"]:
        required.add_row(str(r["level"]), r["requirement"], _count(r), _percent(r), r["rule"])
    traits = Table("trait", "profiles", "share", "by source (of the value)", title="traits")
    for name, entry in report["traits"].items():
        traits.add_row(name, _count(entry), _percent(entry), _sources(entry["by_source"]))
    computed = Table("computed trait", "kind", "profiles", "share", "counts", title="computed")
    for name, entry in report["computed_traits"].items():
        computed.add_row(name, entry["kind"], _count(entry), _percent(entry), entry["counts"])
    identifiers = Table(
        "identifier", "profiles", "share", "by source (first brought)", title="identifiers"
    )
    for kind, entry in report["identifiers"].items():
        identifiers.add_row(kind, _count(entry), _percent(entry), _sources(entry["by_source"]))
    consent = Table("category", "decided", "granted", "by source (decided)", title="consent")
    for category, entry in report["consent"].items():
        decided = {source: e["decided"] for source, e in entry["by_source"].items()}
        consent.add_row(
            category, _percent(entry["decided"]), _percent(entry["granted"]), _sources(decided)
        )
    households = Table("households", "profiles", "share", title="households")
    for name, entry in report["households"].items():
        households.add_row(name.replace("_", " "), _count(entry), _percent(entry))
    return [levels, required, traits, computed, identifiers, consent, households]
