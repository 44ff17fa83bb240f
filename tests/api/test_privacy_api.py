"""Privacy over HTTP against a live server: consent set through the API with its history,
suppression at ingest, access exports, PII masked unless the token may read it, tokens
listed and revoked, retention, and an audit log that records all of it without PII."""

import csv
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from tests.api.test_audiences_api import _until
from tests.api.test_journeys_api import token
from tests.conftest import SourceUnderTest
from tests.live import LiveServer


def _identify(user: str, email: str, **context: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "traits": {"email": email, "firstName": "Ada",
            "plan": "gold", "address": {"city": "York"}}, "context": context}  # fmt: skip


def test_consent_is_set_through_the_api_with_its_history(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    user = f"consent-{uuid.uuid4().hex[:8]}"
    stated = {"consent": {"categoryPreferences": {"marketing_email": True}}}
    assert collector.post("/v1/identify", json=_identify(user, f"{user}@example.com",
                                                          **stated)).status_code == 200  # fmt: skip
    with token(admin, server, "consent:write") as centre:
        changed = centre.put(
            f"/v1/profiles/user_id:{user}/consent",
            json={"categoryPreferences": {"marketing_email": False, "advertising": True}},
        )
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert body["consent"]["marketing_email"]["granted"] is False
        assert body["consent"]["advertising"]["granted"] is True
        assert body["consent"]["marketing_email"]["source"] == "kenning-consent-api"
        assert [(h["category"], h["granted"]) for h in body["history"]] == [
            ("marketing_email", True), ("advertising", True), ("marketing_email", False),
        ] or [(h["category"], h["granted"]) for h in body["history"]] == [
            ("marketing_email", True), ("marketing_email", False), ("advertising", True),
        ]  # fmt: skip
        # bad input names its field; nothing is written
        unknown = centre.put(f"/v1/profiles/user_id:{user}/consent",
                             json={"categoryPreferences": {"telepathy": True}})  # fmt: skip
        assert unknown.status_code == 400
        assert unknown.json()["field"] == "categoryPreferences.telepathy"
        necessary = centre.put(f"/v1/profiles/user_id:{user}/consent",
                               json={"categoryPreferences": {"necessary": False}})  # fmt: skip
        assert necessary.status_code == 400 and "cannot be refused" in necessary.json()["message"]
        not_bool = centre.put(f"/v1/profiles/user_id:{user}/consent",
                              json={"categoryPreferences": {"analytics": "yes"}})  # fmt: skip
        assert not_bool.status_code == 400 and not_bool.json()["field"].endswith("analytics")
        assert (
            centre.put(
                "/v1/profiles/user_id:nobody-at-all/consent",
                json={"categoryPreferences": {"analytics": True}},
            ).status_code
            == 404
        )
        # the token sets consent; it reads nothing
        assert centre.get(f"/v1/profiles/user_id:{user}").status_code == 403
    after = admin.get(f"/v1/profiles/user_id:{user}/consent").json()
    assert len(after["history"]) == 3
    categories = admin.get("/v1/consent/categories").json()
    names = [c["name"] for c in categories["categories"]]
    assert {"necessary", "analytics", "personalisation", "marketing_email", "marketing_sms",
            "marketing_push", "advertising"} <= set(names)  # fmt: skip
    assert categories["profiling"] == "personalisation"


def test_suppression_refuses_the_next_event_and_is_lifted(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client, source: SourceUnderTest
) -> None:
    user = f"suppress-{uuid.uuid4().hex[:8]}"
    email = f"{user}@example.com"
    assert collector.post("/v1/identify", json=_identify(user, email)).status_code == 200
    with token(admin, server, "privacy:admin") as officer:
        asked = officer.post(
            "/v1/regulations", json={"type": "SUPPRESS", "identifiers": [f"email:{email.upper()}"]}
        )
        answered = time.monotonic()
        assert asked.status_code == 202, asked.text
        assert asked.json()["status"] == "finished" and asked.json()["type"] == "SUPPRESS"
        # the very next event carrying any of the person's identifiers is not stored: by the
        # userId alone too (the person's identifiers are suppressed with the one named)
        later = collector.post("/v1/batch", json={"batch": [
            {"type": "track", "userId": user, "event": "Viewed"},
            {"type": "track", "anonymousId": "someone-else", "event": "Viewed",
             "context": {"traits": {"email": email}}},
            {"type": "track", "anonymousId": f"free-{user}", "event": "Viewed"},
        ]})  # fmt: skip
        blocked_after = time.monotonic() - answered
        assert later.status_code == 200
        assert later.json()["suppressed"] == 2 and later.json()["accepted"] == 3
        exported = admin.get("/v1/events/export", params={"source": source.name})
        events = [orjson.loads(line) for line in exported.content.splitlines()]
        assert [e.get("event") for e in events] == [None, "Viewed"]  # the identify, the free one
        assert blocked_after < 60  # effective for the next request (the target is 1 s)
        lifted = officer.post(
            "/v1/regulations",
            json={"type": "UNSUPPRESS", "identifiers": [f"email:{email}", f"user_id:{user}"]},
        )
        assert lifted.status_code == 202 and lifted.json()["receipt"]["unsuppressed"] == 2
        again = collector.post("/v1/batch", json={"batch": [
            {"type": "track", "userId": user, "event": "Back"}]})  # fmt: skip
        assert again.json()["suppressed"] == 0
        listed = officer.get("/v1/regulations").json()["regulations"]
        assert {r["id"] for r in listed} >= {asked.json()["id"], lifted.json()["id"]}
        assert email not in str(listed) and user not in str(listed)  # receipts name nobody
        bad = officer.post("/v1/regulations", json={"type": "FORGET", "identifiers": ["a:b"]})
        assert bad.status_code == 400 and bad.json()["field"] == "type"
        bad = officer.post("/v1/regulations", json={"type": "DELETE", "identifiers": ["nope"]})
        assert bad.status_code == 400 and bad.json()["field"] == "identifiers[0]"
        bad = officer.post(
            "/v1/regulations", json={"type": "SUPPRESS", "identifiers": ["email:not-an-email"]}
        )
        assert bad.status_code == 400 and bad.json()["field"] == "identifiers[0]"
        assert officer.get("/v1/regulations/reg_missing").status_code == 404
    with token(admin, server, "profiles:read") as reader:
        refused = reader.post(
            "/v1/regulations", json={"type": "DELETE", "identifiers": [f"user_id:{user}"]}
        )
        assert refused.status_code == 403


def test_pii_is_masked_unless_the_token_may_read_it(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    user = f"pii-{uuid.uuid4().hex[:8]}"
    email = f"{user}@example.com"
    identify = _identify(user, email, ip="203.0.113.9")
    assert collector.post("/v1/identify", json=identify).status_code == 200
    with token(admin, server, "profiles:read") as reader:
        masked = reader.get(f"/v1/profiles/user_id:{user}").json()
        assert masked["traits"]["email"] == "***" and masked["traits"]["firstName"] == "***"
        assert masked["traits"]["address"] == "***"
        assert masked["traits"]["plan"] == "gold"  # public
        by_type = {i["type"]: i["value"] for i in masked["identities"]}
        assert by_type == {"user_id": user, "email": "***"}
        assert email not in str(masked)
        traits = reader.get(f"/v1/profiles/user_id:{user}/traits").json()
        assert traits["traits"]["email"] == "***" and traits["traits"]["plan"] == "gold"
        identities = reader.get(f"/v1/profiles/user_id:{user}/identities").json()
        assert email not in str(identities)
        events = reader.get(f"/v1/profiles/user_id:{user}/events").json()["items"]
        assert events[0]["traits"]["email"] == "***" and events[0]["context"]["ip"] == "***"
        assert email not in str(events) and "203.0.113.9" not in str(events)
        # a masked token cannot test whose email is whose through the search either
        probe = reader.get("/v1/profiles", params={"trait.email": email})
        assert probe.status_code == 403 and probe.json()["field"] == "trait.email"
        assert reader.get("/v1/profiles", params={"trait.plan": "gold"}).status_code == 200
    with token(admin, server, "profiles:read", "pii:read") as trusted:
        clear = trusted.get(f"/v1/profiles/user_id:{user}").json()
        assert clear["traits"]["email"] == email
        assert {i["value"] for i in clear["identities"]} == {user, email}
        profile_id = clear["profile_id"]
        found = trusted.get("/v1/profiles", params={"trait.email": email}).json()["items"]
        assert [p["profile_id"] for p in found] == [profile_id]
    reads = admin.get("/v1/audit", params={"action": "pii.read", "target": str(profile_id)})
    assert len(reads.json()["entries"]) >= 2


def test_an_access_export_holds_everything_and_is_audited(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    user = f"access-{uuid.uuid4().hex[:8]}"
    email = f"{user}@example.com"
    consent = {"consent": {"categoryPreferences": {"analytics": True}}}
    batch = [_identify(user, email, **consent),
             {"type": "track", "userId": user, "event": "Order Completed",
              "properties": {"revenue": 12.5}}]  # fmt: skip
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    with token(admin, server, "privacy:admin") as officer:
        exported = officer.get(f"/v1/profiles/email:{email}/export")
        assert exported.status_code == 200, exported.text
        document = exported.json()
        assert document["profile"]["traits"]["email"] == email  # the person's own data, whole
        assert [e["type"] for e in document["events"]] == ["identify", "track"]
        assert document["consent_history"][0]["category"] == "analytics"
        assert set(document) >= {"audiences", "deliveries", "households", "exported_at"}
        profile_id = document["profile"]["profile_id"]
        assert officer.get("/v1/profiles/email:nobody@example.com/export").status_code == 404
        entries = officer.get("/v1/audit", params={"action": "profile.export"}).json()["entries"]
        assert any(e["target"] == str(profile_id) for e in entries)
    with token(admin, server, "profiles:read", "pii:read") as reader:
        assert reader.get(f"/v1/profiles/email:{email}/export").status_code == 403


def test_tokens_are_listed_without_secrets_and_revoked_at_once(
    server: LiveServer, admin: httpx.Client
) -> None:
    created = admin.post("/v1/tokens", json={"name": "short-lived", "scopes": ["profiles:read"]})
    assert created.status_code == 201
    plain, token_id = created.json()["token"], created.json()["id"]
    listed = admin.get("/v1/tokens").json()
    mine = next(t for t in listed["tokens"] if t["id"] == token_id)
    assert mine["scopes"] == ["profiles:read"] and mine["revoked_at"] is None
    assert plain not in str(listed) and "privacy:admin" in listed["scopes"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {plain}"}) as user:
        assert user.get("/v1/consent/categories").status_code == 200
        assert admin.delete(f"/v1/tokens/{token_id}").status_code == 200
        assert user.get("/v1/consent/categories").status_code == 401
    assert admin.delete(f"/v1/tokens/{token_id}").status_code == 404
    bad = admin.post("/v1/tokens", json={"name": "x", "scopes": ["root"]})
    assert bad.status_code == 400


def test_retention_deletes_expired_events_and_rebuilds_traits(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client, source: SourceUnderTest
) -> None:
    user = f"retained-{uuid.uuid4().hex[:8]}"
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    batch = [{"type": "identify", "userId": user, "traits": {"plan": "old"}, "timestamp": old},
             {"type": "identify", "userId": user, "traits": {"tier": "new"},
              "timestamp": recent}]  # fmt: skip
    assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    assert admin.get(f"/v1/profiles/user_id:{user}").json()["traits"] == {
        "plan": "old",
        "tier": "new",
    }
    kept = admin.put(f"/v1/sources/{source.name}/retention", json={"days": 30})
    assert kept.status_code == 200 and kept.json()["retention_days"] == 30
    assert admin.put("/v1/sources/no-such-source/retention", json={"days": 3}).status_code == 404
    assert admin.put(f"/v1/sources/{source.name}/retention", json={"days": 0}).status_code == 400
    ran = admin.post("/v1/privacy/retention")
    assert ran.status_code == 200 and ran.json()["events_deleted"] >= 1
    exported = admin.get("/v1/events/export", params={"source": source.name})
    assert len(exported.content.splitlines()) == 1
    assert admin.get(f"/v1/profiles/user_id:{user}").json()["traits"] == {"tier": "new"}


def test_the_audit_log_records_changes_and_refusals_without_pii(
    server: LiveServer, admin: httpx.Client
) -> None:
    name = f"audited_{uuid.uuid4().hex[:8]}"
    with token(admin, server, "audiences:write") as writer:
        declared = writer.put(f"/v1/audiences/{name}",
                              json={"condition": {"trait": "plan", "eq": "gold"}})  # fmt: skip
        assert declared.status_code in (200, 201), declared.text
        assert writer.get("/v1/audit").status_code == 403
    entries = admin.get("/v1/audit", params={"limit": 200}).json()["entries"]
    actions = [e["action"] for e in entries]
    assert "PUT /v1/audiences/{name}" in actions
    assert "denied: GET /v1/audit" in actions
    assert "token.create" in actions
    denied = next(e for e in entries if e["action"] == "denied: GET /v1/audit")
    assert denied["status"] == 403 and denied["actor"] == "analyst"
    # no email, no path with an identifier, no token in any entry
    assert "@" not in orjson.dumps(entries).decode()


def test_an_export_to_a_destination_holds_only_who_consented_to_it(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    audience, files = f"ads_{tag}", f"adfiles_{tag}"
    condition = {"condition": {"trait": "tag", "eq": tag}}
    assert admin.put(f"/v1/audiences/{audience}", json=condition).status_code == 200
    for who, granted in (("yes", True), ("no", False), ("silent", None)):
        choices = {} if granted is None else {"advertising": granted}
        identify = {"userId": f"{who}-{tag}", "traits": {"tag": tag, "who": who},
                    "context": {"consent": {"categoryPreferences": choices}}}  # fmt: skip
        assert collector.post("/v1/identify", json=identify).status_code == 200
    assert _until(lambda: admin.get(f"/v1/audiences/{audience}").json()["size"] == 3)
    assert admin.put(f"/v1/destinations/{files}", json={
        "kind": "file", "config": {"folder": f"ads-{tag}", "format": "csv"},
        "consent": ["advertising"], "audiences": [audience]}).status_code == 200  # fmt: skip
    written = admin.post(f"/v1/destinations/{files}/snapshot").json()["files"][audience]
    with open(written, newline="") as snapshot:
        rows = list(csv.DictReader(snapshot))
    assert [r["traits.who"] for r in rows] == ['"yes"']
