"""Audiences over HTTP against a live server: declared and evaluated, entered and left in real
time as events arrive, members paged and exported as CSV, previewed before saving; bad
conditions named by path; scopes enforced."""

import csv
import io
import time
import uuid
from collections.abc import Callable

import httpx

from tests.api.test_profiles_api import reader
from tests.conftest import SourceUnderTest
from tests.live import LiveServer


def _until(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll ``check`` until it holds; the bound is generous, not a target."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _audiences_of(client: httpx.Client, identifier: str) -> set[str]:
    found = client.get(f"/v1/profiles/{identifier}/audiences")
    assert found.status_code == 200, found.text
    return {a["name"] for a in found.json()["audiences"]}


def test_an_audience_is_entered_and_left_in_real_time(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client, source: SourceUnderTest
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"big_spenders_{tag}"
    user = f"aud-{tag}"
    condition = {
        "all": [
            {"trait": "campaign_tag", "eq": tag},
            {"event": "Order Completed", "where": {"properties.revenue": {"gte": 100}}},
            {"consent": "marketing_email"},
        ]
    }
    declared = admin.put(f"/v1/audiences/{name}", json={"description": "d", "condition": condition})
    assert declared.status_code == 200, declared.text
    assert declared.json()["size"] == 0 and declared.json()["condition"] == condition
    identify = {
        "type": "identify",
        "userId": user,
        "traits": {"campaign_tag": tag},
        "context": {"consent": {"categoryPreferences": {"marketing_email": True}}},
    }
    assert collector.post("/v1/identify", json=identify).status_code == 200
    small = {"userId": user, "event": "Order Completed", "properties": {"revenue": 20}}
    assert collector.post("/v1/track", json=small).status_code == 200
    with reader(server, admin) as client:
        time.sleep(0.3)  # the evaluator has had its chance: still not in
        assert name not in _audiences_of(client, f"user_id:{user}")
        big = {"userId": user, "event": "Order Completed", "properties": {"revenue": 150}}
        assert collector.post("/v1/track", json=big).status_code == 200
        assert _until(lambda: name in _audiences_of(client, f"user_id:{user}"))
        # Withdrawing consent takes them out again.
        withdraw = {**identify, "context": {"consent": {"categoryPreferences": {}}}}
        withdraw["context"]["consent"]["categoryPreferences"]["marketing_email"] = False
        assert collector.post("/v1/identify", json=withdraw).status_code == 200
        assert _until(lambda: name not in _audiences_of(client, f"user_id:{user}"))
        changes = client.get(f"/v1/profiles/user_id:{user}/audiences").json()["changes"]
        mine = [c for c in changes if c["audience"] == name]
        assert [c["event"] for c in mine] == ["Audience Exited", "Audience Entered"]
        assert {c["cause"] for c in mine} == {"realtime"}
        timeline = client.get(f"/v1/profiles/user_id:{user}/events", params={"limit": 3})
        items = timeline.json()["items"]
        # The exit follows the withdrawal that caused it, the entry the order that did.
        assert [i.get("event", i["type"]) for i in items] == [
            "Audience Exited", "identify", "Audience Entered"
        ]  # fmt: skip
        assert items[0]["properties"] == {"audience": name, "cause": "realtime"}
        assert items[0]["context"]["kenning"]["derived"] is True
        rest = client.get(
            f"/v1/profiles/user_id:{user}/events",
            params={"cursor": timeline.json()["next_cursor"]},
        ).json()["items"]
        assert [i.get("event") for i in rest][:2] == ["Order Completed", "Order Completed"]
        assert rest[0]["properties"]["revenue"] == 150
        entered = client.get(
            f"/v1/profiles/user_id:{user}/events", params={"event": "Audience Entered"}
        ).json()["items"]
        assert [i["properties"]["audience"] for i in entered] == [name]
        described = client.get(f"/v1/audiences/{name}").json()
        assert described["size"] == 0 and described["sizes"][0]["cause"] == "batch"


def test_members_are_paged_and_exported_and_a_preview_saves_nothing(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    batch = [
        {"type": "identify", "userId": f"m-{tag}-{i}", "traits": {"cohort": tag, "n": i}}
        for i in range(7)
    ]
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    condition = {"all": [{"trait": "cohort", "eq": tag}, {"trait": "n", "lt": 5}]}
    previewed = admin.post("/v1/audiences/preview", json={"condition": condition})
    assert previewed.status_code == 200, previewed.text
    assert previewed.json()["size"] == 5 and len(previewed.json()["sample"]) == 5
    assert all(a["name"] != "preview" for a in admin.get("/v1/audiences").json()["audiences"])
    name = f"cohort_{tag}"
    assert admin.put(f"/v1/audiences/{name}", json={"condition": condition}).status_code == 200
    with reader(server, admin) as client:
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"/v1/audiences/{name}/members", params=params).json()
            seen += [m["profile_id"] for m in page["members"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 5 and seen == sorted(seen)
        exported = client.get(f"/v1/audiences/{name}/members", params={"format": "csv"})
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [int(r["profile_id"]) for r in rows] == seen
        # A profiles:read token may read audiences, not declare them.
        assert client.put(f"/v1/audiences/{name}", json={"condition": condition}).status_code == 403
    member = seen[0]
    assert admin.delete(f"/v1/audiences/{name}").status_code == 204
    assert admin.get(f"/v1/audiences/{name}/members").status_code == 404
    # Its members left it, recorded as every exit is.
    left = admin.get(f"/v1/profiles/profile_id:{member}/audiences").json()["changes"]
    assert {"event": "Audience Exited", "audience": name, "cause": "removed"} in [
        {k: c[k] for k in ("event", "audience", "cause")} for c in left
    ]


def test_bad_conditions_are_refused_with_the_path_of_the_bad_node(admin: httpx.Client) -> None:
    bad = admin.put(
        "/v1/audiences/broken",
        json={"condition": {"all": [{"trait": "email", "exists": True}, {"computed": "x"}]}},
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_audience"
    assert bad.json()["field"] == "condition.all[1]"
    unknown = admin.put("/v1/audiences/reads_nothing", json={"condition": {"audience": "nope"}})
    assert unknown.status_code == 400 and "nope" in unknown.json()["message"]
    schema = admin.get("/v1/audiences/schema").json()
    assert "EventTest" in schema["$defs"] and "TraitTest" in schema["$defs"]


def test_recomputed_households_reach_household_audiences(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    address = {"street": f"{tag} Audience Row", "postalCode": "AU1 1AA", "country": "GB"}
    batch = [
        {"type": "identify", "anonymousId": f"hh-{tag}-{i}", "traits": {"address": address,
                                                                      "street_tag": tag}}
        for i in range(2)
    ]  # fmt: skip
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    name = f"shared_homes_{tag}"
    condition = {"all": [{"trait": "street_tag", "eq": tag}, {"household": "size", "gte": 2}]}
    declared = admin.put(f"/v1/audiences/{name}", json={"condition": condition})
    assert declared.json()["size"] == 0  # no household computed yet
    assert admin.post("/v1/identity/households", json={}).status_code == 200

    def size() -> int:
        return int(admin.get(f"/v1/audiences/{name}").json()["size"])

    assert _until(lambda: size() == 2)
