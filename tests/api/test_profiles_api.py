"""The Profile API against a live server: lookup by any identifier, traits, identities,
consent, events with cursors, search, and scoped tokens."""

import httpx

from tests.conftest import SourceUnderTest
from tests.live import LiveServer


def reader(server: LiveServer, admin: httpx.Client) -> httpx.Client:
    """A client reading profiles, PII unmasked (masking: tests/api/test_privacy_api.py)."""
    scopes = ["pii:read", "profiles:read"]
    created = admin.post("/v1/tokens", json={"name": "site", "scopes": scopes})
    assert created.status_code == 201 and created.json()["scopes"] == scopes
    return httpx.Client(
        base_url=server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {created.json()['token']}"},
    )


def test_a_profile_by_any_identifier_with_its_traits_events_and_consent(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client, source: SourceUnderTest
) -> None:
    batch = [
        {
            "type": "identify",
            "anonymousId": "pa-laptop",
            "traits": {"email": "Pat@Example.com", "address": {"city": "Leeds"}},
            "timestamp": "2026-03-01T10:00:00Z",
        },
        {
            "type": "identify",
            "userId": "pa-u1",
            "anonymousId": "pa-laptop",
            "traits": {"firstName": "Pat", "address": {"city": "York"}},
            "context": {"consent": {"categoryPreferences": {"marketing_email": True}}},
            "timestamp": "2026-03-02T10:00:00Z",
        },
    ] + [
        {
            "type": "track",
            "userId": "pa-u1",
            "event": "Viewed" if i % 2 else "Added",
            "properties": {"i": i},
            "timestamp": f"2026-03-03T10:00:{i:02d}Z",
        }
        for i in range(5)
    ]
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200

    with reader(server, admin) as client:
        by_email = client.get("/v1/profiles/email:pat@example.com").json()
        assert by_email["traits"] == {
            "email": "Pat@Example.com",
            "address": {"city": "York"},
            "firstName": "Pat",
        }
        assert by_email["trait_sources"]["address.city"]["source"] == source.name
        assert by_email["consent"]["marketing_email"]["granted"] is True
        for other in (
            "user_id:pa-u1",
            "anonymous_id:pa-laptop",
            f"profile_id:{by_email['profile_id']}",
        ):
            assert client.get(f"/v1/profiles/{other}").json() == by_email

        identities = client.get("/v1/profiles/user_id:pa-u1/identities").json()["identities"]
        assert {(i["type"], i["value"]) for i in identities} == {
            ("anonymous_id", "pa-laptop"),
            ("email", "pat@example.com"),
            ("user_id", "pa-u1"),
        }
        consent = client.get("/v1/profiles/user_id:pa-u1/consent").json()
        assert [h["category"] for h in consent["history"]] == ["marketing_email"]

        # newest first, two pages of three, then filtered by name
        first = client.get("/v1/profiles/user_id:pa-u1/events", params={"limit": 3}).json()
        second = client.get(
            "/v1/profiles/user_id:pa-u1/events",
            params={"limit": 3, "cursor": first["next_cursor"]},
        ).json()
        seen = [e.get("properties", {}).get("i") for e in first["items"] + second["items"]]
        assert seen == [4, 3, 2, 1, 0, None, None][: len(seen)] and len(seen) == 6
        assert second["next_cursor"] is not None
        viewed = client.get("/v1/profiles/user_id:pa-u1/events", params={"event": "Viewed"}).json()
        assert [e["properties"]["i"] for e in viewed["items"]] == [3, 1]

        found = client.get(
            "/v1/profiles", params={"trait.firstName": "Pat", "trait.address.city": "York"}
        ).json()
        assert [p["profile_id"] for p in found["items"]] == [by_email["profile_id"]]
        assert (
            client.get("/v1/profiles", params={"trait.firstName": "Nobody"}).json()["items"] == []
        )

        # errors: JSON with a code, a message and the field
        missing = client.get("/v1/profiles/email:nobody@example.com")
        assert missing.status_code == 404 and missing.json()["field"] == "identifier"
        bad = client.get("/v1/profiles/no-colon")
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_identifier"
        cursor = client.get("/v1/profiles/user_id:pa-u1/events", params={"cursor": "x"})
        assert cursor.status_code == 400 and cursor.json()["field"] == "cursor"
        # a profiles:read token reads profiles and nothing else
        assert client.get("/v1/stats").status_code == 403
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert anonymous.get("/v1/profiles/user_id:pa-u1").status_code == 401
    with httpx.Client(base_url=server.url, auth=(source.write_key, ""), timeout=30) as writer:
        assert (
            writer.get("/v1/profiles/user_id:pa-u1").status_code == 401
        )  # write keys only collect
