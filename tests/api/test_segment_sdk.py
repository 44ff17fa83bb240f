"""Compatibility: the official segment-analytics-python client, pointed at Kenning."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from segment.analytics import Client

from tests.conftest import SourceUnderTest
from tests.live import LiveServer

Rows = Callable[[], list[dict[str, Any]]]


def test_every_call_of_the_official_sdk_is_stored(
    server: LiveServer, source: SourceUnderTest, stored: Rows
) -> None:
    errors: list[Exception] = []
    client = Client(
        write_key=source.write_key,
        host=server.url,
        sync_mode=True,
        on_error=lambda error, _batch: errors.append(error),
        max_retries=0,
    )
    when = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    client.identify(
        "user-1", {"email": "jane@example.com", "firstName": "Jane"}, context={"ip": "203.0.113.1"}
    )
    client.track("user-1", "Order Completed", {"total": 42.5, "currency": "EUR"}, timestamp=when)
    client.page("user-1", "Shop", "Home", {"path": "/"})
    client.screen("user-1", "App", "Basket")
    client.group("user-1", "company-7", {"name": "ACME"})
    client.alias("anon-5", "user-1")
    client.track(anonymous_id="anon-5", event="Product Viewed", properties={"sku": "S-1"})
    client.flush()
    assert errors == []

    rows = {r["type"] + ":" + (r["event"] or ""): r for r in stored()}
    assert set(rows) == {
        "identify:",
        "track:Order Completed",
        "page:Home",
        "screen:Basket",
        "group:",
        "alias:",
        "track:Product Viewed",
    }
    identify = rows["identify:"]
    assert identify["userId"] == "user-1"
    assert identify["payload"]["traits"] == {"email": "jane@example.com", "firstName": "Jane"}
    assert identify["payload"]["context"]["ip"] == "203.0.113.1"
    assert identify["payload"]["context"]["library"]["name"] == "analytics-python"
    order = rows["track:Order Completed"]
    assert order["payload"]["properties"] == {"total": 42.5, "currency": "EUR"}
    assert order["timestamp"] == "2024-02-03T04:05:06.000000Z"
    assert rows["page:Home"]["payload"]["category"] == "Shop"
    assert rows["group:"]["payload"]["groupId"] == "company-7"
    assert rows["alias:"]["payload"]["previousId"] == "anon-5"
    assert rows["track:Product Viewed"]["anonymousId"] == "anon-5"
    # The SDK's messageIds are kept, so its retries are deduplicated.
    assert all(len(r["messageId"]) > 10 and r["sentAt"] for r in rows.values())
