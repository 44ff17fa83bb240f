"""Journeys over HTTP against a live server: a person's timeline across devices, the channel
taxonomy, the most frequent paths to a goal; scopes and bad questions answered as JSON."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.live import LiveServer

BASE = datetime(2026, 5, 4, 9, tzinfo=UTC)


def at(minutes: float) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


def token(admin: httpx.Client, server: LiveServer, *scopes: str) -> httpx.Client:
    created = admin.post("/v1/tokens", json={"name": "analyst", "scopes": list(scopes)})
    assert created.status_code == 201
    return httpx.Client(base_url=server.url, timeout=30,
                        headers={"Authorization": f"Bearer {created.json()['token']}"})  # fmt: skip


def page(anonymous_id: str, minutes: float, **campaign: str) -> dict[str, Any]:
    context: dict[str, Any] = {"page": {"url": "https://shop.example/"}}
    if campaign:
        context["campaign"] = campaign
    return {"type": "page", "anonymousId": anonymous_id, "name": "Home", "context": context,
            "timestamp": at(minutes)}  # fmt: skip


def test_a_timeline_crosses_devices_and_paths_lead_to_the_goal(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    goal = f"Goal {tag}"
    phone, laptop, user = f"phone-{tag}", f"laptop-{tag}", f"user-{tag}"
    batch = [
        page(phone, 0, source="facebook", medium="paid_social", name="spring"),
        page(laptop, 60, source="google", medium="cpc", name="brand"),
        {"type": "identify", "anonymousId": phone, "userId": user, "timestamp": at(61)},
        {"type": "identify", "anonymousId": laptop, "userId": user, "timestamp": at(62)},
        {"type": "track", "userId": user, "event": goal, "timestamp": at(63)},
        # someone else reaches the goal from an email
        page(f"other-{tag}", 0, source="newsletter", medium="email"),
        {"type": "track", "anonymousId": f"other-{tag}", "event": goal, "timestamp": at(5)},
    ]
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200

    with token(admin, server, "profiles:read") as reader:
        timeline = reader.get(f"/v1/profiles/user_id:{user}/journey")
        assert timeline.status_code == 200, timeline.text
        body = timeline.json()
        assert body["summary"]["channels"] == ["paid_social", "paid_search"]
        assert body["summary"]["devices"] == [phone, laptop]
        assert [e["type"] for e in body["events"]] == ["page", "page", "identify", "identify",
                                                       "track"]  # fmt: skip
        # path analysis is for analysts, not for a site reading profiles
        assert reader.post("/v1/paths", json={"goal": goal}).status_code == 403

    with token(admin, server, "analytics:read") as analyst:
        answer = analyst.post("/v1/paths", json={"goal": goal, "lookback": "7d"})
        assert answer.status_code == 200, answer.text
        paths = answer.json()["paths"]
        assert paths == [
            {"path": ["email"], "people": 1, "conversions": 1},
            {"path": ["paid_social", "paid_search"], "people": 1, "conversions": 1},
        ]
        links = answer.json()["sankey"]["links"]
        assert {"source": "0:paid_social", "target": "1:paid_search", "value": 1} in links
        later = analyst.post("/v1/paths", json={"goal": goal, "since": at(30)})
        assert [p["path"] for p in later.json()["paths"]] == [["paid_social", "paid_search"]]

        channels = analyst.get("/v1/channels").json()
        assert "call_centre" in channels["channels"] and channels["rules"]

        bad = analyst.post("/v1/paths", json={"goal": goal, "steps": "five"})
        assert bad.status_code == 400
        assert bad.json()["field"] == "steps" and bad.json()["code"] == "invalid_request"
        assert analyst.post("/v1/paths", json={"goal": goal, "lookback": "a week"}).json()[
            "field"] == "lookback"  # fmt: skip
        assert analyst.post("/v1/paths", json={"goal": goal, "colour": 1}).json()[
            "field"] == "colour"  # fmt: skip


def test_a_journey_of_nobody_is_404(server: LiveServer, admin: httpx.Client) -> None:
    with token(admin, server, "profiles:read") as reader:
        missing = reader.get("/v1/profiles/user_id:nobody-at-all/journey")
        assert missing.status_code == 404 and missing.json()["field"] == "identifier"


def test_a_funnel_over_http_as_json_and_csv(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    viewed, bought = f"Viewed {tag}", f"Bought {tag}"
    batch = [
        {"type": "track", "anonymousId": f"{tag}-{i}", "event": name, "timestamp": at(m),
         "properties": {"tier": tier}}
        for i, tier, steps in ((0, "gold", 2), (1, "gold", 1), (2, "blue", 2))
        for name, m in ((viewed, 0), (bought, 30))[:steps]
    ]  # fmt: skip
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    definition = {"steps": [{"event": viewed}, {"event": bought}],
                  "breakdown": "properties.tier"}  # fmt: skip
    with token(admin, server, "analytics:read") as analyst:
        answer = analyst.post("/v1/funnels", json=definition)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert "conversion window is 14 days" in body["statement"]
        assert [s["entered"] for s in body["overall"]["steps"]] == [3, 2]
        assert body["overall"]["steps"][1]["time_to_convert"]["median"] == 1800.0
        by_tier = {g["group"]: [s["entered"] for s in g["steps"]] for g in body["groups"]}
        assert by_tier == {"gold": [2, 1], "blue": [1, 1]}
        as_csv = analyst.post("/v1/funnels", params={"format": "csv"}, json=definition)
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.text.splitlines()[0].startswith("overall,group,step,name,entered")
        assert len(as_csv.text.splitlines()) == 1 + 2 * 3  # everyone's and each group's steps
        bad = analyst.post("/v1/funnels", json={"steps": [{"event": viewed}]})
        assert bad.status_code == 400 and bad.json()["field"].startswith("steps")


def test_touchpoint_goals_over_http(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    goal = f"Joined {tag}"
    batch = []
    for i in range(40):  # 40 visit the sale page; 2 join within the week
        person = f"{tag}-{i}"
        batch.append({"type": "page", "anonymousId": person, "name": "Sale", "timestamp": at(i),
                      "context": {"page": {"path": f"/sale-{tag}"}}})  # fmt: skip
        if i < 2:
            batch.append({"type": "track", "anonymousId": person, "event": goal,
                          "timestamp": at(i + 60)})  # fmt: skip
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    question = {"goals": {
        "sale": {"touchpoint": {"page": f"/sale-{tag}"}, "goal": {"event": goal},
                 "window": "7d", "benchmark": 0.5},
        "sale_modest": {"touchpoint": {"page": f"/sale-{tag}"}, "goal": {"event": goal},
                        "benchmark": 0.05}}}  # fmt: skip
    with token(admin, server, "analytics:read") as analyst:
        answer = analyst.post("/v1/goals", json=question)
        assert answer.status_code == 200, answer.text
        found = {g["name"]: g for g in answer.json()["goals"]}
        assert (found["sale"]["touched"], found["sale"]["converted"]) == (40, 2)
        assert (
            found["sale"]["standing"] == "short"
            and found["sale_modest"]["standing"] == "consistent"
        )
        assert answer.json()["short"] == ["sale"]
        as_csv = analyst.post("/v1/goals", json=question, params={"format": "csv"})
        assert as_csv.text.splitlines()[0].startswith("name,touched,converted,rate")
        bad = analyst.post("/v1/goals", json={"goals": {"sale": {**question["goals"]["sale"],
                                                                  "benchmark": 2}}})  # fmt: skip
        assert bad.status_code == 400 and bad.json()["field"] == "goals.sale.benchmark"
