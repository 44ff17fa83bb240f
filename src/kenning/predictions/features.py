"""What a person has done up to a moment, as a row of numbers the propensity and lookalike
models learn from: counts per event over 7, 30 and 90 days, recency and tenure, orders and
spend (RFM), the channels they came through, the categories they looked at, email engagement.

One pass over the log up to the moment (``features_sql``: a FILTER per count) and one over
the orders; numpy from there. A missing value (the days since the last order of someone who
never ordered) is NaN, which the gradient-boosting models take as such.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from kenning.journeys.touch_arrays import ConversionArrays
from kenning.journeys.touchpoints import events_sql
from kenning.predictions.histories import DAY_US, Floats, Ints

if TYPE_CHECKING:
    from kenning.journeys.settings import JourneySettings

WINDOWS = (7, 30, 90)
# Always counted, whatever the log's most frequent events: the Segment email spec's
# engagement events, the ones that say most about whether someone still listens.
ENGAGEMENT = ("Email Opened", "Email Link Clicked", "Product Viewed", "Product Added")
MOST_FREQUENT = 12  # further event names counted: the log's most frequent


@dataclass(frozen=True)
class Features:
    people: Ints  # current profile ids, one per row
    matrix: Floats  # a row per person, a column per name
    names: tuple[str, ...]


def counted_events(con: duckdb.DuckDBPyConnection, until: datetime) -> tuple[str, ...]:
    """The event names to count: the engagement events and the log's most frequent tracks."""
    frequent = con.execute(
        """SELECT event FROM __kenning_events
           WHERE type = 'track' AND event IS NOT NULL AND timestamp <= ?
           GROUP BY event ORDER BY count(*) DESC, event LIMIT ?""",
        [until, MOST_FREQUENT],
    ).fetchall()
    names = list(ENGAGEMENT)
    names += [str(e) for (e,) in frequent if e not in names]
    return tuple(names)


def features_sql(
    journeys: "JourneySettings", at: datetime, events: tuple[str, ...], params: list[Any]
) -> tuple[str, list[str]]:
    """Per person seen by ``at``: the counts, recency and tenure; with the feature names."""
    scope = journeys.touches(until=at + timedelta(microseconds=1))
    columns: list[str] = []
    names: list[str] = []
    select_params: list[Any] = []

    def add(expression: str, name: str, *values: Any) -> None:
        columns.append(f"{expression} AS f{len(names)}")
        names.append(name)
        select_params.extend(values)

    add("date_diff('second', min(ts), ?::TIMESTAMPTZ) / 86400.0", "tenure_days", at)
    add("date_diff('second', max(ts), ?::TIMESTAMPTZ) / 86400.0", "days_since_last_event", at)
    for days in WINDOWS:
        since = at - timedelta(days=days)
        add("count(*) FILTER (WHERE ts > ?)", f"events_{days}d", since)
        for kind in ("page", "screen"):
            add(f"count(*) FILTER (WHERE type = '{kind}' AND ts > ?)", f"{kind}s_{days}d", since)
        for i, event in enumerate(events):
            add("count(*) FILTER (WHERE event = ? AND ts > ?)", f"event{i}_{days}d", event, since)
    since = at - timedelta(days=90)
    add("count(DISTINCT channel) FILTER (WHERE ts > ?)", "channels_90d", since)
    add("count(DISTINCT source_name) FILTER (WHERE ts > ?)", "sources_90d", since)
    add(
        "count(DISTINCT json_extract_string(payload, '$.properties.category')) "
        "FILTER (WHERE ts > ?)",
        "categories_90d",
        since,
    )
    params += select_params
    found = events_sql(scope, params)
    return f"SELECT profile_id, {', '.join(columns)} FROM ({found}) GROUP BY profile_id", names


def read_features(
    con: duckdb.DuckDBPyConnection,
    journeys: "JourneySettings",
    at: datetime,
    events: tuple[str, ...],
    orders: ConversionArrays,
    *,
    profiled: np.ndarray[Any, np.dtype[np.int64]],
) -> Features:
    """The features as of ``at`` (events and ``orders`` at or before it: the caller reads
    the orders once for every moment it asks about) of everyone who may be ``profiled``."""
    params: list[Any] = []
    sql, names = features_sql(journeys, at, events, params)
    table = con.sql(sql, params=params).to_arrow_table()
    people = table.column("profile_id").to_numpy().astype(np.int64)
    order = np.argsort(people)
    order = order[np.isin(people[order], profiled)]
    people = people[order]
    matrix = np.column_stack(
        [table.column(f"f{i}").to_numpy().astype(np.float64)[order] for i in range(len(names))]
    ) if names else np.zeros((len(people), 0))  # fmt: skip
    at_us = int(at.timestamp() * 1_000_000)
    seen = orders.time <= at_us
    rfm = _order_features(people, orders.person[seen], orders.time[seen], orders.value[seen], at_us)
    event_names = [_label(n, events) for n in names]
    return Features(
        people=people,
        matrix=np.column_stack([matrix, *rfm.values()]),
        names=(*event_names, *rfm),
    )


def _label(name: str, events: tuple[str, ...]) -> str:
    """``event3_30d`` as ``Product Added_30d``: readable in the model card."""
    if name.startswith("event") and "_" in name:
        index, window = name.removeprefix("event").split("_", 1)
        if index.isdigit():
            return f"{events[int(index)]}_{window}"
    return name


def _order_features(
    people: Ints, person: Ints, time_us: Ints, value: Floats, at_us: int
) -> dict[str, Floats]:
    """Orders, spend, orders in the last 90 days, days since the last order (NaN: never)."""
    row = np.searchsorted(people, person)
    known = (row < len(people)) & (people[np.minimum(row, len(people) - 1)] == person)
    row, time_us, value = row[known], time_us[known], value[known]
    n = len(people)
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, row, time_us)
    recent = time_us > at_us - 90 * DAY_US
    with np.errstate(invalid="ignore"):
        since_last = np.where(last > np.iinfo(np.int64).min, (at_us - last) / DAY_US, np.nan)
    return {
        "orders": np.bincount(row, minlength=n).astype(np.float64),
        "spend": np.bincount(row, weights=value, minlength=n),
        "orders_90d": np.bincount(row[recent], minlength=n).astype(np.float64),
        "days_since_last_order": since_last,
    }
