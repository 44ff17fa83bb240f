"""Predictions over HTTP against a live server: a run scores customers, the profile shows
each score with when and by what it was computed, an audience selects on a score, a
lookalike audience is made from a seed; scopes and bad requests answered as JSON."""

import uuid
from datetime import timedelta
from typing import Any

import httpx

from tests.api.test_audiences_api import _until
from tests.api.test_journeys_api import BASE, token
from tests.live import LiveServer

# Each buyer lets themselves be profiled: predictions score no one else (docs/privacy.md).
PROFILING = {"consent": {"categoryPreferences": {"personalisation": True}}}


def order(who: str, days_before: float, revenue: float, shop: str = "") -> dict[str, Any]:
    return {"type": "track", "userId": who, "event": "Order Completed",
            "timestamp": (BASE - timedelta(days=days_before)).isoformat(),
            "properties": {"revenue": revenue, "shop": shop}, "context": PROFILING}  # fmt: skip


def test_a_run_scores_profiles_and_audiences_select_on_scores(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    fresh, gone, back = f"fresh-{tag}", f"gone-{tag}", f"back-{tag}"
    batch = [order(fresh, 3, 40, tag), order(gone, 300, 25, tag), order(back, 500, 10, tag),
             order(back, 2, 90, tag)]  # fmt: skip
    # enough repeat buyers for the spend model to fit
    batch += [order(f"regular{i}-{tag}", 7 + 30 * k + i, 15 + 7 * ((i * k) % 9), tag)
              for i in range(40) for k in range(1 + i % 4)]  # fmt: skip
    batch += [order(f"single{i}-{tag}", 9 + i, 16 + i % 5, tag) for i in range(80)]
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    segment = f"lapsed_{tag}"
    declared = admin.put(f"/v1/audiences/{segment}", json={
        "description": "customers who lapsed",
        "condition": {"all": [{"prediction": "lifecycle_stage", "eq": "lapsed"},
                              {"trait": "tag", "exists": False},
                              {"event": "Order Completed", "where": {"properties.revenue": 25}}]},
    })  # fmt: skip
    assert declared.status_code in (200, 201), declared.text
    with token(admin, server, "analytics:write") as runner:
        ran = runner.post("/v1/predictions/run", json={"as_of": BASE.isoformat()})
        assert ran.status_code == 200, ran.text
        body = ran.json()
        assert body["as_of"] == BASE.isoformat() and body["customers"] >= 3
        assert set(body["models"]) == {"rfm", "clv", "lifecycle", "propensity", "next_channel"}
        bad = runner.post("/v1/predictions/run", json={"models": ["magic"]})
        assert bad.status_code == 400 and bad.json()["field"] == "models"
        bad = runner.post("/v1/predictions/run", json={"at": "now"})
        assert bad.status_code == 400 and bad.json()["field"] == "at"
    with token(admin, server, "profiles:read") as reader:
        shown = reader.get(f"/v1/profiles/user_id:{fresh}").json()["predictions"]
        assert shown["lifecycle_stage"]["value"] == "new"
        assert shown["lifecycle_stage"]["model"] == "lifecycle"
        assert shown["rfm_recency"]["value"] in range(1, 6)
        assert 0 < shown["p_alive"]["value"] <= 1 and "computed_at" in shown["clv"]
        stages = {who: reader.get(f"/v1/profiles/user_id:{who}").json()["predictions"]
                  ["lifecycle_stage"]["value"] for who in (gone, back)}  # fmt: skip
        assert stages == {gone: "lapsed", back: "reactivated"}
        ids = {who: reader.get(f"/v1/profiles/user_id:{who}").json()["profile_id"]
               for who in (fresh, gone, back)}  # fmt: skip

        def members() -> set[int]:
            page = admin.get(f"/v1/audiences/{segment}/members").json()
            return {m["profile_id"] for m in page["members"]}

        # the run re-evaluated audiences: the lapsed customer who spent 25 is in, no other
        assert _until(lambda: ids[gone] in members())
        assert not members() & {ids[fresh], ids[back]}
    # a lookalike of this test's buyers (123 of them); a seed of one is refused
    regulars, lone = f"buyers_{tag}", f"lone_{tag}"
    for name, where in ((regulars, {"properties.shop": tag}),
                        (lone, {"properties.shop": tag, "properties.revenue": 25})):  # fmt: skip
        seed = {"description": "seed", "condition": {"event": "Order Completed", "where": where}}
        assert admin.put(f"/v1/audiences/{name}", json=seed).status_code in (200, 201)
    spec = {"seed": regulars, "name": f"like_{tag}", "top_percent": 10, "method": "knn"}
    with token(admin, server, "audiences:write") as marketer:
        made = marketer.post("/v1/predictions/lookalikes", json=spec)
        assert made.status_code == 200, made.text
        assert made.json()["audience"]["name"] == f"like_{tag}"
        assert made.json()["evaluation"]["held_out"] >= 20
        bad = marketer.post("/v1/predictions/lookalikes", json={**spec, "seed": "nobody"})
        assert bad.status_code == 400 and bad.json()["field"] == "seed"
        bad = marketer.post("/v1/predictions/lookalikes", json={**spec, "seed": lone})
        assert bad.status_code == 400 and "at least 100" in bad.json()["message"]
        bad = marketer.post("/v1/predictions/lookalikes", json={**spec, "method": "magic"})
        assert bad.status_code == 400 and bad.json()["field"] == "method"
    with token(admin, server, "analytics:read") as analyst:
        assert analyst.post("/v1/predictions/lookalikes", json=spec).status_code == 403
        runs = analyst.get("/v1/predictions").json()["runs"]
        cards = {r["model"]: r for r in runs}
        assert cards["clv"]["report"]["fits"][0]["model"] == "bgnbd"
        assert analyst.post("/v1/predictions/run", json={}).status_code == 403
