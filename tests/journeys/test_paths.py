"""Path analysis and the journey timeline on a real store, against paths worked out by hand."""

from datetime import timedelta
from typing import Any

import pytest

from kenning.errors import FieldError
from kenning.journeys.channels import ChannelRules
from kenning.journeys.paths import GOAL, PathQuery, paths_sql, sankey
from kenning.journeys.timeline import entry, summary, timeline_sql
from kenning.journeys.touchpoints import TouchOptions
from kenning.store.store import Store
from tests.journeys.test_touchpoints import at, send, visit

SEARCH = {"source": "google", "medium": "cpc", "name": "brand"}
SOCIAL = {"source": "facebook", "medium": "paid_social", "name": "spring"}
MAIL = {"source": "newsletter", "medium": "email", "name": "nl-1"}


def order(anonymous_id: str, minutes: float) -> dict[str, Any]:
    return {"type": "track", "anonymousId": anonymous_id, "event": "Order Completed",
            "properties": {"revenue": 10}, "timestamp": at(minutes)}  # fmt: skip


@pytest.fixture()
def journeys(store: Store) -> Store:
    send(
        store,
        "web",
        # a: social, search, search (another visit), order; later direct, order
        visit("a", 0, utm=SOCIAL), visit("a", 600, utm=SEARCH), visit("a", 1200, utm=SEARCH),
        order("a", 1210), visit("a", 2000), order("a", 2010),
        # b: social, search, order
        visit("b", 0, utm=SOCIAL), visit("b", 300, utm=SEARCH), order("b", 310),
        # c: email, social, search, order
        visit("c", 0, utm=MAIL), visit("c", 100, utm=SOCIAL), visit("c", 200, utm=SEARCH),
        order("c", 210),
        # d: browses and never buys
        visit("d", 0, utm=SOCIAL),
        # e: a touch too old for the lookback, then direct and an order
        visit("e", 0, utm=MAIL), visit("e", 40 * 24 * 60), order("e", 40 * 24 * 60 + 5),
    )  # fmt: skip
    return store


def run(store: Store, query: PathQuery) -> list[tuple[list[str], int, int]]:
    params: list[Any] = []
    sql = paths_sql(query, TouchOptions(ChannelRules.default()), params)
    with store.reader() as con:
        return [(list(p), n, c) for p, n, c in con.execute(sql, params).fetchall()]


def test_the_most_frequent_paths_to_a_goal(journeys: Store) -> None:
    assert run(journeys, PathQuery("Order Completed")) == [
        (["direct"], 2, 2),  # ties in alphabetical order
        (["paid_social", "paid_search"], 2, 2),
        (["email", "paid_social", "paid_search"], 1, 1),
    ]
    unfolded = run(journeys, PathQuery("Order Completed", fold_repeats=False))
    assert (["paid_social", "paid_search", "paid_search"], 1, 1) in unfolded


def test_anchors_and_the_step_limit(journeys: Store) -> None:
    assert run(journeys, PathQuery("Order Completed", steps=1)) == [
        (["paid_search"], 3, 3),
        (["direct"], 2, 2),
    ]
    # from paid social on: paths that never passed it are left out
    assert run(journeys, PathQuery("Order Completed", start="paid_social", steps=1)) == [
        (["paid_social"], 3, 3)
    ]
    assert run(journeys, PathQuery("Order Completed", start="email")) == [
        (["email", "paid_social", "paid_search"], 1, 1)
    ]
    by_campaign = run(journeys, PathQuery("Order Completed", label="campaign", steps=2))
    assert by_campaign[0] == (["spring", "brand"], 3, 3)


def test_a_sankey_graph_carries_every_conversion_to_the_goal(journeys: Store) -> None:
    rows = run(journeys, PathQuery("Order Completed"))
    graph = sankey(rows)
    into_goal = sum(link["value"] for link in graph["links"] if link["target"] == GOAL)
    assert into_goal == sum(c for _, _, c in rows) == 5
    assert {"id": "0:paid_social", "label": "paid_social", "step": 0} in graph["nodes"]
    assert {"source": "0:paid_social", "target": "1:paid_search", "value": 2} in graph["links"]


@pytest.mark.parametrize(
    ("options", "field"),
    [({"goal": ""}, "goal"), ({"label": "device"}, "label"), ({"steps": 0}, "steps"),
     ({"lookback": timedelta(0)}, "lookback"), ({"top": 0}, "top")],
)  # fmt: skip
def test_a_bad_query_names_its_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as refused:
        PathQuery(**{"goal": "Order Completed", **options})
    assert refused.value.field == field


def test_a_timeline_crosses_devices_and_marks_touches(store: Store) -> None:
    send(store, "web", visit("phone", 0, utm=SOCIAL), visit("phone", 1))
    send(store, "web", visit("laptop", 60, utm=SEARCH), order("laptop", 61))
    send(store, "web", {"type": "identify", "anonymousId": "phone", "userId": "u", "timestamp":
                        at(70)}, {"type": "identify", "anonymousId": "laptop", "userId": "u",
                                  "timestamp": at(71)})  # fmt: skip
    with store.reader() as con:
        (person,) = con.execute("SELECT DISTINCT profile_id FROM kenning_events").fetchone() or ()
        params: list[Any] = []
        sql = timeline_sql(TouchOptions(ChannelRules.default(), profiles=[person]), params,
                           limit=100)  # fmt: skip
        entries = [entry(r) for r in con.execute(sql, params).fetchall()]
        params = []
        sql = timeline_sql(TouchOptions(ChannelRules.default(), profiles=[person]), params, limit=2)
        newest = [entry(r) for r in con.execute(sql, params).fetchall()]
    assert [(e["type"], e["channel"], e["touch"]) for e in entries] == [
        ("page", "paid_social", True), ("page", "direct", True), ("page", "paid_search", True),
        ("track", "direct", False), ("identify", "direct", False), ("identify", "direct", False),
    ]  # fmt: skip
    assert summary(entries)["devices"] == ["phone", "laptop"]
    assert summary(entries)["channels"] == ["paid_social", "direct", "paid_search"]
    assert [e["type"] for e in newest] == ["identify", "identify"]
