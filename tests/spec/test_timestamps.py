from datetime import UTC, datetime, timedelta

import pytest

from kenning.spec.timestamps import FUTURE_TIMESTAMP, as_utc, resolve_timestamp

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("timestamp", "original", "sent_at", "expected", "flags"),
    [
        # nothing from the client: when it arrived
        (None, None, None, T0, ()),
        # skew correction: received - (sentAt - originalTimestamp)
        (None, T0 - 2 * H - 10 * S, T0 - 2 * H, T0 - 10 * S, ()),
        (None, T0 + 5 * H - 3 * S, T0 + 5 * H, T0 - 3 * S, ()),
        # originalTimestamp without sentAt is taken as it is
        (None, T0 - 7 * H, None, T0 - 7 * H, ()),
        # an explicit timestamp wins (imports of history)
        (T0 - 400 * 24 * H, T0, T0, T0 - 400 * 24 * H, ()),
        # up to 23 h ahead is allowed; beyond, receivedAt and a flag
        (T0 + 23 * H, None, None, T0 + 23 * H, ()),
        (T0 + 23 * H + S, None, None, T0, (FUTURE_TIMESTAMP,)),
        (None, T0 + 30 * H, None, T0, (FUTURE_TIMESTAMP,)),
    ],
)
def test_resolve_timestamp(
    timestamp: datetime | None,
    original: datetime | None,
    sent_at: datetime | None,
    expected: datetime,
    flags: tuple[str, ...],
) -> None:
    resolved = resolve_timestamp(
        received_at=T0,
        timestamp=timestamp,
        original_timestamp=original,
        sent_at=sent_at,
        max_future=timedelta(hours=23),
    )
    assert resolved.timestamp == expected
    assert resolved.flags == flags


def test_naive_times_are_utc() -> None:
    assert as_utc(datetime(2026, 1, 1, 10)) == datetime(2026, 1, 1, 10, tzinfo=UTC)
