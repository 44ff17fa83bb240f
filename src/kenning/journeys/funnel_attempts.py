"""Funnel attempts, found with array operations over the events a funnel reads: no Python
loop runs per person or per event.

The rows are sorted by person, then time and sequence; each has a bitmask of the steps and
exclusions it matches. Every step-1 event is a candidate start. From a start, the rows that
reach each later step are found by the mode's rule (docs/funnels.md):

- ordered: step k is the first row after step k-1's that matches step k; ``first_from``
  finds it for every start at once, one binary search among the rows with step k's bit;
- strict: step k is the row right after step k-1's, when it matches step k and is the
  person's very next event in the log (its position is one more);
- any order: steps 2..k are done at the first row by which distinct rows after the start can
  stand for each of them. By Hall's theorem that is the latest, over every group J of those
  steps, of the row where the count of rows matching some step of J reaches |J|; a running
  count makes each group one binary search. Only groups within steps some row matches
  together need checking: rows of unconnected groups are distinct anyway.

Every step must be reached within the window of the start's time. An exclusion voids a
candidate when a matching row lies after its step ``after`` and before its step ``before``
(before the window's end if it never got there). The attempts are then chosen among the
candidates: a person's first start, then the first start after the previous attempt ended (at
its exclusion, at its last step, or, if it did neither, when its window closed). Each
candidate's successor is one gather; the attempts, the chain of successors from each person's
first start, are found by pointer doubling (log2 of the longest chain rounds).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]

ORDERED, STRICT, ANY_ORDER = "ordered", "strict", "any_order"
_NO_ONE = np.iinfo(np.int64).min  # the person of the row past the end
_NEVER = np.iinfo(np.int64).max  # its time


@dataclass(frozen=True)
class FunnelRows:
    """What the funnel's query read, sorted by (person, time, seq)."""

    person: Ints
    time: Ints  # microseconds since the epoch
    mask: Ints  # bit k-1: step k; bit n_steps + i: exclusion i
    position: Ints | None = None  # strict mode: the event's number among all the person's
    group: Ints | None = None  # breakdown: the code of the step-1 event's value, -1 for none


@dataclass(frozen=True)
class Attempts:
    """Attempts that count (none voided), in order of person and start."""

    person: Ints
    start: Ints  # the row of the step-1 event
    reach: Ints  # how many steps the attempt reached, 1..n
    elapsed: Ints  # (attempts, steps): microseconds from the start to step k; -1 if never
    group: Ints | None

    def __len__(self) -> int:
        return len(self.person)

    def take(self, chosen: Ints) -> "Attempts":
        return Attempts(
            self.person[chosen],
            self.start[chosen],
            self.reach[chosen],
            self.elapsed[chosen],
            None if self.group is None else self.group[chosen],
        )

    def best_per_person(self) -> "Attempts":
        """Each person's attempt that reached furthest, the earliest of those; with groups,
        each person's best within each group."""
        if not len(self):
            return self
        if self.group is None:
            order = np.arange(len(self))
            changed = self.person[1:] != self.person[:-1]
        else:
            order = np.lexsort((self.start, self.group, self.person))
            person, group = self.person[order], self.group[order]
            changed = (person[1:] != person[:-1]) | (group[1:] != group[:-1])
        first = np.flatnonzero(np.concatenate(([True], changed)))
        segment = np.cumsum(np.concatenate(([True], changed))) - 1
        reach = self.reach[order]
        best = reach == np.maximum.reduceat(reach, first)[segment]
        candidates = np.flatnonzero(best)
        kept = candidates[
            np.concatenate(([True], segment[candidates][1:] != segment[candidates][:-1]))
        ]
        return self.take(order[kept])


def find_attempts(
    rows: FunnelRows,
    *,
    steps: int,
    mode: str,
    window: int,
    exclusions: Sequence[tuple[int, int]] = (),
) -> Attempts:
    """Every attempt of the funnel over ``rows``. ``window`` in microseconds; each exclusion
    is (after, before), step numbers from 1, its bit ``steps + i``."""
    n = len(rows.person)
    starts = np.flatnonzero(rows.mask & 1)
    m = len(starts)
    if m == 0:
        empty = np.zeros(0, dtype=np.int64)
        no_steps = np.zeros((0, steps), dtype=np.int64)
        return Attempts(empty, empty, empty, no_steps, None if rows.group is None else empty)
    # One row past the end stands for "none": no one's, never in any window.
    person = np.append(rows.person, _NO_ONE)
    time = np.append(rows.time, _NEVER)
    mask = np.append(rows.mask, 0)
    starter = person[starts]
    deadline = time[starts] + window

    def within(found: Ints) -> Flags:
        ok: Flags = (person[found] == starter) & (time[found] <= deadline)
        return ok

    def first_from(bits: int, after: Ints) -> Ints:
        """For each row number in ``after`` (0..n+1), the first row at or after it that
        matches ``bits``, else n."""
        having = np.append(np.flatnonzero(rows.mask & bits), n)
        found: Ints = having[np.searchsorted(having, np.minimum(after, n))]
        return found

    reached = np.full((steps, m), n, dtype=np.int64)
    reached[0] = starts
    if mode == ORDERED:
        ok = np.ones(m, dtype=bool)
        for k in range(1, steps):
            found = first_from(1 << k, reached[k - 1] + 1)
            ok &= within(found)
            reached[k] = np.where(ok, found, n)
    elif mode == STRICT:
        if rows.position is None:
            raise ValueError("a strict funnel needs each event's position")
        position = np.append(rows.position, _NO_ONE)
        ok = np.ones(m, dtype=bool)
        for k in range(1, steps):
            found = np.minimum(reached[k - 1] + 1, n)
            ok &= (
                ((mask[found] >> k) & 1).astype(bool)
                & within(found)
                & (position[found] == position[reached[k - 1]] + 1)
            )
            reached[k] = np.where(ok, found, n)
    elif mode == ANY_ORDER:
        _any_order(rows.mask, steps, starts, reached, within, first_from)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    reach = (reached < n).sum(axis=0)

    voided = np.zeros(m, dtype=bool)
    voided_at = np.full(m, n, dtype=np.int64)
    for i, (after, before) in enumerate(exclusions):
        found = first_from(1 << (steps + i), reached[after - 1] + 1)
        inside = np.where(reach >= before, found < reached[before - 1], within(found))
        hit = (reach >= after) & (found < n) & inside
        voided |= hit
        voided_at = np.where(hit, np.minimum(voided_at, found), voided_at)

    following = _following(rows.mask, starts, reach == steps, reached[steps - 1], voided,
                           voided_at, time[starts], deadline, starter)  # fmt: skip
    counted = np.flatnonzero(_chained(following, starter) & ~voided)
    chosen_rows = reached[:, counted]
    elapsed = np.where(chosen_rows < n, time[chosen_rows] - time[starts[counted]], -1)
    return Attempts(
        person=starter[counted],
        start=starts[counted],
        reach=reach[counted],
        elapsed=np.ascontiguousarray(elapsed.T),
        group=None if rows.group is None else rows.group[starts[counted]],
    )


def _any_order(
    mask: Ints,
    steps: int,
    starts: Ints,
    reached: Ints,
    within: Callable[[Ints], Flags],
    first_from: Callable[[int, Ints], Ints],
) -> None:
    """Fill ``reached`` (rows by which steps 1..k are all done) for any order."""
    n = len(mask)
    later = (mask >> 1) & ((1 << (steps - 1)) - 1)  # bits of steps 2..n
    combinations = np.flatnonzero(np.bincount(later, minlength=1 << (steps - 1)))
    groups = _connected_groups([int(c) for c in combinations], steps - 1)
    done_by: dict[int, list[Ints]] = {}  # the highest step of a group -> rows it is done by
    for group in groups:
        size = group.bit_count()
        if size == 1:
            found: Ints = first_from(group << 1, starts + 1)
        else:
            running = np.concatenate(([0], np.cumsum((later & group) != 0)))
            found = np.searchsorted(running, running[starts + 1] + size, side="left") - 1
            found = np.minimum(found, n)
        done_by.setdefault(group.bit_length(), []).append(found)
    ok = np.ones(len(starts), dtype=bool)
    for k in range(1, steps):
        latest = reached[k - 1]
        for found in done_by.get(k, []):
            ok &= within(found)
            latest = np.maximum(latest, found)
        reached[k] = np.where(ok, latest, n)


def _connected_groups(combinations: list[int], steps: int) -> list[int]:
    """Every non-empty set of steps (bit masks over steps 2..n) within one connected part,
    steps being connected when some row matches both."""
    parts = [1 << i for i in range(steps)]
    for combination in combinations:
        joined = [p for p in parts if p & combination]
        if len(joined) > 1:
            parts = [p for p in parts if not p & combination] + [sum(joined)]
    groups = []
    for part in parts:
        members = [1 << i for i in range(steps) if part >> i & 1]
        for chosen in range(1, 1 << len(members)):
            groups.append(sum(b for j, b in enumerate(members) if chosen >> j & 1))
    return groups


def _following(
    mask: Ints,
    starts: Ints,
    complete: Flags,
    last: Ints,
    voided: Flags,
    voided_at: Ints,
    started: Ints,
    deadline: Ints,
    starter: Ints,
) -> Ints:
    """For each candidate, the candidate (an index into ``starts``) that would be the next
    attempt after it, or ``len(starts)`` if none of the same person."""
    m = len(starts)
    # starts before each row: the first start after row r is before[r + 1]
    before = np.concatenate(([0], np.cumsum(mask & 1), [m]))
    ended_at = np.where(voided, voided_at, last)
    by_row = before[np.where(voided | complete, ended_at, 0) + 1]
    # An open attempt ends when its window closes: the next start is the first of the same
    # person later than the deadline. People are numbered densely and the search runs on
    # complex numbers, which numpy orders by real part, then imaginary part: (person, time)
    # pairs, exact (float64 holds microseconds since the epoch exactly until 2255).
    dense = np.cumsum(np.concatenate(([0], starter[1:] != starter[:-1]))).astype(np.float64)
    keys = dense + 1j * started.astype(np.float64)
    following = by_row
    open_ = np.flatnonzero(~(voided | complete))
    following[open_] = np.searchsorted(
        keys, dense[open_] + 1j * deadline[open_].astype(np.float64), side="right"
    )
    same = following < m
    same[same] = starter[following[same]] == starter[same]
    result: Ints = np.where(same, following, m)
    return result


def _chained(following: Ints, starter: Ints) -> Flags:
    """The candidates on the chain of successors from each person's first start, by pointer
    doubling: after round r the chain's first 2^r links are marked."""
    m = len(following)
    jump = np.append(following, m)
    on = np.zeros(m + 1, dtype=bool)
    on[np.flatnonzero(np.concatenate(([True], starter[1:] != starter[:-1])))] = True
    while True:
        targets = jump[np.flatnonzero(on)]
        targets = targets[targets < m]
        if not len(targets):
            return on[:m]
        on[targets] = True
        jump = jump[jump]
