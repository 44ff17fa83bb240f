"""Deliveries as the outbox would hand them over."""

from datetime import UTC, datetime
from typing import Any

from kenning.activation.destinations.base import Delivery

CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def delivery(
    n: int = 1,
    *,
    kind: str = "audience",
    profile_id: int | None = 42,
    payload: dict[str, Any] | None = None,
    destination: str = "test",
    attempt: int = 1,
) -> Delivery:
    if payload is None:
        payload = {
            "event": "Audience Entered",
            "audience_id": "vip",
            "audience": "vip",
            "profile_id": profile_id,
            "at": "2026-03-01T12:00:00Z",
            "traits": {"email": "ada@example.com"},
        }
    return Delivery(
        id=n,
        idempotency_key=f"key-{n}",
        destination=destination,
        profile_id=profile_id,
        kind=kind,
        payload=payload,
        created_at=CREATED,
        attempt=attempt,
    )
