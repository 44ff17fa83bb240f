"""The admin API against a live server: sources, stats, quarantine fix and replay, export."""

import io
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pyarrow.parquet as pq

from tests.conftest import SourceUnderTest
from tests.live import LiveServer

Rows = Callable[[], list[dict[str, Any]]]


def test_create_source_returns_a_working_write_key(admin: httpx.Client, server: LiveServer) -> None:
    response = admin.post("/v1/sources", json={"name": "shop-web"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"id", "name", "write_key"}
    assert body["name"] == "shop-web"
    listed = admin.get("/v1/sources").json()["sources"]
    [entry] = [s for s in listed if s["id"] == body["id"]]
    # The key itself is never shown again.
    assert "write_key" not in entry and body["write_key"].startswith(entry["write_key_prefix"])
    collected = httpx.post(
        server.url + "/v1/track", auth=(body["write_key"], ""), json={"userId": "u", "event": "E"}
    )
    assert collected.status_code == 200


def test_duplicate_source_name_is_409(admin: httpx.Client) -> None:
    assert admin.post("/v1/sources", json={"name": "twice"}).status_code == 201
    response = admin.post("/v1/sources", json={"name": "twice"})
    assert response.status_code == 409
    assert response.json() == {
        "code": "source_exists",
        "message": "a source named 'twice' already exists",
        "field": "name",
    }


def test_invalid_source_body_names_the_field(admin: httpx.Client) -> None:
    response = admin.post("/v1/sources", json={"name": ""})
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_request", "name")


def test_admin_endpoints_need_a_valid_token(server: LiveServer, source: SourceUnderTest) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {source.write_key}"},
    ):
        response = httpx.get(server.url + "/v1/stats", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
    assert httpx.get(server.url + "/v1/sources", auth=(source.write_key, "")).status_code == 401


def test_stats_count_events_quarantine_profiles_and_identifiers(
    admin: httpx.Client, collector: httpx.Client
) -> None:
    before = admin.get("/v1/stats").json()
    collector.post(
        "/v1/batch",
        json={
            "batch": [
                {
                    "type": "track",
                    "userId": "stats-user",
                    "anonymousId": "stats-anon",
                    "event": "E",
                },
                {"type": "track", "userId": "stats-user", "event": "E"},
                {"type": "track", "event": "no id"},
            ]
        },
    )
    after = admin.get("/v1/stats").json()
    assert after["events"] - before["events"] == 2
    assert after["quarantined"] - before["quarantined"] == 1
    assert after["profiles"] - before["profiles"] == 1
    assert after["identifiers"] - before["identifiers"] == 2


def test_quarantined_message_is_fixed_and_replayed_once(
    admin: httpx.Client, collector: httpx.Client, stored: Rows, quarantined: Rows
) -> None:
    response = collector.post("/v1/track", json={"event": "Signed Up", "messageId": "q-1"})
    quarantine_id = response.json()["quarantine_id"]

    # Replaying before the cause is fixed keeps it quarantined.
    result = admin.post("/v1/quarantine/replay", json={"ids": [quarantine_id]}).json()
    assert result == {"replayed": 0, "duplicates": 0, "still_invalid": 1}
    assert stored() == []

    fixed = {"type": "track", "event": "Signed Up", "messageId": "q-1", "userId": "u-9"}
    response = admin.put(f"/v1/quarantine/{quarantine_id}", json={"payload": fixed})
    assert response.status_code == 200
    result = admin.post("/v1/quarantine/replay", json={"ids": [quarantine_id]}).json()
    assert result == {"replayed": 1, "duplicates": 0, "still_invalid": 0}
    [row] = stored()
    assert (row["userId"], row["messageId"]) == ("u-9", "q-1")
    [item] = quarantined()
    assert item["status"] == "replayed" and item["attempts"] == 2

    # Replaying again finds nothing pending: nothing is stored twice.
    again = admin.post("/v1/quarantine/replay", json={"ids": [quarantine_id]}).json()
    assert again["replayed"] == 0
    assert len(stored()) == 1


def test_unknown_quarantine_id_is_404(admin: httpx.Client) -> None:
    response = admin.get("/v1/quarantine/999999")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_export_jsonl_and_parquet_hold_the_events(
    admin: httpx.Client, collector: httpx.Client, source: SourceUnderTest
) -> None:
    collector.post(
        "/v1/batch",
        json={
            "batch": [
                {
                    "type": "track",
                    "userId": "u",
                    "event": "Old",
                    "timestamp": "2020-01-01T00:00:00Z",
                    "messageId": "old",
                },
                {
                    "type": "identify",
                    "userId": "u",
                    "traits": {"x": 1},
                    "messageId": "new",
                    "timestamp": "2024-06-01T00:00:00Z",
                },
            ]
        },
    )
    lines = admin.get(
        "/v1/events/export", params={"source": source.name, "since": "2021-01-01"}
    ).content
    rows = [orjson.loads(line) for line in lines.splitlines()]
    assert [r["messageId"] for r in rows] == ["new"]
    assert rows[0]["payload"]["traits"] == {"x": 1}
    assert rows[0]["source"] == source.name

    response = admin.get("/v1/events/export", params={"format": "parquet", "source": source.name})
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content))
    assert sorted(table.column("messageId").to_pylist()) == ["new", "old"]
    payloads = [orjson.loads(p) for p in table.column("payload").to_pylist()]
    assert {p["messageId"] for p in payloads} == {"new", "old"}


def test_unknown_route_is_json_404(server: LiveServer) -> None:
    response = httpx.get(server.url + "/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
