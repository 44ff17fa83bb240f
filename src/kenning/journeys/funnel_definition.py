"""A funnel's definition: its steps, mode, window, exclusions, counting, breakdown and time
range, parsed from its declared form (a mapping, as from JSON, YAML or an API body)::

    steps:
      - {event: Product Viewed, where: {properties.category: shoes}, name: Viewed shoes}
      - {event: Product Added}
      - {event: Order Completed}
    mode: ordered          # or strict, any_order
    window: 14d            # the default
    exclusions:
      - {event: Cart Emptied, between: [1, 3]}
    count: unique          # or totals
    breakdown: properties.category   # a path of the step-1 event, or channel
    since: 2026-01-01
    until: 2026-04-01

docs/funnels.md has the whole format and the exact rules of each mode.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from kenning.errors import FieldError
from kenning.journeys.declarations import (
    FILTER_KEYS,
    EventFilter,
    parse_event_filter,
    parse_time,
    parse_window,
    window_spec,
)

MAX_STEPS = 20
# Any order checks every group of steps one event could stand for (Hall's condition): 2^(n-1)
# groups at worst.
MAX_ANY_ORDER_STEPS = 10
DEFAULT_WINDOW = timedelta(days=14)
CHANNEL = "channel"
_KEYS = frozenset(
    {"steps", "mode", "window", "exclusions", "count", "breakdown", "since", "until", "name"}
)
_E = TypeVar("_E", bound=StrEnum)
_EXCLUSION_KEYS = FILTER_KEYS | {"between"}
_PATH = re.compile(r'^[^."\[\]]+(\.[^."\[\]]+)*$')


class Mode(StrEnum):
    ORDERED = "ordered"  # steps in order; other events may come between
    STRICT = "strict"  # steps in order, each the person's very next event after the last
    ANY_ORDER = "any_order"  # step 1 first, then the others in any order


class Counting(StrEnum):
    UNIQUE = "unique"  # people: each person's best attempt
    TOTALS = "totals"  # every attempt


@dataclass(frozen=True)
class Step:
    name: str
    match: EventFilter


@dataclass(frozen=True)
class Exclusion:
    """An event that voids an attempt when it happens after the attempt reached step
    ``after`` and before it reached step ``before`` (numbered from 1)."""

    match: EventFilter
    after: int
    before: int


@dataclass(frozen=True)
class FunnelDefinition:
    steps: tuple[Step, ...]
    mode: Mode = Mode.ORDERED
    window: timedelta = DEFAULT_WINDOW
    exclusions: tuple[Exclusion, ...] = ()
    count: Counting = Counting.UNIQUE
    breakdown: str | None = None  # a path of the step-1 event, or "channel"
    since: datetime | None = None  # step-1 events at or after
    until: datetime | None = None  # step-1 events before
    name: str = ""

    def spec(self) -> dict[str, Any]:
        """The definition as declared, defaults included (echoed in the result)."""
        spec: dict[str, Any] = {
            "steps": [{**s.match.spec(), "name": s.name} for s in self.steps],
            "mode": self.mode.value,
            "window": window_spec(self.window),
            "count": self.count.value,
        }
        if self.exclusions:
            spec["exclusions"] = [
                {**x.match.spec(), "between": [x.after, x.before]} for x in self.exclusions
            ]
        if self.breakdown is not None:
            spec["breakdown"] = self.breakdown
        if self.since is not None:
            spec["since"] = self.since.isoformat()
        if self.until is not None:
            spec["until"] = self.until.isoformat()
        if self.name:
            spec["name"] = self.name
        return spec


def parse_funnel(spec: object) -> FunnelDefinition:
    """A funnel from its declared form, or a ``FieldError`` naming the bad part's path
    (``steps[1].where.properties.total.gte``)."""
    if not isinstance(spec, Mapping):
        raise FieldError("a funnel is a mapping with steps, mode, window, ...", "")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise FieldError(f"unknown key {unknown[0]!r}", unknown[0])
    mode = _choice(Mode, spec.get("mode", Mode.ORDERED.value), "mode")
    steps = _steps(spec.get("steps"), mode)
    window = parse_window(spec.get("window", "14d"), "window")
    count = _choice(Counting, spec.get("count", Counting.UNIQUE.value), "count")
    exclusions = _exclusions(spec.get("exclusions"), len(steps))
    breakdown = spec.get("breakdown")
    if breakdown is not None and (not isinstance(breakdown, str) or not _PATH.match(breakdown)):
        raise FieldError("breakdown is a dotted path of the step-1 event, or channel", "breakdown")
    since = parse_time(spec.get("since"), "since")
    until = parse_time(spec.get("until"), "until")
    if since is not None and until is not None and until <= since:
        raise FieldError("until comes after since", "until")
    name = spec.get("name", "")
    if not isinstance(name, str):
        raise FieldError("a name is text", "name")
    return FunnelDefinition(steps, mode, window, exclusions, count, breakdown, since, until, name)


def _choice(kind: type[_E], value: object, field: str) -> _E:
    try:
        return kind(str(value))
    except ValueError:
        raise FieldError(f"{field} is one of {', '.join(k.value for k in kind)}", field) from None


def _steps(value: object, mode: Mode) -> tuple[Step, ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise FieldError("a funnel has a list of at least two steps", "steps")
    most = MAX_ANY_ORDER_STEPS if mode == Mode.ANY_ORDER else MAX_STEPS
    if len(value) > most:
        raise FieldError(f"a {mode.value} funnel has at most {most} steps", "steps")
    steps = []
    for i, item in enumerate(value):
        field = f"steps[{i}]"
        if not isinstance(item, Mapping):
            raise FieldError("a step is a mapping with event, where and name", field)
        unknown = sorted(set(item) - FILTER_KEYS - {"name"})
        if unknown:
            raise FieldError(f"unknown key {unknown[0]!r}", f"{field}.{unknown[0]}")
        match = parse_event_filter(item, field)
        name = item.get("name", match.label())
        if not isinstance(name, str) or not name:
            raise FieldError("a step's name is text", f"{field}.name")
        steps.append(Step(name, match))
    return tuple(steps)


def _exclusions(value: object, steps: int) -> tuple[Exclusion, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError("exclusions is a list of events", "exclusions")
    exclusions = []
    for i, item in enumerate(value):
        field = f"exclusions[{i}]"
        if not isinstance(item, Mapping):
            raise FieldError("an exclusion is a mapping with event, where and between", field)
        unknown = sorted(set(item) - _EXCLUSION_KEYS)
        if unknown:
            raise FieldError(f"unknown key {unknown[0]!r}", f"{field}.{unknown[0]}")
        between = item.get("between", [1, steps])
        if (
            not isinstance(between, list)
            or len(between) != 2
            or not all(isinstance(b, int) and not isinstance(b, bool) for b in between)
            or not 1 <= between[0] < between[1] <= steps
        ):
            raise FieldError(
                f"between is two step numbers [a, b], 1 <= a < b <= {steps}", f"{field}.between"
            )
        exclusions.append(Exclusion(parse_event_filter(item, field), between[0], between[1]))
    return tuple(exclusions)
