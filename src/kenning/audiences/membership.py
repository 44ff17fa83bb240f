"""Who is in each audience: worked out for a few people in Python (real time) or for everyone in
SQL (batch), and the difference with the members held written as changes.

Both evaluations read committed state on a reader and hand what they found to a writer job
(``apply_changes``, ``apply_batch``), which changes the members and records each entry and exit
(``__kenning_audience_changes``: the profile's ``Audience Entered``/``Audience Exited``) in one
transaction. Audiences are evaluated in dependency order, so one that reads another sees its
new members.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kenning.audiences.audience import Audience
from kenning.audiences.compile import Inputs, condition_sql, facts_sql
from kenning.audiences.evaluate import Facts, holds
from kenning.predictions.scores import people_scores
from kenning.profiles.computed import batch
from kenning.profiles.computed.definitions import TraitDefinition
from kenning.profiles.computed.read import computed_traits
from kenning.profiles.computed.tally import Plan
from kenning.profiles.rows import PersonRows, profile_ids, read_people, winners

ENTERED = "entered"
EXITED = "exited"
_BATCH = "__kenning_audience_batch"
_FACTS = "__kenning_audience_facts"


@dataclass(frozen=True)
class Change:
    audience: str
    profile_id: int
    change: str  # ENTERED or EXITED


# Told, in the transaction that records them, of the changes (activation sends from here).
ChangeListener = Callable[[duckdb.DuckDBPyConnection, Sequence[Change], datetime], object]


def members_page(
    con: duckdb.DuckDBPyConnection, audience: str, after: int, limit: int
) -> list[tuple[int, datetime]]:
    """Up to ``limit`` members of ``audience`` with a profile id above ``after``, by id, with
    when they entered."""
    return [
        (int(p), at)
        for p, at in con.execute(
            """SELECT profile_id, entered_at FROM __kenning_audience_members
               WHERE audience = ? AND profile_id > ? ORDER BY profile_id LIMIT ?""",
            [audience, after, limit],
        ).fetchall()
    ]


def profile_memberships(con: duckdb.DuckDBPyConnection, profile_id: int) -> dict[str, Any]:
    """The audiences a (current) profile is in, and its latest 100 entries and exits, newest
    first; the internal audiences of campaigns and snapshots (``campaign:x``) left out."""
    ids = profile_ids(con, profile_id)
    held = con.execute(
        """SELECT audience, entered_at FROM __kenning_audience_members
           WHERE profile_id = ? AND NOT contains(audience, ':') ORDER BY audience""",
        [profile_id],
    ).fetchall()
    changes = con.execute(
        """SELECT audience, change, changed_at, cause FROM __kenning_audience_changes
           WHERE profile_id = ANY(?) AND NOT contains(audience, ':')
           ORDER BY id DESC LIMIT 100""",
        [ids],
    ).fetchall()
    return {
        "audiences": [{"name": a, "entered_at": at.isoformat()} for a, at in held],
        "changes": [
            {
                "event": "Audience Entered" if change == ENTERED else "Audience Exited",
                "audience": a,
                "at": at.isoformat(),
                "cause": cause,
            }
            for a, change, at, cause in changes
        ],
    }


def current_ids(con: duckdb.DuckDBPyConnection, ids: Iterable[int]) -> dict[int, int]:
    """Each profile id's current profile (itself unless merged away)."""
    wanted = sorted(set(ids))
    current = {i: i for i in wanted}
    if wanted:
        for merged, kept in con.execute(
            """SELECT profile_id, canonical_id FROM __kenning_profile_redirects
               WHERE profile_id = ANY(?)""",
            [wanted],
        ).fetchall():
            current[int(merged)] = int(kept)
    return current


def person_facts(
    rows: PersonRows,
    definitions: Iterable[TraitDefinition],
    household: Mapping[str, Any],
    audiences: set[str],
    predictions: Mapping[str, Any] | None = None,
) -> Facts:
    return Facts(
        traits={path: orjson.loads(row[1]) for path, row in winners(rows.traits).items()},
        computed=computed_traits(rows, definitions),
        consent={category: bool(row[1]) for category, row in winners(rows.consent).items()},
        household=household,
        audiences=audiences,
        predictions=predictions or {},
    )


def evaluate_people(
    con: duckdb.DuckDBPyConnection,
    touched: Iterable[int],
    audiences: Sequence[Audience],
    definitions: Iterable[TraitDefinition],
    now: datetime,
) -> list[Change]:
    """The changes of membership of the people whose profiles ``touched`` names (ids merged
    away leave every audience; ``audiences`` in dependency order)."""
    current = current_ids(con, touched)
    people = sorted(set(current.values()))
    retired = sorted(i for i, kept in current.items() if i != kept)
    held: dict[int, set[str]] = {}
    for audience, profile_id in con.execute(
        "SELECT audience, profile_id FROM __kenning_audience_members WHERE profile_id = ANY(?)",
        [people + retired],
    ).fetchall():
        held.setdefault(int(profile_id), set()).add(str(audience))
    changes = [Change(a, i, EXITED) for i in retired for a in sorted(held.get(i, ()))]
    if not people or not audiences:
        return changes
    names = {a.name for a in audiences}
    for person, facts in people_now(con, people, audiences, definitions, now).items():
        before = held.get(person, set())
        now_in = set(facts.audiences)
        changes += [Change(a, person, ENTERED) for a in sorted(now_in - before)]
        changes += [Change(a, person, EXITED) for a in sorted((before & names) - now_in)]
    return changes


def people_now(
    con: duckdb.DuckDBPyConnection,
    people: Sequence[int],
    audiences: Sequence[Audience],
    definitions: Iterable[TraitDefinition],
    now: datetime,
) -> dict[int, Facts]:
    """What each of ``people`` (current profile ids) is now, their audiences evaluated afresh
    (``audiences`` in dependency order) rather than read from the members held."""
    wanted = sorted(set(people))
    households = _households(con, wanted)
    predictions = people_scores(con, wanted)
    definitions = list(definitions)
    found: dict[int, Facts] = {}
    # Their latest events are likely not tallied yet: the rows count them (rows.py).
    plan = Plan(definitions)
    for person, (_, rows) in read_people(con, wanted, plan=plan).items():
        now_in: set[str] = set()
        facts = person_facts(
            rows, definitions, households.get(person, {}), now_in, predictions.get(person)
        )
        for audience in audiences:  # dependency order: now_in grows as it goes
            if holds(audience.condition, facts, now):
                now_in.add(audience.name)
        found[person] = facts
    return found


def _households(con: duckdb.DuckDBPyConnection, people: list[int]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    cursor = con.execute(
        "SELECT * FROM kenning_household_traits WHERE profile_id = ANY(?)", [people]
    )
    names = [c[0] for c in cursor.description or ()]
    for row in cursor.fetchall():
        record = dict(zip(names, row, strict=True))
        person = int(record.pop("profile_id"))
        found[person] = {k.removeprefix("household_"): v for k, v in record.items()}
    return found


def evaluate_all(
    con: duckdb.DuckDBPyConnection,
    audiences: Sequence[Audience],
    definitions: Mapping[str, TraitDefinition],
    now: datetime,
) -> pa.Table:
    """``(audience, profile_id)`` for every member of every audience (in dependency order),
    evaluated in SQL over every current profile, on the caller's (reader) connection."""
    params: list[Any] = []
    inputs = Inputs.of(a.condition for a in audiences)
    facts = facts_sql(inputs, definitions, params)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_FACTS} AS {facts}", params)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_BATCH} (audience VARCHAR, profile_id BIGINT)")
    try:
        for audience in audiences:
            params = [audience.name]
            where = condition_sql(audience.condition, inputs, params, now, _BATCH)
            con.execute(
                f"INSERT INTO {_BATCH} SELECT ?, f.profile_id FROM {_FACTS} f WHERE {where}",
                params,
            )
        return con.sql(f"FROM {_BATCH}").to_arrow_table()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_FACTS}")
        con.execute(f"DROP TABLE IF EXISTS {_BATCH}")


def apply_changes(
    con: duckdb.DuckDBPyConnection,
    changes: Sequence[Change],
    now: datetime,
    cause: str,
    listeners: Sequence[ChangeListener] = (),
) -> list[Change]:
    """Record ``changes`` (a writer job's connection); an entry of someone already in, or an
    exit of someone not in, is dropped. Returns the changes recorded."""
    if not changes:
        return []
    con.register(
        "__kenning_changes",
        pa.table(
            {
                "audience": [c.audience for c in changes],
                "profile_id": pa.array([c.profile_id for c in changes], pa.int64()),
                "change": [c.change for c in changes],
            }
        ),
    )
    try:
        rows = con.execute(
            """SELECT c.audience, c.profile_id, c.change FROM __kenning_changes c
               LEFT JOIN __kenning_audience_members m USING (audience, profile_id)
               WHERE (c.change = 'entered') = (m.profile_id IS NULL)"""
        ).fetchall()
    finally:
        con.unregister("__kenning_changes")
    recorded = [Change(str(a), int(p), str(c)) for a, p, c in rows]
    _record(con, recorded, now, cause)
    for listener in listeners:
        listener(con, recorded, now)
    return recorded


@dataclass(frozen=True)
class Recorded:
    """What a batch recorded: how many entries and exits of each audience, and the changes
    themselves of the audiences asked for (a first batch over a million people records
    millions, counted and written in SQL, wanted one by one by no one)."""

    counts: Mapping[tuple[str, str], int]  # (audience, ENTERED or EXITED) -> how many
    told: Sequence[Change]  # the changes of the audiences asked for, by audience and id

    def __len__(self) -> int:
        return sum(self.counts.values())

    def count(self, change: str) -> int:
        """How many entries (``ENTERED``) or exits (``EXITED``)."""
        return sum(n for (_, kind), n in self.counts.items() if kind == change)

    def changes(self) -> list[Change]:
        return list(self.told)


_DIFF = "__kenning_batch_diff"


def apply_batch(
    con: duckdb.DuckDBPyConnection,
    members: pa.Table,
    audiences: Sequence[str],
    now: datetime,
    *,
    skip: set[int],
    cause: str = "batch",
    listeners: Sequence[ChangeListener] = (),
    watched: Collection[str] | None = None,
) -> Recorded:
    """Make the members of ``audiences`` those in ``members`` (``evaluate_all``'s result),
    except for the people in ``skip`` (changed since it read: real time decides for them);
    record the changes and each audience's size. The difference is found and written in SQL;
    the changes of the ``watched`` audiences (every one when None) are made into ``Change``
    objects, told to the listeners and returned."""
    con.register("__kenning_found", members)
    con.register("__kenning_skip", pa.table({"profile_id": pa.array(sorted(skip), pa.int64())}))
    try:
        con.execute(
            # Both sides hold each (audience, profile) once (a member is found once, held
            # once), so the difference is two anti-joins, not EXCEPT's deduplication; sorted
            # here once for both inserts (_record_from).
            f"""CREATE OR REPLACE TEMP TABLE {_DIFF} AS
                WITH held AS (SELECT audience, profile_id FROM __kenning_audience_members
                              WHERE audience = ANY($audiences)),
                     found AS (SELECT audience, profile_id FROM __kenning_found),
                     diff AS (
                         SELECT f.audience, f.profile_id, 'entered' AS change
                         FROM found f ANTI JOIN held h USING (audience, profile_id)
                         UNION ALL
                         SELECT h.audience, h.profile_id, 'exited'
                         FROM held h ANTI JOIN found f USING (audience, profile_id))
                SELECT audience, profile_id, change FROM diff
                WHERE profile_id NOT IN (SELECT profile_id FROM __kenning_skip)
                ORDER BY profile_id, audience""",
            {"audiences": list(audiences)},
        )
    finally:
        con.unregister("__kenning_found")
        con.unregister("__kenning_skip")
    try:
        _record_from(con, _DIFF, now, cause)
        counts = {
            (str(a), str(c)): int(n)
            for a, c, n in con.execute(
                f"SELECT audience, change, count(*) FROM {_DIFF} GROUP BY ALL"
            ).fetchall()
        }
        params: list[Any] = []
        where = "true"
        if watched is not None:
            where, params = "audience = ANY(?)", [sorted(watched)]
        told = [
            Change(str(a), int(p), str(c))
            for a, p, c in con.execute(
                f"""SELECT audience, profile_id, change FROM {_DIFF} WHERE {where}
                    ORDER BY audience, profile_id""",
                params,
            ).fetchall()
        ]
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_DIFF}")
    sized = dict(
        con.execute(
            """SELECT audience, count(*) FROM __kenning_audience_members
               WHERE audience = ANY(?) GROUP BY audience""",
            [list(audiences)],
        ).fetchall()
    )
    if audiences:
        con.executemany(
            "INSERT INTO __kenning_audience_sizes VALUES (?, ?, ?, ?, ?, ?)",
            [
                [
                    name,
                    now,
                    int(sized.get(name, 0)),
                    counts.get((name, ENTERED), 0),
                    counts.get((name, EXITED), 0),
                    cause,
                ]
                for name in audiences
            ],
        )
    for listener in listeners:
        listener(con, told, now)
    return Recorded(counts, told)


def _record(
    con: duckdb.DuckDBPyConnection, changes: Sequence[Change], now: datetime, cause: str
) -> None:
    if not changes:
        return
    changes = sorted(changes, key=lambda c: (c.profile_id, c.audience))
    table = pa.table(
        {
            "audience": pa.array([c.audience for c in changes], pa.string()),
            "profile_id": pa.array([c.profile_id for c in changes], pa.int64()),
            "change": pa.array([c.change for c in changes], pa.string()),
        }
    )
    con.register("__kenning_recorded", table)
    try:
        _record_from(con, "__kenning_recorded", now, cause)
    finally:
        con.unregister("__kenning_recorded")


def _record_from(con: duckdb.DuckDBPyConnection, changes: str, now: datetime, cause: str) -> None:
    """Apply and log the changes in the relation ``changes`` (``audience, profile_id,
    change``), which holds them sorted by profile id then audience: the profile indexes take
    sorted keys 2.5 times as fast, and sorting once costs a first batch's eight million rows
    less than sorting for each insert (the scans keep the relation's order)."""
    con.execute(
        f"""DELETE FROM __kenning_audience_members m USING {changes} c
            WHERE c.change = 'exited' AND m.audience = c.audience
              AND m.profile_id = c.profile_id"""
    )
    con.execute(
        f"""INSERT INTO __kenning_audience_members
            SELECT audience, profile_id, ?::TIMESTAMPTZ FROM {changes}
            WHERE change = 'entered'""",
        [now],
    )
    con.execute(
        f"""INSERT INTO __kenning_audience_changes
                (audience, profile_id, change, changed_at, cause)
            SELECT audience, profile_id, change, ?::TIMESTAMPTZ, ? FROM {changes}""",
        [now, cause],
    )


_PREVIEW_TALLIES = "__kenning_preview_tallies"
_PREVIEW_VALUES = "__kenning_preview_values"


def preview(
    con: duckdb.DuckDBPyConnection,
    audience: Audience,
    definitions: Mapping[str, TraitDefinition],
    now: datetime,
    *,
    sample: int = 10,
) -> dict[str, Any]:
    """How many people ``audience`` would hold now and a sample of them, without declaring
    it (on a reader). Audiences it reads count with their current members; event counters
    not kept yet are computed from the log into temporary tables (a pass over the log)."""
    missing = [c for c in audience.counters if c.name not in definitions]
    tables: dict[str, tuple[str, str]] = {}
    if missing:
        for name, like in ((_PREVIEW_TALLIES, batch.TALLIES), (_PREVIEW_VALUES, batch.VALUES)):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS FROM {like} LIMIT 0")
        batch.recompute(con, missing, now, tallies=_PREVIEW_TALLIES, values=_PREVIEW_VALUES)
        tables = {c.name: (_PREVIEW_TALLIES, _PREVIEW_VALUES) for c in missing}
    known = {**definitions, **{c.name: c for c in missing}}
    params: list[Any] = []
    inputs = Inputs.of([audience.condition])
    facts = facts_sql(inputs, known, params, tables)
    members = "(SELECT audience, profile_id FROM __kenning_audience_members)"
    where = condition_sql(audience.condition, inputs, params, now, members)
    try:
        row = con.execute(
            f"""WITH f AS ({facts}), chosen AS (SELECT f.profile_id FROM f WHERE {where})
                SELECT (SELECT count(*) FROM chosen), (SELECT count(*) FROM f),
                       (SELECT list(profile_id ORDER BY profile_id)
                        FROM (FROM chosen ORDER BY hash(profile_id) LIMIT ?))""",
            [*params, sample],
        ).fetchone()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_PREVIEW_TALLIES}")
        con.execute(f"DROP TABLE IF EXISTS {_PREVIEW_VALUES}")
    assert row is not None
    return {"size": int(row[0]), "profiles": int(row[1]), "sample": list(row[2] or [])}
