"""Touchpoint goals: for each page, screen, campaign or email, the share of the people who
touched it that went on to convert, against the rate the brand expects of it.

Goals are declared per touchpoint, by name::

    sale_page:
      touchpoint: {page: /sale}              # a page view of context.page.path /sale
      goal: {event: Order Completed}
      window: 7d                             # 14 days unless declared
      benchmark: 0.05                        # the expected conversion rate
    spring_campaign:
      touchpoint: {campaign: spring}         # any event with context.campaign.name spring
      goal: {event: Order Completed, where: {properties.total: {gte: 50}}}
      benchmark: 0.03
    welcome_email:
      touchpoint: {email: welcome-1}         # Email Opened with properties.campaign_id
      goal: {event: Signed In}
      benchmark: 0.2
    home_screen:
      touchpoint: {screen: Home}             # a screen view named Home
      goal: {event: Product Added}
      benchmark: 0.1

A touchpoint is one of the shorthands ``page``, ``screen``, ``campaign``, ``email``, or an
event filter (``event``, ``type``, ``where``, as a funnel step); a shorthand may add
``where``. A person touched it when they had a matching event (within since/until, when
given); they converted when a goal event followed one of their touches (later in the log, by
time then sequence) within the window. Events count for the canonical person, merged profiles
included.

Whether a touchpoint falls short is decided with the Wilson score interval of its rate (95%
unless asked otherwise): short when even the interval's upper end is below the benchmark,
above when its lower end is over it, and otherwise consistent with it. Three visitors, none
converting, are consistent with almost any benchmark; a thousand, five converting, are short
of 5%.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import NormalDist
from typing import Any

import duckdb
import numpy as np

from kenning.errors import FieldError
from kenning.journeys.declarations import (
    FILTER_KEYS,
    EventFilter,
    any_of_sql,
    event_filter_sql,
    parse_event_filter,
    parse_where,
    parse_window,
    window_spec,
    window_text,
)
from kenning.profiles.computed.definitions import Condition

DEFAULT_WINDOW = timedelta(days=14)
DEFAULT_CONFIDENCE = 0.95
# Two bits of one 64-bit mask per goal (its touches, its conversions): goals are evaluated
# in batches of this many per read of the log.
_BATCH = 31
# Each shorthand: the message type or event it reads, and the path its value is compared to.
SHORTHANDS: dict[str, tuple[EventFilter, str]] = {
    "page": (EventFilter(types=("page",)), "context.page.path"),
    "screen": (EventFilter(types=("screen",)), "name"),
    "campaign": (EventFilter(), "context.campaign.name"),
    "email": (EventFilter(events=("Email Opened",)), "properties.campaign_id"),
}
_KEYS = frozenset({"touchpoint", "goal", "window", "benchmark", "description"})


class Standing(StrEnum):
    SHORT = "short"  # the interval lies wholly below the benchmark
    CONSISTENT = "consistent"  # the interval holds the benchmark: no telling
    ABOVE = "above"  # the interval lies wholly above it
    NO_DATA = "no_data"  # no one touched it


@dataclass(frozen=True)
class TouchpointGoal:
    name: str
    touchpoint: EventFilter
    goal: EventFilter
    benchmark: float
    window: timedelta = DEFAULT_WINDOW
    description: str = ""

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "touchpoint": self.touchpoint.spec(),
            "goal": self.goal.spec(),
            "window": window_spec(self.window),
            "benchmark": self.benchmark,
        }
        if self.description:
            spec["description"] = self.description
        return spec


def parse_goals(specs: object, field: str = "goals") -> tuple[TouchpointGoal, ...]:
    """Goals from a mapping of name to declaration, or a ``FieldError`` naming the bad part
    (``goals.sale_page.benchmark``)."""
    if not isinstance(specs, Mapping) or not specs:
        raise FieldError("goals are a mapping of a touchpoint's name to its goal", field)
    return tuple(parse_goal(str(name), spec, f"{field}.{name}") for name, spec in specs.items())


def parse_goal(name: str, spec: object, field: str) -> TouchpointGoal:
    if not isinstance(spec, Mapping):
        raise FieldError("a goal is a mapping with touchpoint, goal, window, benchmark", field)
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise FieldError(f"unknown key {unknown[0]!r}", f"{field}.{unknown[0]}")
    goal = spec.get("goal")
    if not isinstance(goal, Mapping):
        raise FieldError("the goal is an event: {event: ..., where: ...}", f"{field}.goal")
    unknown = sorted(set(goal) - FILTER_KEYS)
    if unknown:
        raise FieldError(f"unknown key {unknown[0]!r}", f"{field}.goal.{unknown[0]}")
    benchmark = spec.get("benchmark")
    if (
        not isinstance(benchmark, int | float)
        or isinstance(benchmark, bool)
        or not 0 <= benchmark <= 1
    ):
        raise FieldError("the benchmark is a conversion rate from 0 to 1", f"{field}.benchmark")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise FieldError("a description is text", f"{field}.description")
    return TouchpointGoal(
        name=name,
        touchpoint=parse_touchpoint(spec.get("touchpoint"), f"{field}.touchpoint"),
        goal=parse_event_filter(goal, f"{field}.goal"),
        benchmark=float(benchmark),
        window=parse_window(spec.get("window", "14d"), f"{field}.window"),
        description=description,
    )


def parse_touchpoint(spec: object, field: str) -> EventFilter:
    """A shorthand (``{page: /sale}``, with an optional ``where``) or an event filter."""
    if not isinstance(spec, Mapping):
        raise FieldError(
            "a touchpoint is {page: ...}, {screen: ...}, {campaign: ...}, {email: ...} or an "
            "event filter",
            field,
        )
    kinds = [k for k in SHORTHANDS if k in spec]
    if not kinds:
        unknown = sorted(set(spec) - FILTER_KEYS)
        if unknown:
            raise FieldError(f"unknown key {unknown[0]!r}", f"{field}.{unknown[0]}")
        return parse_event_filter(spec, field)
    unknown = sorted(set(spec) - {kinds[0], "where"})
    if unknown:
        raise FieldError(f"{kinds[0]} takes only where besides", f"{field}.{unknown[0]}")
    value = spec[kinds[0]]
    if not isinstance(value, str) or not value:
        raise FieldError(f"{kinds[0]} is a name", f"{field}.{kinds[0]}")
    base, path = SHORTHANDS[kinds[0]]
    if not base.events and not base.types:  # a campaign is on any event: read by its name
        base = EventFilter(types=("track", "page", "screen"))
    extra = parse_where(spec.get("where"), f"{field}.where")
    return EventFilter(base.events, base.types, (Condition(path, "eq", value), *extra))


# -- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalFigures:
    goal: TouchpointGoal
    touched: int  # people
    converted: int  # of them, people with a goal event within the window after a touch
    low: float | None  # the rate's interval
    high: float | None

    @property
    def rate(self) -> float | None:
        return self.converted / self.touched if self.touched else None

    @property
    def standing(self) -> Standing:
        if self.low is None or self.high is None:
            return Standing.NO_DATA
        if self.high < self.goal.benchmark:
            return Standing.SHORT
        if self.low > self.goal.benchmark:
            return Standing.ABOVE
        return Standing.CONSISTENT

    @property
    def falls_short(self) -> bool:
        return self.standing == Standing.SHORT

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.goal.name,
            "touchpoint": self.goal.touchpoint.spec(),
            "goal": self.goal.goal.spec(),
            "window": window_text(self.goal.window),
            "touched": self.touched,
            "converted": self.converted,
            "rate": self.rate,
            "benchmark": self.goal.benchmark,
            "interval": None if self.low is None else [self.low, self.high],
            "standing": self.standing.value,
            "falls_short": self.falls_short,
        }


@dataclass(frozen=True)
class GoalReport:
    goals: tuple[GoalFigures, ...]
    confidence: float

    @property
    def short(self) -> tuple[GoalFigures, ...]:
        """The touchpoints that fall short of their benchmark."""
        return tuple(g for g in self.goals if g.falls_short)

    def to_dict(self) -> dict[str, Any]:
        return {
            "interval": f"Wilson score, {self.confidence:.0%}",
            "confidence": self.confidence,
            "goals": [g.to_dict() for g in self.goals],
            "short": [g.goal.name for g in self.short],
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per touchpoint, for CSV."""
        return [
            {
                "name": g.goal.name,
                "touched": g.touched,
                "converted": g.converted,
                "rate": g.rate,
                "benchmark": g.goal.benchmark,
                "low": g.low,
                "high": g.high,
                "standing": g.standing.value,
                "window_days": g.goal.window / timedelta(days=1),
            }
            for g in self.goals
        ]


def wilson_interval(converted: int, people: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of ``converted`` out of ``people`` (people > 0): unlike the
    normal approximation it stays within [0, 1] and is wide for a handful of people."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = converted / people
    scale = 1 + z * z / people
    centre = (p + z * z / (2 * people)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / people + z * z / (4 * people * people))
    return max(0.0, centre - half), min(1.0, centre + half)


def goal_events_sql(
    goals: tuple[TouchpointGoal, ...],
    params: list[Any],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """Rows (person, t, mask) sorted by person, time and sequence: bit 2i set when the event
    is a touch of goal i (within since/until), bit 2i+1 when it is goal i's conversion."""
    in_range = ["true"]
    range_params: list[Any] = []
    if since is not None:
        in_range.append("e.timestamp >= ?::TIMESTAMPTZ")
        range_params.append(since)
    if until is not None:
        in_range.append("e.timestamp < ?::TIMESTAMPTZ")
        range_params.append(until)
    bits = []
    mask_params: list[Any] = []
    for i, goal in enumerate(goals):
        touch = event_filter_sql(goal.touchpoint, mask_params)
        mask_params.extend(range_params)
        bits.append(
            f"(CASE WHEN {touch} AND {' AND '.join(in_range)} THEN {1 << 2 * i} ELSE 0 END)"
        )
        bits.append(
            f"(CASE WHEN {event_filter_sql(goal.goal, mask_params)} THEN {1 << 2 * i + 1} "
            "ELSE 0 END)"
        )
    read_params: list[Any] = []
    read = any_of_sql([f for g in goals for f in (g.touchpoint, g.goal)], read_params)
    params.extend(mask_params + read_params)
    return f"""WITH matched AS MATERIALIZED (
            SELECT e.seq, e.timestamp AS ts, {" | ".join(bits)} AS mask
            FROM (SELECT e.*, coalesce(s.name, e.source_id) AS source_name
                  FROM __kenning_events e
                  LEFT JOIN __kenning_sources s ON s.id = e.source_id
                  WHERE {read}) e)
        SELECT coalesce(r.canonical_id, ep.profile_id) AS person, epoch_us(m.ts) AS t, m.mask
        FROM matched m
        JOIN __kenning_event_profiles ep ON ep.seq = m.seq
        LEFT JOIN __kenning_profile_redirects r ON r.profile_id = ep.profile_id
        WHERE m.mask <> 0
        ORDER BY person, m.ts, m.seq"""


def goal_report(
    con: duckdb.DuckDBPyConnection,
    goals: tuple[TouchpointGoal, ...],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> GoalReport:
    """Each touchpoint's people, conversions, rate and standing against its benchmark, over
    the store's log (touches within since/until), on a reader connection."""
    if not 0 < confidence < 1:
        raise FieldError("confidence is between 0 and 1, like 0.95", "confidence")
    figures = []
    for first in range(0, len(goals), _BATCH):
        batch = goals[first : first + _BATCH]
        params: list[Any] = []
        sql = goal_events_sql(batch, params, since=since, until=until)
        table = con.sql(sql, params=params).to_arrow_table()
        person = np.asarray(table.column("person").to_numpy(), dtype=np.int64)
        time = np.asarray(table.column("t").to_numpy(), dtype=np.int64)
        mask = np.asarray(table.column("mask").to_numpy(), dtype=np.int64)
        for i, goal in enumerate(batch):
            touched, converted = _count(person, time, mask, i, goal.window)
            low, high = wilson_interval(converted, touched, confidence) if touched else (None, None)
            figures.append(GoalFigures(goal, touched, converted, low, high))
    return GoalReport(tuple(figures), confidence)


def _count(person: Any, time: Any, mask: Any, i: int, window: timedelta) -> tuple[int, int]:
    """(people who touched, people who converted) for goal ``i``: a conversion is a goal
    event whose latest earlier touch (same person) is within the window."""
    touch = (mask >> (2 * i) & 1).astype(bool)
    goal = (mask >> (2 * i + 1) & 1).astype(bool)
    touched = len(np.unique(person[touch]))
    # the latest touch at or before each row, then before it
    latest = np.maximum.accumulate(np.where(touch, np.arange(len(person)), -1))
    before = np.concatenate(([-1], latest[:-1]))
    rows = np.flatnonzero(goal & (before >= 0))
    rows = rows[person[before[rows]] == person[rows]]
    within = time[rows] - time[before[rows]] <= window // timedelta(microseconds=1)
    return touched, len(np.unique(person[rows[within]]))
