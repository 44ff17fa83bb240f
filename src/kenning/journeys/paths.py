"""Path analysis: the most frequent ways people reach a goal, ready for a Sankey diagram.

A path ends at a goal event (``Order Completed``): it is the person's touches before it,
within the lookback and after their previous goal event, labelled by channel (or by event
name, or by campaign). Consecutive repeats of one label are folded into one step unless asked
otherwise (three paid-search visits read as one step). With a start anchor, a path begins at
the anchor's first step, and paths that never pass it are left out; a step limit keeps the
first steps after the anchor, or without one the steps nearest the goal. The answer counts
each distinct path, and gives the same as a Sankey graph: a node per (step, label), the goal
last, and links weighted by the people who went that way.
"""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kenning.errors import FieldError
from kenning.journeys.touchpoints import TouchOptions, events_sql, touches_sql

LABELS = ("channel", "event", "campaign")
GOAL = "goal"


@dataclass(frozen=True)
class PathQuery:
    goal: str  # the goal event's name
    lookback: timedelta = timedelta(days=30)
    label: str = "channel"
    start: str | None = None  # the start anchor, a label
    steps: int = 5
    fold_repeats: bool = True
    top: int = 20

    def __post_init__(self) -> None:
        if not self.goal:
            raise FieldError("name the goal event", "goal")
        if self.label not in LABELS:
            raise FieldError(f"label is one of {', '.join(LABELS)}", "label")
        if not 1 <= self.steps <= 50:
            raise FieldError("steps is between 1 and 50", "steps")
        if self.lookback <= timedelta(0):
            raise FieldError("the lookback is positive", "lookback")
        if not 1 <= self.top <= 10_000:
            raise FieldError("top is between 1 and 10000", "top")


def paths_sql(
    query: PathQuery,
    options: TouchOptions,
    params: list[Any],
    *,
    goals_since: datetime | None = None,
) -> str:
    """Rows (path VARCHAR[], people BIGINT, conversions BIGINT), most frequent first: the
    paths to goals in ``options``' range, from ``goals_since`` on when given (the range then
    starts a lookback earlier, for the touches before the first goals)."""
    touches = touches_sql(options, params, exclude=[query.goal])
    goal_events = events_sql(options, params)
    params.append(query.goal)
    label = {"channel": "channel", "event": "coalesce(event, type)",
             "campaign": "coalesce(campaign, channel)"}[query.label]  # fmt: skip
    params.append(int(query.lookback.total_seconds() * 1_000_000))
    params.append(goals_since or datetime.min.replace(tzinfo=UTC))
    folded = (
        "list_filter(path, lambda x, i: i = 1 OR x <> path[i - 1])"
        if query.fold_repeats
        else "path"
    )
    if query.start is not None:
        params.append(query.start)
        first = "list_position(folded, ?)"
        anchored = f"list_slice(folded, {first}, {first} + {query.steps - 1})"
        params.append(query.start)
        keep = "list_position(folded, ?) IS NOT NULL"
        params.append(query.start)
    else:
        anchored = f"list_slice(folded, -{query.steps}, -1)"
        keep = "true"
    return f"""
        WITH touch AS (SELECT profile_id, ts, seq, {label} AS label FROM ({touches})),
             goal AS (SELECT profile_id, ts AS goal_ts,
                             lag(ts) OVER (PARTITION BY profile_id ORDER BY ts, seq)
                                 AS previous_goal
                      FROM ({goal_events}) WHERE event = ?),
             assigned AS (
                 SELECT t.profile_id, g.goal_ts, t.ts, t.seq, t.label
                 FROM touch t ASOF JOIN goal g
                   ON t.profile_id = g.profile_id AND t.ts <= g.goal_ts
                 WHERE epoch_us(g.goal_ts) - epoch_us(t.ts) <= ?
                   AND (g.previous_goal IS NULL OR t.ts > g.previous_goal)
                   AND g.goal_ts >= ?::TIMESTAMPTZ),
             journeys AS (
                 SELECT profile_id, list(label ORDER BY ts, seq) AS path
                 FROM assigned GROUP BY profile_id, goal_ts),
             folded AS (SELECT profile_id, {folded} AS folded FROM journeys)
        SELECT path, count(DISTINCT profile_id) AS people, count(*) AS conversions
        FROM (SELECT profile_id, {anchored} AS path FROM folded WHERE {keep})
        GROUP BY path ORDER BY conversions DESC, people DESC, path LIMIT {query.top}"""


def sankey(rows: list[tuple[list[str], int, int]]) -> dict[str, Any]:
    """Nodes per (step, label) with the goal last; links weighted by conversions."""
    nodes: dict[str, dict[str, Any]] = {}
    links: dict[tuple[str, str], int] = {}
    for path, _people, conversions in rows:
        ids = [f"{step}:{label}" for step, label in enumerate(path)] + [GOAL]
        for step, (node, label) in enumerate(zip(ids, [*path, GOAL], strict=True)):
            nodes.setdefault(node, {"id": node, "label": label, "step": step if node != GOAL
                                    else None})  # fmt: skip
        for source, target in itertools.pairwise(ids):
            links[source, target] = links.get((source, target), 0) + conversions
    return {
        "nodes": list(nodes.values()),
        "links": [{"source": s, "target": t, "value": v} for (s, t), v in links.items()],
    }
