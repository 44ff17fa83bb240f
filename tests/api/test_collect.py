"""The collection API against a live server: the Segment HTTP Tracking API contract."""

import gzip
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import SourceUnderTest
from tests.live import LiveServer

Rows = Callable[[], list[dict[str, Any]]]


def mid() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize(
    ("path", "body", "event"),
    [
        ("identify", {"userId": "u1", "traits": {"email": "a@example.com"}}, None),
        (
            "track",
            {"userId": "u1", "event": "Order Completed", "properties": {"total": 5}},
            "Order Completed",
        ),
        ("page", {"anonymousId": "a1", "name": "Home", "properties": {"path": "/"}}, "Home"),
        ("screen", {"userId": "u1", "name": "Basket"}, "Basket"),
        ("group", {"userId": "u1", "groupId": "g1", "traits": {"plan": "gold"}}, None),
        ("alias", {"userId": "u1", "previousId": "a1"}, None),
    ],
)
def test_each_call_is_stored_with_its_type(
    collector: httpx.Client, stored: Rows, path: str, body: dict[str, Any], event: str | None
) -> None:
    message_id = mid()
    response = collector.post(f"/v1/{path}", json={**body, "messageId": message_id})
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    [row] = stored()
    assert row["messageId"] == message_id
    assert row["type"] == path
    assert row["event"] == event
    assert row["payload"]["messageId"] == message_id


def test_unknown_fields_and_context_are_kept(collector: httpx.Client, stored: Rows) -> None:
    context = {
        "ip": "203.0.113.9",
        "campaign": {"source": "news", "medium": "email"},
        "consent": {"categoryPreferences": {"marketing_email": True}},
        "externalIds": [{"id": "L1", "type": "loyalty_id"}],
        "library": {"name": "x"},
    }
    collector.post(
        "/v1/track",
        json={
            "userId": "u",
            "event": "E",
            "context": context,
            "integrations": {"All": False},
            "custom": [1, 2],
        },
    )
    [row] = stored()
    assert row["payload"]["context"] == context
    assert row["payload"]["integrations"] == {"All": False}
    assert row["payload"]["custom"] == [1, 2]


def test_write_key_in_body_authenticates_and_is_not_stored(
    server: LiveServer, source: SourceUnderTest, stored: Rows
) -> None:
    response = httpx.post(
        server.url + "/v1/track", json={"writeKey": source.write_key, "userId": "u", "event": "E"}
    )
    assert response.status_code == 200
    [row] = stored()
    assert "writeKey" not in row["payload"]


@pytest.mark.parametrize(
    "auth",
    [
        None,
        ("not-a-key", ""),
    ],
)
def test_missing_or_unknown_write_key_is_401(server: LiveServer, auth: Any) -> None:
    response = httpx.post(server.url + "/v1/track", json={"userId": "u", "event": "E"}, auth=auth)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.json()["field"] == "writeKey"


def test_admin_token_cannot_collect(server: LiveServer) -> None:
    response = httpx.post(
        server.url + "/v1/track",
        json={"userId": "u", "event": "E"},
        headers={"Authorization": "Bearer kn_test_admin_token"},
    )
    assert response.status_code == 401


def test_missing_identity_is_400_and_quarantined(
    collector: httpx.Client, stored: Rows, quarantined: Rows
) -> None:
    response = collector.post("/v1/track", json={"event": "E", "messageId": "m"})
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("missing_identity", "userId")
    assert stored() == []
    [item] = quarantined()
    assert item["id"] == body["quarantine_id"]
    assert item["code"] == "missing_identity"
    assert orjson.loads(item["payload"])["event"] == "E"


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("track", {"userId": "u"}, "missing_field", "event"),
        ("group", {"userId": "u"}, "missing_field", "groupId"),
        ("alias", {"userId": "u"}, "missing_field", "previousId"),
        ("alias", {"previousId": "a"}, "missing_identity", "userId"),
        ("track", {"userId": "u", "event": "E", "properties": [1]}, "invalid_field", "properties"),
        (
            "track",
            {"userId": "u", "event": "E", "timestamp": "yesterday"},
            "invalid_field",
            "timestamp",
        ),
        (
            "track",
            {"userId": "u", "event": "E", "messageId": "m" * 100},
            "message_id_too_long",
            "messageId",
        ),
    ],
)
def test_invalid_messages_name_code_and_field(
    collector: httpx.Client,
    quarantined: Rows,
    path: str,
    body: dict[str, Any],
    code: str,
    field: str,
) -> None:
    response = collector.post(f"/v1/{path}", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["field"] == field
    assert [q["code"] for q in quarantined()] == [code]


def test_message_id_of_99_characters_is_accepted(collector: httpx.Client) -> None:
    response = collector.post(
        "/v1/track", json={"userId": "u", "event": "E", "messageId": "m" * 99}
    )
    assert response.status_code == 200


def test_malformed_json_is_400_and_stores_nothing(
    collector: httpx.Client, stored: Rows, quarantined: Rows
) -> None:
    response = collector.post(
        "/v1/batch",
        content=b'{"batch": [{"type": "track",',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert stored() == [] and quarantined() == []


def test_batch_stores_valid_and_quarantines_invalid(
    collector: httpx.Client, stored: Rows, quarantined: Rows
) -> None:
    batch = [
        {"type": "track", "userId": "u", "event": "A", "messageId": "a"},
        {"type": "track", "event": "B", "messageId": "b"},
        {"type": "identify", "anonymousId": "x", "messageId": "c"},
        {"type": "nonsense", "userId": "u"},
        "not an object",
    ]
    response = collector.post("/v1/batch", json={"batch": batch})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["code"], r["field"]) for r in body["rejected"]] == [
        (1, "missing_identity", "batch[1].userId"),
        (3, "invalid_type", "batch[3].type"),
        (4, "invalid_message", "batch[4]"),
    ]
    assert sorted(r["messageId"] for r in stored()) == ["a", "c"]
    assert sorted(q["code"] for q in quarantined()) == [
        "invalid_message",
        "invalid_type",
        "missing_identity",
    ]


def test_import_is_an_alias_of_batch(collector: httpx.Client, stored: Rows) -> None:
    response = collector.post(
        "/v1/import",
        json={
            "batch": [
                {"type": "track", "userId": "u", "event": "A", "timestamp": "2020-05-01T10:00:00Z"}
            ]
        },
    )
    assert response.status_code == 200
    [row] = stored()
    assert row["timestamp"] == "2020-05-01T10:00:00.000000Z"


def test_event_over_32kb_in_a_batch_is_quarantined(
    collector: httpx.Client, stored: Rows, quarantined: Rows
) -> None:
    big = {"type": "track", "userId": "u", "event": "Big", "properties": {"x": "y" * 33_000}}
    small = {"type": "track", "userId": "u", "event": "Small"}
    response = collector.post("/v1/batch", json={"batch": [big, small]})
    assert response.status_code == 200
    assert response.json()["rejected"][0]["code"] == "event_too_large"
    assert [r["event"] for r in stored()] == ["Small"]
    assert [q["code"] for q in quarantined()] == ["event_too_large"]


def test_request_over_500kb_is_413(collector: httpx.Client, stored: Rows) -> None:
    batch = [
        {"type": "track", "userId": "u", "event": "E", "properties": {"x": "y" * 20_000}}
        for _ in range(30)
    ]
    response = collector.post("/v1/batch", json={"batch": batch})
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert stored() == []


def test_gzip_bomb_is_413(collector: httpx.Client) -> None:
    body = gzip.compress(b'{"batch": [' + b" " * 2_000_000 + b"]}")
    response = collector.post(
        "/v1/batch",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_batch_over_2500_events_is_400(collector: httpx.Client, stored: Rows) -> None:
    batch = [{"type": "track", "userId": "u", "event": "E"} for _ in range(2_501)]
    response = collector.post("/v1/batch", json={"batch": batch})
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("batch_too_large", "batch")
    assert stored() == []


def test_gzip_body_is_accepted(collector: httpx.Client, stored: Rows) -> None:
    body = gzip.compress(
        orjson.dumps({"batch": [{"type": "track", "userId": "u", "event": "Zipped"}]})
    )
    response = collector.post(
        "/v1/batch",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert [r["event"] for r in stored()] == ["Zipped"]


def test_duplicate_message_id_is_stored_once(collector: httpx.Client, stored: Rows) -> None:
    message = {"userId": "u", "event": "E", "messageId": "dup-1"}
    assert collector.post("/v1/track", json=message).status_code == 200
    assert collector.post("/v1/track", json=message).status_code == 200
    response = collector.post("/v1/batch", json={"batch": [{**message, "type": "track"}] * 3})
    assert response.json()["duplicates"] == 3
    assert [r["messageId"] for r in stored()] == ["dup-1"]


def test_same_message_id_in_two_sources_is_two_events(
    server: LiveServer, admin: httpx.Client
) -> None:
    keys = [server.create_source(f"twin-{i}-{mid()[:6]}") for i in range(2)]
    for key in keys:
        httpx.post(
            server.url + "/v1/track",
            auth=(key, ""),
            json={"userId": "u", "event": "E", "messageId": "shared-id"},
        )
    rows = [orjson.loads(line) for line in admin.get("/v1/events/export").content.splitlines()]
    assert sum(r["messageId"] == "shared-id" for r in rows) == 2


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_timestamp_is_corrected_for_client_clock_skew(
    collector: httpx.Client, stored: Rows
) -> None:
    # The client's clock runs one hour behind: the event happened 5 s before it was sent.
    skewed_now = datetime.now(UTC) - timedelta(hours=1)
    before = datetime.now(UTC)
    collector.post(
        "/v1/track",
        json={
            "userId": "u",
            "event": "E",
            "originalTimestamp": _iso(skewed_now - timedelta(seconds=5)),
            "sentAt": _iso(skewed_now),
        },
    )
    after = datetime.now(UTC)
    [row] = stored()
    timestamp = datetime.fromisoformat(row["timestamp"])
    received = datetime.fromisoformat(row["receivedAt"])
    assert before <= received <= after
    assert abs((received - timestamp) - timedelta(seconds=5)) < timedelta(milliseconds=1)


def test_batch_level_sent_at_applies_to_its_messages(collector: httpx.Client, stored: Rows) -> None:
    now = datetime.now(UTC) - timedelta(hours=2)
    collector.post(
        "/v1/batch",
        json={
            "sentAt": _iso(now),
            "batch": [
                {
                    "type": "track",
                    "userId": "u",
                    "event": "E",
                    "originalTimestamp": _iso(now - timedelta(seconds=30)),
                }
            ],
        },
    )
    [row] = stored()
    lag = datetime.fromisoformat(row["receivedAt"]) - datetime.fromisoformat(row["timestamp"])
    assert abs(lag - timedelta(seconds=30)) < timedelta(milliseconds=1)


def test_explicit_timestamp_is_kept(collector: httpx.Client, stored: Rows) -> None:
    collector.post(
        "/v1/track",
        json={
            "userId": "u",
            "event": "E",
            "timestamp": "2019-03-04T05:06:07Z",
            "sentAt": _iso(datetime.now(UTC)),
        },
    )
    [row] = stored()
    assert row["timestamp"] == "2019-03-04T05:06:07.000000Z"
    assert row["flags"] == []


def test_future_timestamp_is_replaced_and_flagged(collector: httpx.Client, stored: Rows) -> None:
    future = datetime.now(UTC) + timedelta(hours=30)
    collector.post("/v1/track", json={"userId": "u", "event": "E", "timestamp": _iso(future)})
    [row] = stored()
    assert row["timestamp"] == row["receivedAt"]
    assert row["flags"] == ["future_timestamp"]


def test_rate_limited_source_gets_429_with_retry_after(server: LiveServer) -> None:
    key = server.create_source(f"limited-{mid()[:6]}", rate_limit=5)
    statuses = []
    with httpx.Client(base_url=server.url, auth=(key, "")) as client:
        for _ in range(12):
            response = client.post("/v1/track", json={"userId": "u", "event": "E"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert response.json()["code"] == "rate_limited"
    assert statuses[:5] == [200] * 5
    assert 429 in statuses
