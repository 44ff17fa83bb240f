"""Timestamp rules of the Segment spec.

``timestamp`` is when the event happened. A client's clock may be wrong, so when the client says
when it sent the message (``sentAt``) the server corrects for the skew:
``timestamp = receivedAt - (sentAt - originalTimestamp)``.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

FUTURE_TIMESTAMP = "future_timestamp"
_ZERO = timedelta(0)


@dataclass(slots=True)  # not frozen: built for every message received (see EventRow)
class ResolvedTime:
    timestamp: datetime
    flags: tuple[str, ...] = ()


def resolve_timestamp(
    *,
    received_at: datetime,
    timestamp: datetime | None,
    original_timestamp: datetime | None,
    sent_at: datetime | None,
    max_future: timedelta,
) -> ResolvedTime:
    """Decide an event's timestamp.

    An explicit ``timestamp`` wins (imports of history); otherwise ``originalTimestamp`` corrected
    for clock skew when ``sentAt`` is known; otherwise ``receivedAt``. A result more than
    ``max_future`` ahead of receipt is replaced by ``receivedAt`` and flagged.

    >>> t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    >>> resolve_timestamp(received_at=t0, timestamp=None,
    ...     original_timestamp=t0 - timedelta(seconds=70), sent_at=t0 - timedelta(seconds=10),
    ...     max_future=timedelta(hours=23)).timestamp.isoformat()
    '2026-01-01T11:59:00+00:00'
    """
    if timestamp is not None:
        resolved = timestamp
    elif original_timestamp is not None and sent_at is not None:
        resolved = received_at - (sent_at - original_timestamp)
    elif original_timestamp is not None:
        resolved = original_timestamp
    else:
        return ResolvedTime(received_at)
    if resolved - received_at > max_future:
        return ResolvedTime(received_at, (FUTURE_TIMESTAMP,))
    return ResolvedTime(resolved)


def as_utc(value: datetime) -> datetime:
    """A naive datetime is read as UTC (the spec's timestamps are ISO 8601, usually with Z)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    # Most timestamps already carry Z: converting those is the costly no-op skipped here.
    return value if value.utcoffset() == _ZERO else value.astimezone(UTC)
