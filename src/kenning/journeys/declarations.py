"""What funnels and touchpoint goals are declared with: events described by name, type and
property filters, windows and time ranges, read from a mapping (JSON, YAML, an API body).

An event filter is ``{event: Order Completed, type: track, where: {properties.total: {gte:
10}}}``: ``event`` and ``type`` take a name or a list of names (an event matches one of them),
``where`` is the filter language of computed traits (``kenning.profiles.computed``: dotted
paths into the message as stored, ``properties.products[].category`` for some item of an
array, the columns ``event``, ``type`` and ``source``; operators eq, ne, in, not_in, gt, gte,
lt, lte, exists). A filter names an event or a type, so a query reads only those events.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kenning.errors import FieldError
from kenning.profiles.computed.batch import payload_condition_sql
from kenning.profiles.computed.definitions import (
    COLUMN_PATHS,
    Condition,
    DefinitionError,
    parse_filters,
)

FILTER_KEYS = frozenset({"event", "type", "where"})
_WINDOW = re.compile(r"^(\d+)\s*([mhdw])$")
_WINDOW_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}

# The log's events with their canonical person (a merged profile's events count as the
# person's) and their source's name; events not yet resolved to a profile belong to no one.
EVENTS_SQL = """SELECT e.seq, coalesce(r.canonical_id, ep.profile_id) AS person,
                       e.timestamp AS ts, e.type, e.event, e.payload,
                       coalesce(s.name, e.source_id) AS source_name
                FROM __kenning_events e
                JOIN __kenning_event_profiles ep USING (seq)
                LEFT JOIN __kenning_profile_redirects r ON r.profile_id = ep.profile_id
                LEFT JOIN __kenning_sources s ON s.id = e.source_id"""


@dataclass(frozen=True)
class EventFilter:
    """Events of one of ``events`` (names) and one of ``types``, passing every ``where``
    condition; an empty tuple does not restrict."""

    events: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    where: tuple[Condition, ...] = ()

    def spec(self) -> dict[str, Any]:
        """The filter as declared."""
        spec: dict[str, Any] = {}
        if self.events:
            spec["event"] = self.events[0] if len(self.events) == 1 else list(self.events)
        if self.types:
            spec["type"] = self.types[0] if len(self.types) == 1 else list(self.types)
        if self.where:
            where: dict[str, dict[str, Any]] = {}
            for c in self.where:
                operand = list(c.operand) if isinstance(c.operand, tuple) else c.operand
                where.setdefault(c.path, {})[c.op] = operand
            spec["where"] = where
        return spec

    def label(self) -> str:
        """A short name for the filter in a report."""
        return " or ".join(self.events or self.types) or "any event"


def parse_event_filter(spec: Mapping[str, Any], field: str) -> EventFilter:
    """The ``event``, ``type`` and ``where`` keys of ``spec`` (other keys are the caller's);
    ``field`` is the path of ``spec`` in the declaration, named by errors."""
    events = _names(spec.get("event"), f"{field}.event")
    types = _names(spec.get("type"), f"{field}.type")
    if not events and not types:
        raise FieldError("name the event (event: Order Completed) or its type", f"{field}.event")
    return EventFilter(events, types, parse_where(spec.get("where"), f"{field}.where"))


def parse_where(value: object, field: str) -> tuple[Condition, ...]:
    """A ``where`` mapping: the computed traits' filter language."""
    try:
        return parse_filters(value, field)
    except DefinitionError as error:
        raise FieldError(str(error), error.field) from None


def _names(value: object, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise FieldError("a name or a list of names", field)
    return tuple(items)


def event_filter_sql(match: EventFilter, params: list[Any]) -> str:
    """A boolean over ``EVENTS_SQL``'s columns. The property filters are behind a CASE on
    the name and type, and on a text search where one is sure to hold for a passing event
    (``text_guards_sql``), so the JSON of other events is never parsed."""
    named = names_sql(match, params)
    if not match.where:
        return named
    guards = text_guards_sql(match.where, params)
    tests = " AND ".join(
        payload_condition_sql(c, "payload", params, source="source_name") for c in match.where
    )
    return f"(CASE WHEN {named}{guards} THEN {tests} ELSE false END)"


def needs_message(match: EventFilter) -> bool:
    """The filter reads the message, not only the log's columns."""
    return any(c.path not in COLUMN_PATHS for c in match.where)


def text_guards_sql(conditions: tuple[Condition, ...], params: list[Any]) -> str:
    """`` AND contains(payload, 'shoes"')`` for each condition that can only hold when the
    message's text holds a string (eq, in: some item of an array, too): a search through
    the text costs a fraction of a JSON parse, and most events fail it. Sound because the
    stored text is the writer's compact JSON (orjson), which writes such strings as they
    are; only strings that no JSON writer escapes (printable ASCII without a quote or a
    backslash) are searched for. The needle does not start with the quote: DuckDB looks
    for a needle's first byte first, and JSON text is full of quotes (2.3x as slow)."""
    guards = []
    for c in conditions:
        options = c.operand if c.op == "in" else (c.operand,) if c.op == "eq" else ()
        if c.path in COLUMN_PATHS or not options or not all(map(_plain, options)):
            continue
        guards.append(f"({' OR '.join('contains(payload, ?)' for _ in options)})")
        params.extend(f'{o}"' for o in options)
    return "".join(f" AND {g}" for g in guards)


def _plain(value: object) -> bool:
    return (
        isinstance(value, str)
        and value != ""
        and value.isascii()
        and value.isprintable()
        and '"' not in value
        and "\\" not in value
    )


def names_sql(match: EventFilter, params: list[Any]) -> str:
    """The name and type part of a filter."""
    tests = []
    for column, names in (("event", match.events), ("type", match.types)):
        if names:
            tests.append(f"{column} IN ({', '.join('?' for _ in names)})")
            params.extend(names)
    return f"({' AND '.join(tests) or 'true'})"


def any_of_sql(matches: list[EventFilter], params: list[Any]) -> str:
    """Events some filter could take, by name and type alone: what a query reads at all."""
    return f"({' OR '.join(names_sql(m, params) for m in matches) or 'false'})"


def parse_window(value: object, field: str) -> timedelta:
    """A window: a number of days, or text like ``14d``, ``12h``, ``2w``, ``90m``."""
    if isinstance(value, timedelta) and value > timedelta(0):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return timedelta(days=value)
    match = _WINDOW.match(value.strip()) if isinstance(value, str) else None
    if match is None or int(match[1]) == 0:
        raise FieldError("a window is a number of days, or like 14d, 12h, 2w, 90m", field)
    return int(match[1]) * _WINDOW_UNITS[match[2]]


def window_text(window: timedelta) -> str:
    """``14 days``, ``1 day``, ``12 hours``, ``90 minutes``: as the output states it."""
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{window.total_seconds()} seconds"


def window_spec(window: timedelta) -> str:
    """The window in the declaration's own form (``14d``)."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def parse_time(value: object, field: str) -> datetime | None:
    """An instant: ISO 8601 text (a date is its midnight UTC; no zone is UTC) or a datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise FieldError("a time is ISO 8601 text, like 2026-03-01 or 2026-03-01T12:00:00Z", field)


def time_range_sql(
    since: datetime | None, until: datetime | None, params: list[Any], *, column: str = "ts"
) -> str:
    """``column`` in [since, until), either end open when None."""
    tests = ["true"]
    if since is not None:
        tests.append(f"{column} >= ?::TIMESTAMPTZ")
        params.append(since)
    if until is not None:
        tests.append(f"{column} < ?::TIMESTAMPTZ")
        params.append(until)
    return " AND ".join(tests)
