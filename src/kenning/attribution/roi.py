"""Return on spend: what each channel (or campaign) cost, beside what each model credits it.

Spend comes from the brand's ad platforms as CSV, one row per day, channel and campaign::

    date,channel,campaign,spend,currency
    2026-03-01,paid_search,brand-search,120.50,EUR

``campaign`` and ``currency`` are optional (spend on a channel as a whole has no campaign).
A file is checked whole before anything is stored: a bad row is refused with its line and
column, and nothing of the file is kept. A row for a day, channel and campaign already held
replaces it, so a corrected export can be imported again.

For each model, each channel's credited conversions and revenue meet its spend over the same
days: ROAS (revenue / cost) and cost per acquisition (cost / conversions); a channel with no
spend (organic search, direct) has no ROAS, not an infinite one.
"""

import csv
import io
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from kenning.errors import FieldError
from kenning.journeys.channels import CHANNELS

if TYPE_CHECKING:
    from kenning.store.store import Store

REQUIRED = ("date", "channel", "spend")
OPTIONAL = ("campaign", "currency")


@dataclass(frozen=True)
class SpendRow:
    day: date
    channel: str
    campaign: str
    spend: float
    currency: str | None


def read_spend(text: str, *, name: str = "spend") -> list[SpendRow]:
    """The rows of a spend CSV, or a FieldError naming the line and column of the first bad
    one (``spend.csv:7.spend``)."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [h.strip() for h in reader.fieldnames or []]
    except csv.Error as error:
        raise FieldError(f"not CSV: {error}", f"{name}:1") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise FieldError(f"the header has no {missing[0]!r} column (needs {', '.join(REQUIRED)})",
                         f"{name}:1")  # fmt: skip
    unknown = [c for c in header if c not in (*REQUIRED, *OPTIONAL)]
    if unknown:
        raise FieldError(f"unknown column {unknown[0]!r}", f"{name}:1")
    rows: list[SpendRow] = []
    seen: set[tuple[date, str, str]] = set()
    for line, raw in enumerate(_records(reader, name), start=2):
        if None in raw:  # DictReader's key for values beyond the header
            raise FieldError("more values than columns", f"{name}:{line}")
        record = {str(k).strip(): (v or "").strip() for k, v in raw.items()}
        here = f"{name}:{line}"
        try:
            day = date.fromisoformat(record["date"])
        except ValueError:
            raise FieldError(
                f"{record['date']!r} is no date (YYYY-MM-DD)", f"{here}.date"
            ) from None
        channel = record["channel"].lower()
        if channel not in CHANNELS:
            raise FieldError(f"{record['channel']!r} is no channel ({', '.join(CHANNELS)})",
                             f"{here}.channel")  # fmt: skip
        try:
            spend = float(record["spend"])
        except ValueError:
            spend = math.nan
        if not math.isfinite(spend) or spend < 0:
            raise FieldError(f"{record['spend']!r} is no amount (a number, 0 or more)",
                             f"{here}.spend")  # fmt: skip
        campaign = record.get("campaign", "")
        key = (day, channel, campaign)
        if key in seen:
            raise FieldError("a second row for this day, channel and campaign", here)
        seen.add(key)
        rows.append(SpendRow(day, channel, campaign, spend, record.get("currency") or None))
    return rows


def _records(reader: "csv.DictReader[str]", name: str) -> Iterator[dict[str, str]]:
    """The reader's rows; a line the csv module cannot read (a field over its 128 KiB limit,
    a NUL) is a FieldError that names it."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # line_num counts the lines read before the one that failed
            raise FieldError(f"not CSV: {error}", f"{name}:{reader.line_num + 1}") from None
        yield row


def store_spend(con: duckdb.DuckDBPyConnection, rows: Iterable[SpendRow], now: datetime) -> int:
    """Insert or replace the rows, in the caller's (the writer's) transaction."""
    values = [(r.day, r.channel, r.campaign, r.spend, r.currency, now) for r in rows]
    if values:
        con.executemany("INSERT OR REPLACE INTO __kenning_spend VALUES (?, ?, ?, ?, ?, ?)", values)
    return len(values)


def spend_by(
    con: duckdb.DuckDBPyConnection, since: date | None, until: date | None, *, by: str
) -> dict[str, float]:
    """Total spend per channel (``by="channel"``) or per campaign, days in [since, until)."""
    column = {"channel": "channel", "campaign": "campaign"}[by]
    rows = con.execute(
        f"""SELECT {column}, sum(spend) FROM __kenning_spend
            WHERE (?::DATE IS NULL OR day >= ?::DATE) AND (?::DATE IS NULL OR day < ?::DATE)
              AND {column} <> ''
            GROUP BY ALL""",
        [since, since, until, until],
    ).fetchall()
    return {str(k): float(v) for k, v in rows}


@dataclass(frozen=True)
class ReturnRow:
    model: str
    channel: str
    conversions: float
    revenue: float
    cost: float | None
    roas: float | None
    cpa: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "channel": self.channel,
            "conversions": self.conversions,
            "revenue": self.revenue,
            "cost": self.cost,
            "roas": self.roas,
            "cpa": self.cpa,
        }


def returns(
    credits: Mapping[str, Mapping[str, tuple[float, float]]], spend: Mapping[str, float]
) -> list[ReturnRow]:
    """Per model and channel: ``credits[model][channel] = (conversions, revenue)`` beside
    ``spend[channel]``. Channels with spend but no credit are listed too (all cost, no
    return)."""
    rows = []
    for model, credited in credits.items():
        for channel in sorted(set(credited) | set(spend)):
            conversions, revenue = credited.get(channel, (0.0, 0.0))
            cost = spend.get(channel)
            rows.append(
                ReturnRow(
                    model,
                    channel,
                    conversions,
                    revenue,
                    cost,
                    revenue / cost if cost else None,
                    cost / conversions if cost is not None and conversions > 0 else None,
                )
            )
    return rows


def import_spend(store: "Store", text: str, *, name: str = "spend") -> dict[str, Any]:
    """Check a spend file whole, then store it in one transaction; what was stored."""
    rows = read_spend(text, name=name)
    now = datetime.now(UTC)
    stored = store.writer.run(lambda con: store_spend(con, rows, now)).result()
    return {
        "rows": stored,
        "spend": round(sum(r.spend for r in rows), 2),
        "first_day": min((r.day for r in rows), default=None),
        "last_day": max((r.day for r in rows), default=None),
        "channels": sorted({r.channel for r in rows}),
    }
