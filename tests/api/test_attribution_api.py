"""Attribution over HTTP against a live server: conversions credited by each model with return
on spend, first conversions, path files; spend imported and summed, with scopes and a bad file
refused whole."""

import uuid
from typing import Any

import httpx

from tests.api.test_journeys_api import at, page, token
from tests.live import LiveServer

SPEND = (
    "date,channel,campaign,spend,currency\n"
    "2031-01-01,paid_search,brand-x,10.5,EUR\n2031-01-02,paid_search,brand-x,4.5,EUR\n"
    "2031-01-02,email,,1,EUR\n"
)


def test_spend_is_imported_summed_and_a_bad_file_changes_nothing(
    server: LiveServer, admin: httpx.Client
) -> None:
    with token(admin, server, "analytics:read") as analyst:
        refused = analyst.put("/v1/spend", content=SPEND)
        assert refused.status_code == 403
    with token(admin, server, "analytics:write", "analytics:read") as owner:
        stored = owner.put("/v1/spend", content=SPEND, headers={"Content-Type": "text/csv"})
        assert stored.status_code == 200, stored.text
        assert stored.json()["rows"] == 3 and stored.json()["first_day"] == "2031-01-01"
        window = {"since": "2031-01-01", "until": "2031-01-03"}
        summed = owner.get("/v1/spend", params=window).json()["spend"]
        assert summed == {"paid_search": 15.0, "email": 1.0}
        by_campaign = owner.get("/v1/spend", params={**window, "by": "campaign"}).json()
        assert by_campaign["spend"] == {"brand-x": 15.0}
        bad = SPEND + "2031-01-03,paid_search,brand-x,-2,EUR\n"
        answer = owner.put("/v1/spend", content=bad)
        assert answer.status_code == 400
        assert answer.json() == {"code": "invalid_request", "field": "body:5.spend",
                                 "message": "'-2' is no amount (a number, 0 or more)"}  # fmt: skip
        # nothing of the bad file was kept
        assert owner.get("/v1/spend", params={"since": "2031-01-03"}).json()["spend"] == {}
        assert owner.get("/v1/spend", params={"by": "device"}).status_code == 400


def credited(model: dict[str, Any], *fields: str) -> dict[str, tuple[float, ...]]:
    """The channels a model credited, with the fields asked for. Other tests share this store:
    their journeys add channels that this test's conversions give no credit."""
    return {
        c["channel"]: tuple(c[field] for field in fields)
        for c in model["channels"]
        if c["conversions"]
    }


def test_attribution_and_acquisition_over_http(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    bought = f"Bought {tag}"
    batch = [
        page(f"a-{tag}", 0, source="facebook", medium="paid_social"),
        page(f"a-{tag}", 60, source="google", medium="cpc"),
        {"type": "track", "anonymousId": f"a-{tag}", "event": bought, "timestamp": at(61),
         "properties": {"revenue": 30}},
        page(f"a-{tag}", 200, source="google", medium="cpc"),
        {"type": "track", "anonymousId": f"a-{tag}", "event": bought, "timestamp": at(201),
         "properties": {"revenue": 10}},
        page(f"b-{tag}", 0, source="google", medium="cpc"),
        {"type": "track", "anonymousId": f"b-{tag}", "event": bought, "timestamp": at(1),
         "properties": {"total": 20}},
    ]  # fmt: skip
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    with token(admin, server, "analytics:read") as analyst:
        question = {"conversion": bought, "models": ["first_touch", "linear", "markov"]}
        answer = analyst.post("/v1/attribution", json=question)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total_conversions"] == 3 and body["total_value"] == 60
        first = credited(body["models"]["first_touch"], "conversions", "value")
        assert first == {"paid_social": (1.0, 30.0), "paid_search": (2.0, 30.0)}
        linear = credited(body["models"]["linear"], "conversions")
        assert linear == {"paid_social": (0.5,), "paid_search": (2.5,)}
        assert {r["model"] for r in body["roi"]} == {"first_touch", "linear", "markov"}
        as_csv = analyst.post("/v1/attribution", json=question, params={"format": "csv"})
        assert as_csv.text.splitlines()[0].startswith("model,channel,conversions,value")
        # each person's first purchase only
        firsts = analyst.post("/v1/attribution/acquisition",
                              json={"events": [bought], "models": ["last_touch"]})  # fmt: skip
        [event] = firsts.json()["events"]
        assert event["total_conversions"] == 2
        assert credited(event["models"]["last_touch"], "conversions") == {"paid_search": (2.0,)}
        paths = "path,conversions,nulls,value\nsearch > email,3,1,30\nemail,1,4,5\n"
        answer = analyst.post(
            "/v1/attribution/paths", content=paths,
            params={"path_col": "path", "conv_col": "conversions", "null_col": "nulls",
                    "value_col": "value", "models": "last_touch,shapley"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        last = {c["channel"]: c["conversions"]
                for c in answer.json()["models"]["last_touch"]["channels"]}  # fmt: skip
        assert last == {"email": 4.0, "search": 0.0}
        bad = analyst.post("/v1/attribution", json={**question, "models": ["magic"]})
        assert bad.status_code == 400 and bad.json()["field"] == "models"
        bad = analyst.post("/v1/attribution/paths", content=paths, params={"conv_col": "x"})
        assert bad.status_code == 400 and "x" in bad.json()["message"]
