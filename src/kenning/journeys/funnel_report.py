"""A funnel's figures: per step, and per breakdown group, the attempts or people that entered
it, conversion from the previous and from the first step, drop-off, and time to convert.

- ``entered``: attempts (totals) or people (unique: each person's best attempt) that reached
  the step;
- ``from_previous`` and ``from_first``: entered over the previous step's and step 1's;
- ``dropped``: those that reached the previous step but not this one, and ``dropped_share``,
  their share of the previous step's (nothing drops before step 1);
- ``time_to_convert``: seconds from the step-1 event to the event that reached the step, over
  the attempts counted that reached it: median, 25th, 75th and 90th percentiles (linear
  interpolation between the closest ranks, numpy's default) and mean.

The window, the mode and the counting are stated in every output.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from kenning.journeys.declarations import window_text
from kenning.journeys.funnel_attempts import Attempts
from kenning.journeys.funnel_definition import Counting, FunnelDefinition, Mode

_MODE_TEXT = {Mode.ORDERED: "Ordered", Mode.STRICT: "Strict", Mode.ANY_ORDER: "Any-order"}
_COUNT_TEXT = {Counting.UNIQUE: "unique people", Counting.TOTALS: "every attempt"}
CSV_COLUMNS = (
    "overall", "group", "step", "name", "entered", "from_previous", "from_first", "dropped",
    "dropped_share", "median_seconds", "p25_seconds", "p75_seconds", "p90_seconds",
    "mean_seconds",
)  # fmt: skip


@dataclass(frozen=True)
class TimeToConvert:
    """Seconds from the step-1 event."""

    median: float
    p25: float
    p75: float
    p90: float
    mean: float

    @classmethod
    def of(cls, microseconds: Any) -> "TimeToConvert | None":
        if not len(microseconds):
            return None
        seconds = np.asarray(microseconds, dtype=np.float64) / 1e6
        p25, median, p75, p90 = np.percentile(seconds, [25, 50, 75, 90])
        return cls(float(median), float(p25), float(p75), float(p90), float(seconds.mean()))

    def to_dict(self) -> dict[str, float]:
        return {
            "median": self.median,
            "p25": self.p25,
            "p75": self.p75,
            "p90": self.p90,
            "mean": self.mean,
        }


@dataclass(frozen=True)
class StepFigures:
    number: int  # from 1
    name: str
    entered: int
    from_previous: float | None  # None when the previous step had no one
    from_first: float | None
    dropped: int
    dropped_share: float | None
    time_to_convert: TimeToConvert | None  # None for step 1, and when no one reached it

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "name": self.name,
            "entered": self.entered,
            "from_previous": self.from_previous,
            "from_first": self.from_first,
            "dropped": self.dropped,
            "dropped_share": self.dropped_share,
            "time_to_convert": None
            if self.time_to_convert is None
            else self.time_to_convert.to_dict(),
        }


@dataclass(frozen=True)
class FunnelFigures:
    """One breakdown group's steps, or everyone's (``group`` None, ``overall``)."""

    group: str | None
    steps: tuple[StepFigures, ...]

    @property
    def conversion(self) -> float | None:
        """From step 1 to the last step."""
        return self.steps[-1].from_first

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "conversion": self.conversion,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class FunnelResult:
    definition: FunnelDefinition
    overall: FunnelFigures
    groups: tuple[FunnelFigures, ...]  # with a breakdown: most entered first

    @property
    def statement(self) -> str:
        """``Ordered funnel of 3 steps, counting unique people: the conversion window is 14
        days.``"""
        d = self.definition
        return (
            f"{_MODE_TEXT[d.mode]} funnel of {len(d.steps)} steps, counting "
            f"{_COUNT_TEXT[d.count]}: the conversion window is {window_text(d.window)}."
        )

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON: the definition as run, the statement, everyone's figures and
        each group's."""
        d = self.definition
        document: dict[str, Any] = {
            "statement": self.statement,
            "mode": d.mode.value,
            "count": d.count.value,
            "window": window_text(d.window),
            "window_seconds": d.window / timedelta(seconds=1),
            "definition": d.spec(),
            "overall": self.overall.to_dict(),
        }
        if d.breakdown is not None:
            document["breakdown"] = d.breakdown
            document["groups"] = [g.to_dict() for g in self.groups]
        return document

    def rows(self) -> list[dict[str, Any]]:
        """One row per step, everyone's first (``overall`` true), then each group's (a group
        may have no value: its step-1 events had none): the columns of ``CSV_COLUMNS``."""
        rows = []
        for figures in (self.overall, *self.groups):
            for step in figures.steps:
                time = step.time_to_convert
                rows.append(
                    {
                        "overall": figures is self.overall,
                        "group": figures.group,
                        "step": step.number,
                        "name": step.name,
                        "entered": step.entered,
                        "from_previous": step.from_previous,
                        "from_first": step.from_first,
                        "dropped": step.dropped,
                        "dropped_share": step.dropped_share,
                        "median_seconds": None if time is None else time.median,
                        "p25_seconds": None if time is None else time.p25,
                        "p75_seconds": None if time is None else time.p75,
                        "p90_seconds": None if time is None else time.p90,
                        "mean_seconds": None if time is None else time.mean,
                    }
                )
        return rows


def funnel_result(
    definition: FunnelDefinition, attempts: Attempts, values: list[str | None]
) -> FunnelResult:
    """The figures of ``attempts``; ``values``: the breakdown value of each group code."""
    names = [s.name for s in definition.steps]
    unique = definition.count == Counting.UNIQUE
    everyone = Attempts(attempts.person, attempts.start, attempts.reach, attempts.elapsed, None)
    overall = figures(None, names, everyone.best_per_person() if unique else everyone)
    groups: list[FunnelFigures] = []
    if definition.breakdown is not None and attempts.group is not None:
        counted = attempts.best_per_person() if unique else attempts
        assert counted.group is not None
        for code in np.unique(counted.group):
            value = None if code < 0 else values[int(code)]
            groups.append(
                figures(value, names, counted.take(np.flatnonzero(counted.group == code)))
            )
        groups.sort(key=lambda g: (-g.steps[0].entered, g.group is None, g.group or ""))
    return FunnelResult(definition, overall, tuple(groups))


def figures(group: str | None, names: list[str], counted: Attempts) -> FunnelFigures:
    """Each step's figures over the attempts ``counted``."""
    entered = [int((counted.reach >= k).sum()) for k in range(1, len(names) + 1)]
    steps = []
    for k, name in enumerate(names):
        previous = entered[k - 1] if k else entered[0]
        reached = counted.elapsed[counted.reach > k, k] if k else []
        steps.append(
            StepFigures(
                number=k + 1,
                name=name,
                entered=entered[k],
                from_previous=_share(entered[k], previous),
                from_first=_share(entered[k], entered[0]),
                dropped=previous - entered[k],
                dropped_share=_share(previous - entered[k], previous) if k else None,
                time_to_convert=TimeToConvert.of(reached) if k else None,
            )
        )
    return FunnelFigures(group, tuple(steps))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
