"""Identity endpoints against a live server."""

import csv
import io
from pathlib import Path

import httpx

from kenning.identity.households import address_key, household_id
from tests.conftest import SourceUnderTest
from tests.live import LiveServer


def test_explain_export_and_rebuild(admin: httpx.Client, collector: httpx.Client) -> None:
    collector.post(
        "/v1/batch",
        json={
            "batch": [
                {"type": "identify", "anonymousId": "api-a1", "traits": {"email": "API@x.com"}},
                {"type": "identify", "userId": "api-u1", "anonymousId": "api-a1"},
                {"type": "identify", "userId": "api-u2"},
            ]
        },
    )
    joined = admin.get(
        "/v1/identity/explain", params={"a": "email:api@x.com", "b": "user_id:api-u1"}
    ).json()
    assert joined["joined"] and joined["profile_a"] == joined["profile_b"]
    apart = admin.get(
        "/v1/identity/explain", params={"a": "user_id:api-u2", "b": "user_id:api-u1"}
    ).json()
    assert apart["joined"] is False

    rows = list(csv.DictReader(io.StringIO(admin.get("/v1/identities/export").text)))
    mine = {
        r["value"]: r["profile_id"]
        for r in rows
        if r["value"].startswith(("api", "API")) or r["value"] == "api@x.com"
    }
    assert mine["api@x.com"] == mine["api-u1"] == mine["api-a1"] != mine["api-u2"]

    before = admin.get("/v1/stats").json()
    rebuilt = admin.post("/v1/identity/rebuild").json()
    assert (rebuilt["profiles"], rebuilt["identifiers"]) == (
        before["profiles"],
        before["identifiers"],
    )


def test_bad_identifier_is_400_with_the_field(admin: httpx.Client) -> None:
    response = admin.get("/v1/identity/explain", params={"a": "nocolon", "b": "user_id:x"})
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_identifier", "a")


def test_overrides_unmerge_and_lift_over_http(admin: httpx.Client, collector: httpx.Client) -> None:
    collector.post(
        "/v1/batch",
        json={
            "batch": [
                {
                    "type": "page",
                    "anonymousId": "ov-a",
                    "context": {"traits": {"email": "ov@x.com"}},
                },
                {
                    "type": "page",
                    "anonymousId": "ov-b",
                    "context": {"traits": {"email": "ov@x.com"}},
                },
            ]
        },
    )
    pair = {"a": "anonymous_id:ov-a", "b": "anonymous_id:ov-b"}
    assert admin.get("/v1/identity/explain", params=pair).json()["joined"]

    created = admin.post(
        "/v1/identity/overrides", json={"kind": "never_join", **pair, "reason": "two people"}
    )
    assert created.status_code == 201
    body = created.json()
    watched = body["rebuild"]["watched"]
    assert watched["anonymous_id:ov-a"]["after"] != watched["anonymous_id:ov-b"]["after"]
    assert not admin.get("/v1/identity/explain", params=pair).json()["joined"]
    listed = admin.get("/v1/identity/overrides").json()["overrides"]
    assert [(o["id"], o["kind"], o["reason"]) for o in listed] == [
        (body["override"]["id"], "never_join", "two people")
    ]

    lifted = admin.delete(f"/v1/identity/overrides/{body['override']['id']}")
    assert lifted.status_code == 200
    assert admin.get("/v1/identity/explain", params=pair).json()["joined"]
    assert admin.get("/v1/identity/overrides").json()["overrides"] == []
    missing = admin.delete(f"/v1/identity/overrides/{body['override']['id']}")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_bad_override_is_400_with_the_field(admin: httpx.Client) -> None:
    response = admin.post(
        "/v1/identity/overrides", json={"kind": "never_join", "a": "email:a@x.com"}
    )
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_override", "b")
    response = admin.post("/v1/identity/overrides", json={"kind": "split", "a": "email:a@x.com"})
    assert response.status_code == 400 and response.json()["field"] == "kind"


def test_evaluate_against_truth_over_http(
    admin: httpx.Client, collector: httpx.Client, source: SourceUnderTest
) -> None:
    collector.post(
        "/v1/batch",
        json={
            "batch": [
                {"type": "page", "anonymousId": "ev-a", "messageId": "ev-1"},
                {"type": "page", "anonymousId": "ev-a", "messageId": "ev-2"},
                {"type": "page", "anonymousId": "ev-b", "messageId": "ev-3"},
            ]
        },
    )
    name = source.name
    truth = f"source,message_id,person_id\n{name},ev-1,p\n{name},ev-2,p\n{name},ev-3,p\n"
    scores = admin.post("/v1/identity/evaluate", json={"truth": [truth]}).json()
    # ev-3 is the same person on a device never linked: one of three true pairs found
    assert (scores["items"], scores["pairwise_precision"]) == (3, 1.0)
    assert abs(scores["pairwise_recall"] - 1 / 3) < 1e-9
    assert "ceiling" not in scores
    # ev-3 shares nothing with the rest of its person: the evidence allows no better
    both = admin.post("/v1/identity/evaluate", json={"truth": [truth], "ceiling": True}).json()
    assert {k: v for k, v in both.items() if k != "ceiling"} == scores
    assert abs(both["ceiling"]["pairwise_recall"] - 1 / 3) < 1e-9
    bad = admin.post("/v1/identity/evaluate", json={"truth": ["x,y\n1,2\n"]})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_truth")


def test_a_ceiling_the_rules_cannot_read_is_400_naming_the_ceiling(tmp_path: Path) -> None:
    # a custom path with a quote in a key cannot be read in bulk, as the ceiling reads
    (tmp_path / "kenning.yaml").write_text(
        "identity:\n  custom:\n    odd: ['properties.say \"hi\"']\n"
    )
    live = LiveServer(
        tmp_path / "k.duckdb", env={"KENNING_CONFIG": str(tmp_path / "kenning.yaml")}
    ).start()
    try:
        key = live.create_source("web")
        httpx.post(
            live.url + "/v1/track",
            json={"userId": "u", "event": "E", "messageId": "m1"},
            auth=(key, ""),
        ).raise_for_status()
        truth = "source,message_id,person_id\nweb,m1,p\n"
        with live.admin() as admin:
            plain = admin.post("/v1/identity/evaluate", json={"truth": [truth]})
            both = admin.post("/v1/identity/evaluate", json={"truth": [truth], "ceiling": True})
    finally:
        live.stop()
    assert plain.status_code == 200 and plain.json()["items"] == 1
    assert both.status_code == 400
    assert (both.json()["code"], both.json()["field"]) == ("ceiling_unavailable", "ceiling")


def test_households_over_http(admin: httpx.Client, collector: httpx.Client) -> None:
    address = {"street": "7 Api Close", "postalCode": "AP1 1AA", "country": "GB"}
    collector.post(
        "/v1/batch",
        json={
            "batch": [
                {"type": "identify", "anonymousId": "hh-1", "traits": {"address": address}},
                {"type": "identify", "anonymousId": "hh-2", "traits": {"address": address}},
            ]
        },
    )
    summary = admin.post("/v1/identity/households", json={}).json()
    assert summary["profiles_in_shared_households"] >= 2
    home = household_id(address_key("7 Api Close", "AP1 1AA", None, "GB") or "")
    found = admin.get(f"/v1/identity/households/{home}").json()
    assert (found["household_id"], found["size"], len(found["profiles"])) == (home, 2, 2)
    missing = admin.get("/v1/identity/households/hh-nothere")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    first, second = sorted(found["profiles"])
    traits = admin.get(f"/v1/identity/profiles/{first}/household").json()
    assert traits["household_id"] == home
    assert (traits["household_size"], traits["household_others"]) == (2, [second])
    nowhere = admin.get("/v1/identity/profiles/999999999/household")
    assert (nowhere.status_code, nowhere.json()["field"]) == (404, "profile_id")
