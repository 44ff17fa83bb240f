"""Random event logs written straight into a real store's tables, and a plain-Python funnel
that follows docs/funnels.md one person, one start, one event at a time: the reference the
array engine is held to."""

import itertools
import random
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson

from kenning.journeys.channels import ChannelRules, field_text
from kenning.journeys.declarations import EventFilter
from kenning.journeys.funnel_definition import CHANNEL, Counting, FunnelDefinition, Mode
from kenning.profiles.computed.tally import Event as TallyEvent
from kenning.profiles.computed.tally import holds
from kenning.store.store import Store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SOURCES = {"src-web": "web", "src-app": "app"}


@dataclass(frozen=True)
class LoggedEvent:
    seq: int
    profile: int  # the profile it was stitched to
    person: int  # the canonical person (after merges)
    at: datetime
    type: str
    event: str | None
    source_id: str
    message: dict[str, Any] = field(hash=False)

    @property
    def micros(self) -> int:
        return (self.at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)

    @property
    def source(self) -> str:
        return SOURCES[self.source_id]


def random_log(
    rng: random.Random, *, people: int, events: int, span_minutes: int
) -> list[LoggedEvent]:
    """``people`` people, some with two profiles merged into one, ``events`` events at whole
    minutes (so times tie) across ``span_minutes``: track events A, B, C, X with properties k
    (1..3, sometimes missing) and cat, and pages between them."""
    profiles = {}
    next_profile = itertools.count(1)
    for _ in range(people):
        canonical = next(next_profile)
        profiles[canonical] = canonical
        if rng.random() < 0.3:  # a second device, merged into the first
            profiles[next(next_profile)] = canonical
    log = []
    for seq in range(1, events + 1):
        profile = rng.choice(list(profiles))
        at = T0 + timedelta(minutes=rng.randrange(span_minutes))
        if rng.random() < 0.2:
            kind, name = "page", None
            message: dict[str, Any] = {"type": "page", "name": rng.choice(["Home", "Sale"])}
        else:
            kind, name = "track", rng.choice("AAABBBCCX")
            message = {"type": "track", "event": name}
        properties: dict[str, Any] = {}
        if rng.random() < 0.85:
            properties["k"] = rng.choice([1, 2, 3])
        if rng.random() < 0.7:
            properties["cat"] = rng.choice(["shoes", "hats"])
        message["properties"] = properties
        message["messageId"] = f"m{seq}"
        message["userId"] = f"u{profile}"
        message["timestamp"] = at.isoformat()
        log.append(
            LoggedEvent(
                seq, profile, profiles[profile], at, kind, name, rng.choice(list(SOURCES)), message
            )
        )
    return log


def write_log(store: Store, log: Sequence[LoggedEvent]) -> None:
    """The log, the event profiles and the merges, written into the store's own tables."""

    def write(con: duckdb.DuckDBPyConnection) -> None:
        for source_id, name in SOURCES.items():
            con.execute(
                """INSERT INTO __kenning_sources VALUES (?, ?, ?, ?, NULL, ?, NULL)
                   ON CONFLICT DO NOTHING""",
                [source_id, name, f"hash-{name}", name[:4], T0],
            )
        con.executemany(
            """INSERT INTO __kenning_events (seq, source_id, message_id, type, event, user_id,
                   anonymous_id, timestamp, original_timestamp, sent_at, received_at, flags,
                   payload)
               VALUES (?, ?, ?, ?, ?, ?, NULL, ?, NULL, NULL, ?, [], ?)""",
            [
                [
                    e.seq,
                    e.source_id,
                    e.message["messageId"],
                    e.type,
                    e.event,
                    e.message["userId"],
                    e.at,
                    e.at,
                    orjson.dumps(e.message).decode(),
                ]
                for e in log
            ],
        )
        con.executemany(
            "INSERT INTO __kenning_event_profiles VALUES (?, ?)",
            [[e.seq, e.profile] for e in log],
        )
        merged = sorted({(e.profile, e.person) for e in log if e.profile != e.person})
        if merged:
            con.executemany("INSERT INTO __kenning_profile_redirects VALUES (?, ?)", merged)

    store.writer.run(write).result()


# -- the reference --------------------------------------------------------------------------


def matches(match: EventFilter, e: LoggedEvent) -> bool:
    if match.events and e.event not in match.events:
        return False
    if match.types and e.type not in match.types:
        return False
    event = TallyEvent(e.seq, e.profile, e.at, e.type, e.event, e.source, e.message)
    return all(holds(c, event) for c in match.where)


@dataclass(frozen=True)
class Attempt:
    person: int
    start: int  # index into the person's events
    reached: tuple[int, ...]  # index of the event by which each step was reached
    elapsed: tuple[int, ...]  # microseconds from the start to each step reached
    group: str | None


def people(log: Sequence[LoggedEvent]) -> Iterator[tuple[int, list[LoggedEvent]]]:
    by_person: dict[int, list[LoggedEvent]] = {}
    for e in log:
        by_person.setdefault(e.person, []).append(e)
    for person in sorted(by_person):
        yield person, sorted(by_person[person], key=lambda e: (e.at, e.seq))


def attempts(definition: FunnelDefinition, log: Sequence[LoggedEvent]) -> list[Attempt]:
    """Every attempt that counts (none voided), by the rules as written."""
    found = []
    window = definition.window
    for person, events in people(log):

        def starts(e: LoggedEvent) -> bool:
            return (
                matches(definition.steps[0].match, e)
                and (definition.since is None or e.at >= definition.since)
                and (definition.until is None or e.at < definition.until)
            )

        s = next((i for i, e in enumerate(events) if starts(e)), None)
        while s is not None:
            deadline = events[s].at + window
            reached = _reach(definition, events, s)
            voided_at = _voided_at(definition, events, s, reached)
            if voided_at is None:
                found.append(
                    Attempt(
                        person,
                        s,
                        tuple(reached),
                        tuple(events[r].micros - events[s].micros for r in reached),
                        _group(definition, events[s]),
                    )
                )
            if voided_at is not None:
                s = next((i for i in range(voided_at + 1, len(events)) if starts(events[i])), None)
            elif len(reached) == len(definition.steps):
                s = next(
                    (i for i in range(reached[-1] + 1, len(events)) if starts(events[i])), None
                )
            else:
                s = next(
                    (
                        i
                        for i in range(s + 1, len(events))
                        if starts(events[i]) and events[i].at > deadline
                    ),
                    None,
                )
    return found


def _reach(definition: FunnelDefinition, events: list[LoggedEvent], s: int) -> list[int]:
    """The events by which steps 1, 2, ... were reached from the start ``s``."""
    deadline = events[s].at + definition.window
    steps = [step.match for step in definition.steps]
    in_window = [i for i in range(s + 1, len(events)) if events[i].at <= deadline]
    reached = [s]
    if definition.mode == Mode.ORDERED:
        for match in steps[1:]:
            nxt = next(
                (i for i in in_window if i > reached[-1] and matches(match, events[i])), None
            )
            if nxt is None:
                break
            reached.append(nxt)
        # the first match after each step reaches as far as any choice could
        assert len(reached) == _longest_chain(steps, events, s, in_window)
    elif definition.mode == Mode.STRICT:
        for match in steps[1:]:
            nxt = reached[-1] + 1
            if nxt not in in_window or not matches(match, events[nxt]):
                break
            reached.append(nxt)
    else:
        for k in range(2, len(steps) + 1):
            done = next(
                (
                    j
                    for j in in_window
                    if _assignable(steps[1:k], [events[i] for i in in_window if i <= j])
                ),
                None,
            )
            if done is None:
                break
            reached.append(max(done, reached[-1]))
    return reached


def _longest_chain(
    steps: list[EventFilter], events: list[LoggedEvent], s: int, in_window: list[int]
) -> int:
    """Every choice of events in order, searched exhaustively."""

    def longest(k: int, after: int) -> int:
        if k == len(steps):
            return 0
        options = [i for i in in_window if i > after and matches(steps[k], events[i])]
        return max((1 + longest(k + 1, i) for i in options), default=0)

    return 1 + longest(1, s)


def _assignable(steps: list[EventFilter], events: list[LoggedEvent]) -> bool:
    """Distinct events can stand for every step (searched exhaustively)."""

    def assign(k: int, used: frozenset[int]) -> bool:
        if k == len(steps):
            return True
        return any(
            assign(k + 1, used | {i})
            for i, e in enumerate(events)
            if i not in used and matches(steps[k], e)
        )

    return assign(0, frozenset())


def _voided_at(
    definition: FunnelDefinition, events: list[LoggedEvent], s: int, reached: list[int]
) -> int | None:
    deadline = events[s].at + definition.window
    hits = []
    for x in definition.exclusions:
        if len(reached) < x.after:
            continue
        for i in range(reached[x.after - 1] + 1, len(events)):
            inside = (
                i < reached[x.before - 1] if len(reached) >= x.before else events[i].at <= deadline
            )
            if inside and matches(x.match, events[i]):
                hits.append(i)
                break
    return min(hits, default=None)


def _group(definition: FunnelDefinition, start: LoggedEvent) -> str | None:
    if definition.breakdown is None:
        return None
    if definition.breakdown == CHANNEL:
        return ChannelRules.default().classify(start.message, start.source)
    return field_text(start.message, start.source, definition.breakdown)


def counted(definition: FunnelDefinition, found: list[Attempt], *, by_group: bool) -> list[Attempt]:
    if definition.count == Counting.TOTALS:
        return found
    best: dict[tuple[int, str | None], Attempt] = {}
    for a in found:  # in order of person and start: the first of the furthest wins
        key = (a.person, a.group if by_group else None)
        if key not in best or len(a.reached) > len(best[key].reached):
            best[key] = a
    return list(best.values())


def figures(steps: int, chosen: list[Attempt]) -> list[dict[str, Any]]:
    """Per step: entered, and the time-to-convert figures in seconds."""
    rows = []
    for k in range(steps):
        reached = [a.elapsed[k] / 1e6 for a in chosen if len(a.reached) > k]
        row: dict[str, Any] = {"entered": len(reached)}
        if k and reached:
            # quantiles needs two values; one value is every quantile of itself
            sample = reached if len(reached) > 1 else reached * 2
            quartiles = statistics.quantiles(sample, n=4, method="inclusive")
            tenths = statistics.quantiles(sample, n=10, method="inclusive")
            row["time"] = {
                "median": statistics.median(reached),
                "p25": quartiles[0],
                "p75": quartiles[2],
                "p90": tenths[8],
                "mean": statistics.fmean(reached),
            }
        rows.append(row)
    return rows


def reference(definition: FunnelDefinition, log: Sequence[LoggedEvent]) -> dict[str, Any]:
    """Everyone's figures and each group's, as ``{"overall": [...], "groups": {value: [...]}}``."""
    found = attempts(definition, log)
    steps = len(definition.steps)
    result: dict[str, Any] = {"overall": figures(steps, counted(definition, found, by_group=False))}
    if definition.breakdown is not None:
        chosen = counted(definition, found, by_group=True)
        result["groups"] = {
            value: figures(steps, [a for a in chosen if a.group == value])
            for value in {a.group for a in chosen}
        }
    return result
