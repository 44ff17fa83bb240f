"""Journey questions asked of a store, as the API and the CLI ask them: a person's timeline,
the most frequent paths to a goal, a funnel, touchpoint goals. Each takes the request as a
mapping (a JSON body, CLI options), refuses a bad one with the field's path, and answers with
plain data."""

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from kenning.errors import FieldError
from kenning.journeys.declarations import parse_time, parse_window
from kenning.journeys.funnels import parse_funnel, run_funnel
from kenning.journeys.goals import DEFAULT_CONFIDENCE, goal_report, parse_goals
from kenning.journeys.paths import LABELS, PathQuery, paths_sql, sankey
from kenning.journeys.settings import JourneySettings
from kenning.journeys.timeline import DEFAULT_LIMIT, entry, summary, timeline_sql

if TYPE_CHECKING:
    from kenning.store.store import Store

PATH_KEYS = frozenset(
    {"goal", "lookback", "label", "start", "steps", "fold_repeats", "top", "since", "until"}
)


def journey(
    store: "Store", profile_id: int, settings: JourneySettings, *, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """The person's events, newest ``limit``, oldest first, with what they crossed."""
    params: list[Any] = []
    sql = timeline_sql(settings.touches(profiles=[profile_id]), params, limit=limit)
    with store.reader() as con:
        entries = [entry(row) for row in con.execute(sql, params).fetchall()]
    return {"profile_id": profile_id, "summary": summary(entries), "events": entries}


def parse_paths(request: Mapping[str, Any]) -> tuple[PathQuery, dict[str, Any]]:
    """A path question and its time range (``since``/``until``) from a mapping."""
    unknown = sorted(set(request) - PATH_KEYS)
    if unknown:
        raise FieldError(f"unknown field; known: {', '.join(sorted(PATH_KEYS))}", unknown[0])
    goal = request.get("goal")
    if not isinstance(goal, str) or not goal:
        raise FieldError("name the goal event", "goal")
    label = request.get("label", "channel")
    if label not in LABELS:
        raise FieldError(f"label is one of {', '.join(LABELS)}", "label")
    start = request.get("start")
    if start is not None and not isinstance(start, str):
        raise FieldError("the start anchor is a label (a channel, an event, a campaign)", "start")
    fold = request.get("fold_repeats", True)
    if not isinstance(fold, bool):
        raise FieldError("fold_repeats is true or false", "fold_repeats")
    query = PathQuery(
        goal,
        lookback=parse_window(request.get("lookback", "30d"), "lookback"),
        label=label,
        start=start,
        steps=_whole(request.get("steps", 5), "steps"),
        fold_repeats=fold,
        top=_whole(request.get("top", 20), "top"),
    )
    scope = {
        "since": parse_time(request.get("since"), "since"),
        "until": parse_time(request.get("until"), "until"),
    }
    return query, scope


def top_paths(
    store: "Store", request: Mapping[str, Any], settings: JourneySettings
) -> dict[str, Any]:
    """The most frequent paths to the goal and their Sankey graph."""
    query, scope = parse_paths(request)
    # Touches before the range's start still lead to goals inside it.
    since = scope["since"] - query.lookback if scope["since"] is not None else None
    params: list[Any] = []
    touches = settings.touches(since=since, until=scope["until"])
    sql = paths_sql(query, touches, params, goals_since=scope["since"])
    with store.reader() as con:
        rows = [(list(p), int(n), int(c)) for p, n, c in con.execute(sql, params).fetchall()]
    return {
        "goal": query.goal,
        "label": query.label,
        "lookback_days": query.lookback / timedelta(days=1),
        "start": query.start,
        "steps": query.steps,
        "paths": [{"path": p, "people": n, "conversions": c} for p, n, c in rows],
        "sankey": sankey(rows),
    }


def funnel(store: "Store", request: Mapping[str, Any], settings: JourneySettings) -> dict[str, Any]:
    """A funnel's figures (docs/funnels.md), with ``rows``: the same, one row per step and
    group, as CSV takes them."""
    definition = parse_funnel(request)
    with store.reader() as con:
        result = run_funnel(con, definition, channels=settings.rules)
    return {**result.to_dict(), "rows": result.rows()}


GOALS_KEYS = frozenset({"goals", "since", "until", "confidence"})


def goals(store: "Store", request: Mapping[str, Any], _settings: JourneySettings) -> dict[str, Any]:
    """Each touchpoint's conversion rate against its benchmark, and which fall short
    (docs/funnels.md), with ``rows`` for CSV."""
    unknown = sorted(set(request) - GOALS_KEYS)
    if unknown:
        raise FieldError(f"unknown field; known: {', '.join(sorted(GOALS_KEYS))}", unknown[0])
    declared = parse_goals(request.get("goals"))
    confidence = request.get("confidence", DEFAULT_CONFIDENCE)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise FieldError("confidence is between 0 and 1, like 0.95", "confidence")
    with store.reader() as con:
        report = goal_report(
            con,
            declared,
            since=parse_time(request.get("since"), "since"),
            until=parse_time(request.get("until"), "until"),
            confidence=float(confidence),
        )
    return {**report.to_dict(), "rows": report.rows()}


def _whole(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError("a whole number", field)
    return value
