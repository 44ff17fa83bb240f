"""Identity endpoints against a live server."""

import csv
import io

import httpx


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
