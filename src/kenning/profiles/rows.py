"""A person's stored state, read in one query: the rows of the profile and of every profile
merged into it from the four state tables (traits, consent, computed-trait tallies and value
counts), for ``read.py`` and ``computed/read.py`` to combine.

Why one query of index lookups: a point lookup in DuckDB costs about 0.1 ms per column it
fetches plus 0.2 ms per statement, so four statements cost a profile read 3.3 ms where one
costs 2.3 (1M profiles, bench/profiles). Each profile id gets its own branch (``= ?``) because
DuckDB turns ``IN`` over neighbouring ids into a range scan (7.8 ms for two ids next to each
other, where two lookups take 0.7).

Times come as microseconds since the epoch: DuckDB turns a TIMESTAMPTZ into a Python
datetime slowly.

The tallies hold the events up to the computed traits' watermark (``computed/catchup.py``);
given a ``Plan``, the same query also reads the person's events after it, in the same
snapshot, and their tallies are worked out here (``tally.tail``) and added to the stored ones.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import duckdb
import pyarrow as pa

from kenning.profiles.computed.tally import Plan, TailEvent, tail

# Up to this many people, ``read_people`` reads each one's rows by index (2-4 ms each).
_BY_INDEX = 32


class Part(IntEnum):
    TRAITS = 0
    CONSENT = 1
    TALLIES = 2
    VALUES = 3
    EVENTS = 4  # events not tallied yet (only with a plan)


# Every part yields the same fourteen columns: the part, the key (trait path, category,
# computed-trait name or event type) and twelve more, NULL where the part has no such column.
_COLUMNS = {
    Part.TRAITS: """0, trait, NULL::BIGINT, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE,
                    value::VARCHAR, epoch_us(observed_at), seq, source_id, NULL::BIGINT,
                    NULL::BIGINT, rank, NULL::VARCHAR""",
    Part.CONSENT: """1, category, granted::BIGINT, NULL, NULL, NULL, NULL,
                     epoch_us(observed_at), seq, source_id, NULL, NULL, rank, NULL""",
    Part.TALLIES: """2, trait, n, total, low, high, first_value, epoch_us(first_at),
                     first_seq, last_value, epoch_us(last_at), last_seq, NULL, NULL""",
    Part.VALUES: """3, trait, n, NULL, NULL, NULL, value, NULL, NULL, NULL,
                    epoch_us(last_at), last_seq, NULL, NULL""",
    Part.EVENTS: """4, e.type, NULL, NULL, NULL, NULL, e.payload, epoch_us(e.timestamp),
                    e.seq, e.source, NULL, NULL, NULL, e.event""",
}
_WATERMARK = "(SELECT seq FROM __kenning_trait_watermark)"
_TABLES = {
    Part.TRAITS: "__kenning_profile_traits",
    Part.CONSENT: "__kenning_consent",
    Part.TALLIES: "__kenning_trait_tallies",
    Part.VALUES: "__kenning_trait_values",
    # The events after the watermark; ``profile_id`` is the profile each was stitched to.
    Part.EVENTS: f"""(SELECT p.profile_id, e.seq, e.type, e.event, e.payload, e.timestamp,
                             coalesce(s.name, e.source_id) AS source
                      FROM __kenning_events e
                      JOIN __kenning_event_profiles p USING (seq)
                      LEFT JOIN __kenning_sources s ON s.id = e.source_id
                      WHERE e.seq > {_WATERMARK} AND p.seq > {_WATERMARK}) e""",
}

# (key, value as JSON text or granted as 0/1, source id, observed at (µs), log seq, rank)
Stating = tuple[str, Any, str, int, int, int]
# (trait, n, total, low, high, first value, first at (µs), first seq, last value, last at, last seq)
Tally = tuple[str, int, float | None, float | None, float | None, str | None, int | None,
              int | None, str | None, int | None, int | None]  # fmt: skip
# (trait, value as canonical text, n, last at (µs), last seq)
ValueCount = tuple[str, str, int, int, int]


@dataclass
class PersonRows:
    """The rows of one person's profiles, by part."""

    traits: list[Stating] = field(default_factory=list)
    consent: list[Stating] = field(default_factory=list)
    tallies: list[Tally] = field(default_factory=list)
    values: list[ValueCount] = field(default_factory=list)
    untallied: list[TailEvent] = field(default_factory=list)  # until ``tallied``

    def add(self, row: tuple[Any, ...]) -> None:
        """One row of the query's fourteen columns, into its part."""
        part, key, n, total, low, high, text, at, seq, other, last_at, last_seq, rank, event = row
        if part == Part.TRAITS:
            self.traits.append((key, text, other, at, seq, rank))
        elif part == Part.CONSENT:
            self.consent.append((key, n, other, at, seq, rank))
        elif part == Part.TALLIES:
            self.tallies.append((key, n, total, low, high, text, at, seq, other, last_at, last_seq))
        elif part == Part.VALUES:
            self.values.append((key, text, n, last_at, last_seq))
        else:
            self.untallied.append(TailEvent(seq, at, key, event, other, text))

    def tallied(self, plan: Plan) -> "PersonRows":
        """The rows with the events not tallied yet added to the tallies."""
        if self.untallied:
            tallies, values = tail(plan, self.untallied)
            self.tallies.extend(tallies)
            self.values.extend(values)
            self.untallied = []
        return self


def profile_ids(con: duckdb.DuckDBPyConnection, profile_id: int) -> list[int]:
    """The profile and every profile merged into it (by id): their rows are its state."""
    merged = con.execute(
        """SELECT profile_id FROM __kenning_profile_redirects WHERE canonical_id = ?
           ORDER BY profile_id""",
        [profile_id],
    ).fetchall()
    return [profile_id, *(int(m) for (m,) in merged)]


_STATE = (Part.TRAITS, Part.CONSENT, Part.TALLIES, Part.VALUES)


def _parts(parts: Sequence[Part], plan: Plan | None) -> list[Part]:
    """``parts``, with the events not tallied yet when there is a plan to tally them."""
    chosen: list[Part] = [p for p in parts if p != Part.EVENTS]
    return [*chosen, Part.EVENTS] if plan is not None and Part.TALLIES in chosen else chosen


def person_rows(
    con: duckdb.DuckDBPyConnection,
    ids: Sequence[int],
    parts: Sequence[Part] = _STATE,
    *,
    plan: Plan | None = None,
) -> PersonRows:
    """The rows of ``parts`` held by the profiles ``ids``; with a ``plan``, their tallies
    include the events after the watermark."""
    chosen = _parts(parts, plan)
    branches = [
        f"SELECT {_COLUMNS[part]} FROM {_TABLES[part]} WHERE profile_id = ?"
        for part in chosen
        for _ in ids
    ]
    found = PersonRows()
    if branches:
        query = " UNION ALL ".join(branches)
        for row in con.execute(query, [i for _ in chosen for i in ids]).fetchall():
            found.add(row)
    return found.tallied(plan) if plan is not None else found


def people_rows(
    con: duckdb.DuckDBPyConnection, members: str, *, plan: Plan | None = None
) -> dict[int, PersonRows]:
    """The rows of many people at once, by person: ``members`` names a relation of
    ``(member, person)``, each profile id with the id of the person whose state it holds.
    One query, so one snapshot: the tallies and the events after the watermark agree."""
    query = " UNION ALL ".join(
        f"""SELECT m.person, {_COLUMNS[part]}
            FROM {_TABLES[part]} t JOIN {members} m ON t.profile_id = m.member"""
        if part != Part.EVENTS
        else f"""SELECT m.person, {_COLUMNS[part]}
                 FROM {_TABLES[part]} JOIN {members} m ON e.profile_id = m.member"""
        for part in _parts(_STATE, plan)
    )
    people: dict[int, PersonRows] = {}
    for person, *row in con.execute(query).fetchall():
        found = people.get(person)
        if found is None:
            found = people[person] = PersonRows()
        found.add(tuple(row))
    if plan is not None:
        for found in people.values():
            found.tallied(plan)
    return people


def winners(rows: Sequence[Stating]) -> dict[str, Stating]:
    """Per key, the winning row among a person's rows (the order profiles/state.py keeps):
    a profile's state combined over the profiles merged into it."""
    # Picked here rather than by a window in the query (QUALIFY row_number() ...): DuckDB
    # takes about 1.5 ms more to plan and run the window than the index lookup itself, which
    # was half of a profile lookup's time (bench/profiles). A key has a row per profile id.
    best: dict[str, Stating] = {}
    for row in rows:
        held = best.get(row[0])
        if held is None or (row[5], row[3], row[4]) > (held[5], held[3], held[4]):
            best[row[0]] = row
    return {key: best[key] for key in sorted(best)}


def read_people(
    con: duckdb.DuckDBPyConnection, people: list[int], *, plan: Plan | None = None
) -> dict[int, tuple[list[int], PersonRows]]:
    """Each person's profile ids and rows (``people``: current profile ids, ascending): a few
    by index, many by joins that read the state tables once. With a ``plan``, the tallies
    include the events after the watermark."""
    if len(people) <= _BY_INDEX:
        found = {}
        for person in people:
            ids = profile_ids(con, person)
            found[person] = (ids, person_rows(con, ids, plan=plan))
        return found
    members: dict[int, list[int]] = {p: [p] for p in people}
    for merged, kept in con.execute(
        """SELECT profile_id, canonical_id FROM __kenning_profile_redirects
           WHERE canonical_id BETWEEN ? AND ? ORDER BY profile_id""",
        [people[0], people[-1]],
    ).fetchall():
        if kept in members:
            members[kept].append(merged)
    con.register(
        "__kenning_members",
        pa.table(
            {
                "member": pa.array([m for ids in members.values() for m in ids], pa.int64()),
                "person": pa.array([p for p, ids in members.items() for _ in ids], pa.int64()),
            }
        ),
    )
    try:
        rows = people_rows(con, "__kenning_members", plan=plan)
    finally:
        con.unregister("__kenning_members")
    return {p: (members[p], rows.get(p, PersonRows())) for p in people}
