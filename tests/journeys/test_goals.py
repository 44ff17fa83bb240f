"""Touchpoint goals: people touched and converted against a plain-Python count on random
logs, the Wilson interval against scipy, the standing a benchmark gives, the shorthands on
ingested Segment messages, and refused declarations naming their field."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scipy import stats

from kenning.errors import FieldError
from kenning.ingest.pipeline import prepare_messages
from kenning.journeys.declarations import EventFilter
from kenning.journeys.goals import (
    GoalFigures,
    Standing,
    goal_report,
    parse_goals,
    parse_touchpoint,
    wilson_interval,
)
from kenning.profiles.computed.definitions import Condition
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.journeys.funnel_data import T0, LoggedEvent, matches, people, random_log, write_log

GOALS: dict[str, Any] = {
    "sale_page": {
        "touchpoint": {"type": "page", "where": {"name": "Sale"}},
        "goal": {"event": "C"},
        "window": "1h",
        "benchmark": 0.5,
    },
    "a_then_b": {"touchpoint": {"event": "A", "where": {"properties.k": {"in": [1, 2]}}},
                 "goal": {"event": "B"}, "window": "20m", "benchmark": 0.1},
    "a_then_a": {"touchpoint": {"event": "A"}, "goal": {"event": "A"}, "window": "90m",
                 "benchmark": 0.9},
    "x_then_shoes": {"touchpoint": {"event": "X"},
                     "goal": {"event": ["A", "B"], "where": {"properties.cat": "shoes"}},
                     "benchmark": 0.3},
}  # fmt: skip


def reference(log: list[LoggedEvent], name: str, since: datetime | None) -> tuple[int, int]:
    """(touched, converted), person by person, touch by touch."""
    (goal,) = parse_goals({name: GOALS[name]})
    touched = converted = 0
    for _, events in people(log):
        touches = [
            i
            for i, e in enumerate(events)
            if matches(goal.touchpoint, e) and (since is None or e.at >= since)
        ]
        if not touches:
            continue
        touched += 1
        converted += any(
            matches(goal.goal, events[j]) and events[j].at - events[i].at <= goal.window
            for i in touches
            for j in range(i + 1, len(events))
        )
    return touched, converted


@pytest.fixture(scope="module")
def logs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[tuple[Store, list[LoggedEvent]]]]:
    stores = []
    for seed in range(6):
        log = random_log(random.Random(seed), people=40, events=300, span_minutes=600)
        store = Store.open(tmp_path_factory.mktemp(f"log{seed}") / "k.duckdb")
        write_log(store, log)
        stores.append((store, log))
    yield stores
    for store, _ in stores:
        store.close()


@pytest.mark.parametrize("since", [None, T0 + timedelta(minutes=200)])
def test_people_touched_and_converted_as_counted_by_hand(
    logs: list[tuple[Store, list[LoggedEvent]]], since: datetime | None
) -> None:
    goals = parse_goals(GOALS)
    totals = dict.fromkeys(GOALS, (0, 0))
    for store, log in logs:
        with store.reader() as con:
            report = goal_report(con, goals, since=since)
        found = {g.goal.name: (g.touched, g.converted) for g in report.goals}
        assert found == {name: reference(log, name, since) for name in GOALS}
        totals = {n: (totals[n][0] + t, totals[n][1] + c) for n, (t, c) in found.items()}
    # the counts mean something: people touch, some convert, some do not
    assert all(0 < c < t for t, c in totals.values()), totals


@pytest.mark.parametrize(
    ("converted", "people"), [(0, 3), (1, 10), (5, 1000), (37, 40), (40, 40), (12, 30)]
)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_the_wilson_interval_is_scipy_s(converted: int, people: int, confidence: float) -> None:
    expected = stats.binomtest(converted, people).proportion_ci(confidence, method="wilson")
    assert wilson_interval(converted, people, confidence) == pytest.approx(
        (expected.low, expected.high)
    )


@pytest.mark.parametrize(
    ("touched", "converted", "benchmark", "standing"),
    [
        (3, 0, 0.05, Standing.CONSISTENT),  # three visitors say nothing
        (1000, 5, 0.05, Standing.SHORT),
        (40, 1, 0.3, Standing.SHORT),
        (1000, 80, 0.05, Standing.ABOVE),
        (1000, 55, 0.05, Standing.CONSISTENT),
        (0, 0, 0.05, Standing.NO_DATA),
    ],
)
def test_a_touchpoint_falls_short_only_when_its_interval_does(
    touched: int, converted: int, benchmark: float, standing: Standing
) -> None:
    (goal,) = parse_goals(
        {"t": {"touchpoint": {"page": "/"}, "goal": {"event": "E"}, "benchmark": benchmark}}
    )
    low, high = wilson_interval(converted, touched, 0.95) if touched else (None, None)
    figures = GoalFigures(goal, touched, converted, low, high)
    assert figures.standing == standing
    assert figures.falls_short == (standing == Standing.SHORT)


def test_the_shorthands() -> None:
    assert parse_touchpoint({"page": "/sale"}, "t") == EventFilter(
        types=("page",), where=(Condition("context.page.path", "eq", "/sale"),)
    )
    assert parse_touchpoint({"screen": "Home"}, "t") == EventFilter(
        types=("screen",), where=(Condition("name", "eq", "Home"),)
    )
    assert parse_touchpoint({"email": "w1", "where": {"properties.variant": "b"}}, "t") == (
        EventFilter(
            events=("Email Opened",),
            where=(
                Condition("properties.campaign_id", "eq", "w1"),
                Condition("properties.variant", "eq", "b"),
            ),
        )
    )
    assert parse_touchpoint({"campaign": "spring"}, "t") == EventFilter(
        types=("track", "page", "screen"),
        where=(Condition("context.campaign.name", "eq", "spring"),),
    )


def _message(user: str, minutes: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "userId": user,
        "messageId": f"{user}-{minutes}-{kind}",
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
        **fields,
    }


def test_a_report_over_ingested_messages(store: Store) -> None:
    sale = {"context": {"page": {"path": "/sale"}}}
    spring = {"context": {"campaign": {"name": "spring"}}}
    order = {"event": "Order Completed", "properties": {"total": 80}}
    messages = [
        _message("ann", 0, "page", **sale),
        _message("ann", 10, "track", **order),
        _message("bob", 0, "page", **sale),
        _message("bob", 60 * 24 * 8, "track", **order),  # after the week
        _message("cat", 0, "page", **sale),
        _message("cat", 1, "page", **sale),
        _message("cat", 2, "track", **{**order, "properties": {"total": 20}}),  # too small
        _message("dan", 0, "screen", name="Home"),
        _message("dan", 5, "track", **order, **spring),
        _message("eve", 0, "track", event="Email Opened", properties={"campaign_id": "w1"}),
        _message("eve", 3, "track", **order),
        _message("fay", 3, "track", **order),  # before her touch
        _message("fay", 4, "page", **sale),
    ]
    received = datetime(2026, 6, 1, tzinfo=UTC)  # after every timestamp: none is corrected
    prepared = prepare_messages(messages, source_id="web", received_at=received, limits=Limits())
    assert not prepared.rejections
    store.write_events(prepared.events).result()
    goals = parse_goals(
        {
            "sale_page": {"touchpoint": {"page": "/sale"}, "window": "7d", "benchmark": 0.9,
                          "goal": {"event": "Order Completed",
                                   "where": {"properties.total": {"gte": 50}}}},
            "home_screen": {"touchpoint": {"screen": "Home"}, "benchmark": 0.5,
                            "goal": {"event": "Order Completed"}},
            "spring": {"touchpoint": {"campaign": "spring"}, "benchmark": 0.5,
                       "goal": {"event": "Order Completed"}},
            "welcome": {"touchpoint": {"email": "w1"}, "benchmark": 0.5, "window": "2m",
                        "goal": {"event": "Order Completed"}},
        }
    )  # fmt: skip
    with store.reader() as con:
        report = goal_report(con, goals)
    found = {g.goal.name: (g.touched, g.converted, g.standing.value) for g in report.goals}
    assert found == {
        # ann, bob, cat, fay touched; ann converted: even 1 in 4 is short of 90%
        "sale_page": (4, 1, "short"),
        "home_screen": (1, 1, "consistent"),
        "spring": (1, 0, "consistent"),  # the touch is the order itself: nothing follows
        "welcome": (1, 0, "consistent"),  # 3 minutes after, the window is 2
    }
    document = report.to_dict()
    assert document["interval"] == "Wilson score, 95%"
    assert document["goals"][0] == {
        "name": "sale_page",
        "touchpoint": {"type": "page", "where": {"context.page.path": {"eq": "/sale"}}},
        "goal": {"event": "Order Completed", "where": {"properties.total": {"gte": 50.0}}},
        "window": "7 days",
        "touched": 4,
        "converted": 1,
        "rate": 0.25,
        "benchmark": 0.9,
        "interval": list(wilson_interval(1, 4, 0.95)),
        "standing": "short",
        "falls_short": True,
    }
    assert document["short"] == ["sale_page"] and len(report.rows()) == 4


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ([], "goals"),
        ({"g": []}, "goals.g"),
        ({"g": {"touchpoint": {"page": "/"}, "goal": {"event": "E"}}}, "goals.g.benchmark"),
        ({"g": {"touchpoint": {"page": "/"}, "goal": {"event": "E"}, "benchmark": 2}},
         "goals.g.benchmark"),
        ({"g": {"touchpoint": {"page": 3}, "goal": {"event": "E"}, "benchmark": 0.1}},
         "goals.g.touchpoint.page"),
        ({"g": {"touchpoint": {"page": "/", "event": "E"}, "goal": {"event": "E"},
                "benchmark": 0.1}}, "goals.g.touchpoint.event"),
        ({"g": {"touchpoint": {"where": {"a": 1}}, "goal": {"event": "E"}, "benchmark": 0.1}},
         "goals.g.touchpoint.event"),
        ({"g": {"touchpoint": {"page": "/"}, "goal": {"event": "E", "where": {"a": {"gt": "x"}}},
                "benchmark": 0.1}}, "goals.g.goal.where.a.gt"),
        ({"g": {"touchpoint": {"page": "/"}, "goal": "E", "benchmark": 0.1}}, "goals.g.goal"),
        ({"g": {"touchpoint": {"page": "/"}, "goal": {"event": "E"}, "benchmark": 0.1,
                "window": "soon"}}, "goals.g.window"),
        ({"g": {"touchpoint": {"page": "/"}, "goal": {"event": "E"}, "benchmark": 0.1,
                "colour": 1}}, "goals.g.colour"),
    ],
)  # fmt: skip
def test_a_bad_goal_names_its_field(spec: Any, field: str) -> None:
    with pytest.raises(FieldError) as raised:
        parse_goals(spec)
    assert raised.value.field == field


def test_confidence_is_a_share(store: Store) -> None:
    goals = parse_goals(GOALS)
    with store.reader() as con, pytest.raises(FieldError) as raised:
        goal_report(con, goals, confidence=95)
    assert raised.value.field == "confidence"


def test_an_empty_log_has_no_data(store: Store) -> None:
    with store.reader() as con:
        report = goal_report(con, parse_goals(GOALS), until=datetime(2030, 1, 1, tzinfo=UTC))
    assert {g.standing for g in report.goals} == {Standing.NO_DATA}
    assert report.to_dict()["goals"][0]["interval"] is None
