"""How a value node tests a value: the rules both evaluators follow, in Python and in SQL.

Values are JSON (a trait's winning value, a computed trait's value). A missing value or JSON
null satisfies only ``exists: false``, ``ne`` and ``not_in``. ``eq``/``in`` compare like with
like, as the computed traits' filters do; the order operators compare numbers (JSON numbers
or text spelling one) when the operand is a number, and times when it is a date. A time is
ISO 8601 text (``TIME_TEXT``: a date, or a date and time with an optional offset; no offset
means UTC); anything else is no time, and a test on it fails. ``anniversary_within: 7d`` holds
when the date's day and month come in the next seven days, today (UTC) being the first; a
29 February falls on the 28th in other years.
"""

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kenning.profiles.computed.tally import equals, number

# Hours 00-23, minutes and seconds 00-59, offsets under a day, years 0001-9999: what Python's
# fromisoformat and DuckDB's casts both read, and read alike.
TIME_TEXT = (
    r"([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-[0-9]{2}-[0-9]{2}"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?"
)
# The instants a Python datetime holds in UTC, in microseconds since the epoch.
FIRST_MICROS = -62_135_596_800_000_000
LAST_MICROS = 253_402_300_799_999_999
_TIME = re.compile(TIME_TEXT)
_ORDER = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
MISSING: Any = object()


def as_time(value: Any) -> datetime | None:
    """A value as an aware datetime, if it is time text (``TIME_TEXT``)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        # An instant outside the years 1-9999 in UTC (0001-01-01T00:00+01:00) is no time.
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # 2024-02-30 matches the pattern and is no date
        return None


def is_time_operand(value: Any) -> bool:
    return isinstance(value, str) and as_time(value) is not None


def days_to_anniversary(day: date, today: date) -> int:
    """Days from ``today`` to the next date with ``day``'s month and day (0: today)."""
    for year in (today.year, today.year + 1):
        last = calendar.monthrange(year, day.month)[1]
        anniversary = date(year, day.month, min(day.day, last))
        if anniversary >= today:
            return (anniversary - today).days
    raise AssertionError("an anniversary comes within a year")


def test(op: str, operand: Any, value: Any, now: datetime) -> bool:
    """Whether ``value`` (MISSING when there is none) passes ``op operand``."""
    if value is None:
        value = MISSING
    if op == "exists":
        return (value is not MISSING) is bool(operand)
    if op == "ne":
        return value is MISSING or not equals(value, operand)
    if op == "not_in":
        return value is MISSING or not any(equals(value, o) for o in operand)
    if value is MISSING:
        return False
    if op == "eq":
        return equals(value, operand)
    if op == "in":
        return any(equals(value, o) for o in operand)
    if op == "contains":
        if isinstance(value, str):
            return isinstance(operand, str) and operand in value
        return isinstance(value, list) and any(equals(v, operand) for v in value)
    if op in _ORDER:
        if isinstance(operand, str):
            at, bound = as_time(value), as_time(operand)
            return at is not None and bound is not None and getattr(at, _ORDER[op])(bound)
        n = number(value)
        return n is not None and bool(getattr(n, _ORDER[op])(float(operand)))
    at = as_time(value)
    if at is None:
        return False
    span: timedelta = operand
    if op == "within_last":
        return now - span <= at <= now
    if op == "before_last":
        return at < now - span
    if op == "within_next":
        return now <= at <= now + span
    if op == "anniversary_within":
        return days_to_anniversary(at.astimezone(UTC).date(), now.astimezone(UTC).date()) < (
            span.days or 1
        )
    raise ValueError(f"unknown operator {op!r}")
