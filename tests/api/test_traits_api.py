"""Computed traits over HTTP against a live server: declared, backfilled from the log, kept
live, listed, recomputed, removed; bad definitions named by path; scopes enforced."""

import httpx

from tests.api.test_profiles_api import reader
from tests.conftest import SourceUnderTest
from tests.live import LiveServer


def test_a_declared_trait_is_backfilled_kept_live_and_removed(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client, source: SourceUnderTest
) -> None:
    def order(total: float, coupon: bool) -> dict[str, object]:
        return {
            "type": "track",
            "userId": "ct-u1",
            "event": "Order Completed",
            "properties": {"revenue": total, "coupon": coupon},
            "timestamp": "2026-03-03T10:00:00Z",
        }

    batch = [order(30, True), order(12.5, False), order(7.5, True)]
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    spec = {"kind": "sum", "event": "Order Completed", "value": "properties.revenue",
            "where": {"properties.coupon": True}}  # fmt: skip
    declared = admin.put("/v1/computed-traits/coupon_spend", json=spec)
    assert declared.status_code == 200, declared.text
    assert declared.json()["origin"] == "api" and declared.json()["computed_at"]
    with reader(server, admin) as client:
        found = client.get("/v1/profiles/user_id:ct-u1/traits").json()["computed_traits"]
        assert found["coupon_spend"] == 37.5  # backfilled from the log
        assert found["orders_count"] == 3 and found["lifetime_value"] == 50
        assert collector.post("/v1/track", json=order(2.5, True)).status_code == 200
        found = client.get("/v1/profiles/user_id:ct-u1").json()["computed_traits"]
        assert found["coupon_spend"] == 40  # kept live on ingest
        listed = {t["name"]: t for t in client.get("/v1/computed-traits").json()["computed_traits"]}
        assert listed["coupon_spend"]["where"] == {"properties.coupon": {"eq": True}}
        assert listed["lifetime_value"]["origin"] == "builtin"
        # a reader may list, not declare
        denied = client.put("/v1/computed-traits/other", json={"kind": "count"})
        assert denied.status_code == 403
    recomputed = admin.post("/v1/computed-traits/recompute", json={"names": ["coupon_spend"]})
    assert recomputed.json()["recomputed"] == ["coupon_spend"]
    assert admin.delete("/v1/computed-traits/coupon_spend").status_code == 204
    assert admin.delete("/v1/computed-traits/coupon_spend").status_code == 404
    assert admin.delete("/v1/computed-traits/lifetime_value").status_code == 404  # a built-in
    with reader(server, admin) as client:
        found = client.get("/v1/profiles/user_id:ct-u1").json()["computed_traits"]
        assert "coupon_spend" not in found


def test_a_bad_definition_is_refused_with_the_path_of_the_bad_part(admin: httpx.Client) -> None:
    bad = admin.put(
        "/v1/computed-traits/late_orders",
        json={"kind": "count", "where": {"properties.total": {"gt": "ten"}}},
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_definition"
    assert bad.json()["field"] == "late_orders.where.properties.total.gt"
    named = admin.put("/v1/computed-traits/Bad-Name", json={"kind": "count"})
    assert named.status_code == 400 and named.json()["field"] == "name"
    unknown = admin.post("/v1/computed-traits/recompute", json={"names": ["nope"]})
    assert unknown.status_code == 404
