"""The data coverage report: how many customers Kenning knows each thing about.

For every profile trait, computed trait, consent category and identifier type, and for
households and the customer-understanding levels, the number and share of current profiles
(the distinct ``profile_id`` of ``kenning_identifiers``: merged-away ids are counted in the
profile that holds them now) that have it, overall and, where the data says where it came from,
per source:

- a trait: its current value is no blank (``understanding.has_value``); per source, the
  profiles whose *winning* value came from that source. Shares per source add up to the
  overall share, so they say where the coverage comes from (which integration supplies the
  birthdays) rather than how well each source's own audience is covered, which would need a
  pass over the whole log;
- a computed trait: counts, sums and unique counts non-zero, unique lists non-empty, the other
  kinds present (they have a value once an event gave one); no sources: a trait is computed
  from the events of every source;
- a consent category: a decision recorded, and a grant; per source, the source of the current
  decision;
- an identifier type: at least one held; per source, the source that brought the profile's
  first identifier of the type to the log;
- households: in one (a usable address), sharing it with another profile, and its composition
  known (every member's birthday, so adults and children are counted exactly);
- the understanding levels (``profiles/understanding.py``): profiles at each level, and
  profiles meeting each requirement whatever their level.

Each part is one aggregate over the current-state tables and the computed-trait tallies, all
read in one transaction so the parts agree while events arrive; no pass over the event log.
State rows are keyed by profiles that hold identifiers (a profile is made by its first
identifier, and ids merged away redirect to the current one), so no part needs joining with the
list of profiles.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb

from kenning.profiles.computed.definitions import Kind, TraitDefinition
from kenning.profiles.current import current_state_sql
from kenning.profiles.understanding import (
    LABELS,
    Params,
    UnderstandingRules,
    current_traits_sql,
    requirements,
    understanding_sql,
)

if TYPE_CHECKING:  # the store holds the rules and the computed traits
    from kenning.store.store import Store

_DECIMALS = 4
_CURRENT = "coalesce(r.canonical_id, {t}.profile_id)"
_REDIRECTED = "LEFT JOIN __kenning_profile_redirects r USING (profile_id)"
_SOURCE = "coalesce(s.name, {t}.source_id)"
_SOURCES = "LEFT JOIN __kenning_sources s ON s.id = {t}.source_id"
# What "having" a computed trait is: for the kinds that count, a value other than 0 (or []).
_COUNTS = {
    Kind.COUNT: "non-zero",
    Kind.SUM: "non-zero",
    Kind.UNIQUE_COUNT: "non-zero",
    Kind.UNIQUE_LIST: "non-empty",
}
_BY_VALUE = frozenset({Kind.MOST_FREQUENT, Kind.UNIQUE_LIST, Kind.UNIQUE_COUNT})


@dataclass
class _Tally:
    """Profiles having one thing, in all and per source."""

    profiles: int = 0
    by_source: dict[str, int] = field(default_factory=dict)

    def add(self, source: str, profiles: int) -> None:
        self.profiles += profiles
        self.by_source[source] = self.by_source.get(source, 0) + profiles


def _share(profiles: int, of: int) -> dict[str, Any]:
    return {"profiles": profiles, "share": round(profiles / of, _DECIMALS) if of else 0.0}


def _with_sources(tally: _Tally, of: int) -> dict[str, Any]:
    ranked = sorted(tally.by_source.items(), key=lambda item: (-item[1], item[0]))
    return {**_share(tally.profiles, of), "by_source": {s: _share(n, of) for s, n in ranked}}


def _ranked(tallies: Mapping[str, _Tally]) -> list[tuple[str, _Tally]]:
    """Most covered first, then by name."""
    return sorted(tallies.items(), key=lambda item: (-item[1].profiles, item[0]))


def coverage(store: "Store") -> dict[str, Any]:
    """The report, as the API returns it (``GET /v1/coverage``)."""
    rules = store.profile_settings.understanding
    definitions = store.computed.shown
    store.tallies.now()  # the computed traits count every event committed so far
    with store.reader() as con:
        con.begin()  # one snapshot: the parts add up while events arrive
        try:
            total, ids = _profiles(con)
            report = {
                "profiles": total,
                "traits": {
                    trait: _with_sources(tally, total) for trait, tally in _ranked(_traits(con))
                },
                "computed_traits": _computed(con, definitions, total, ids),
                "consent": _consent(con, total),
                "identifiers": {
                    kind: _with_sources(tally, total) for kind, tally in _ranked(_identifiers(con))
                },
                "households": _households(con, total),
                "understanding": _understanding(con, rules, definitions, total),
            }
        finally:
            con.rollback()
    return report


def _profiles(con: duckdb.DuckDBPyConnection) -> tuple[int, tuple[int, int]]:
    """How many current profiles, and the lowest and highest of their ids."""
    row = con.execute(
        """SELECT count(DISTINCT profile_id), coalesce(min(profile_id), 0),
                  coalesce(max(profile_id), 0)
           FROM kenning_identifiers"""
    ).fetchone()
    return (int(row[0]), (int(row[1]), int(row[2]))) if row else (0, (0, 0))


def _distinct_sql(column: str) -> str:
    """How many distinct profile ids: ids are small dense integers, so one bit each (DuckDB's
    count(DISTINCT) over ten million value rows took five times as long)."""
    return f"coalesce(bit_count(bitstring_agg({column}, $lowest, $highest)), 0)"


def _traits(con: duckdb.DuckDBPyConnection) -> dict[str, _Tally]:
    rows = con.execute(
        f"""SELECT t.trait, coalesce(s.name, t.current.source_id), count(*)
            FROM ({current_traits_sql()}) t
            LEFT JOIN __kenning_sources s ON s.id = t.current.source_id
            WHERE t.current.present
            GROUP BY ALL"""
    ).fetchall()
    tallies: dict[str, _Tally] = {}
    for trait, source, profiles in rows:
        tallies.setdefault(str(trait), _Tally()).add(str(source), int(profiles))
    return tallies


def _computed(
    con: duckdb.DuckDBPyConnection,
    definitions: Mapping[str, TraitDefinition],
    total: int,
    ids: tuple[int, int],
) -> dict[str, Any]:
    by_row = [d.name for d in definitions.values() if d.kind not in _BY_VALUE | {Kind.SUM}]
    sums = [d.name for d in definitions.values() if d.kind == Kind.SUM]
    by_value = [d.name for d in definitions.values() if d.kind in _BY_VALUE]
    # A tally row exists only once an event counted, so a row means non-zero; a sum's values
    # may add up to 0.
    rows = con.execute(
        f"""SELECT t.trait, {_distinct_sql(_CURRENT.format(t="t"))}
            FROM __kenning_trait_tallies t {_REDIRECTED}
            WHERE t.trait = ANY($rows) GROUP BY t.trait
            UNION ALL
            SELECT trait, count(*) FILTER (WHERE total <> 0) FROM (
                SELECT t.trait, {_CURRENT.format(t="t")}, round(fsum(t.total), 6) AS total
                FROM __kenning_trait_tallies t {_REDIRECTED}
                WHERE t.trait = ANY($sums) GROUP BY ALL)
            GROUP BY trait
            UNION ALL
            SELECT v.trait, {_distinct_sql(_CURRENT.format(t="v"))}
            FROM __kenning_trait_values v {_REDIRECTED}
            WHERE v.trait = ANY($values) GROUP BY v.trait""",
        {"rows": by_row, "sums": sums, "values": by_value, "lowest": ids[0], "highest": ids[1]},
    ).fetchall()
    having = {str(trait): int(profiles) for trait, profiles in rows}
    ranked = sorted(definitions.values(), key=lambda d: (-having.get(d.name, 0), d.name))
    return {
        d.name: {
            "kind": d.kind.value,
            "counts": _COUNTS.get(d.kind, "a value"),
            **_share(having.get(d.name, 0), total),
        }
        for d in ranked
    }


def _consent(con: duckdb.DuckDBPyConnection, total: int) -> dict[str, Any]:
    current = current_state_sql(
        "__kenning_consent", "category", "{'granted': t.granted, 'source_id': t.source_id}"
    )
    rows = con.execute(
        f"""SELECT c.category, coalesce(s.name, c.current.source_id), count(*),
                   count(*) FILTER (WHERE c.current.granted)
            FROM ({current}) c
            LEFT JOIN __kenning_sources s ON s.id = c.current.source_id
            GROUP BY ALL"""
    ).fetchall()
    decided: dict[str, _Tally] = {}
    granted: dict[str, _Tally] = {}
    for category, source, n_decided, n_granted in rows:
        decided.setdefault(str(category), _Tally()).add(str(source), int(n_decided))
        granted.setdefault(str(category), _Tally()).add(str(source), int(n_granted))
    return {
        category: {
            "decided": _share(tally.profiles, total),
            "granted": _share(granted[category].profiles, total),
            "by_source": {
                source: {
                    "decided": _share(n, total),
                    "granted": _share(granted[category].by_source[source], total),
                }
                for source, n in sorted(tally.by_source.items(), key=lambda i: (-i[1], i[0]))
            },
        }
        for category, tally in _ranked(decided)
    }


def _identifiers(con: duckdb.DuckDBPyConnection) -> dict[str, _Tally]:
    # The first by log position: the source that brought it to Kenning first (an integer
    # key: arg_min over the time and the value took half as long again).
    rows = con.execute(
        f"""SELECT i.type, {_SOURCE.format(t="i")}, count(*)
            FROM (
                SELECT {_CURRENT.format(t="i")} AS profile_id, i.type,
                       arg_min(i.source_id, i.first_seq) AS source_id
                FROM __kenning_identifiers i {_REDIRECTED}
                GROUP BY ALL) i
            {_SOURCES.format(t="i")}
            GROUP BY ALL"""
    ).fetchall()
    tallies: dict[str, _Tally] = {}
    for kind, source, profiles in rows:
        tallies.setdefault(str(kind), _Tally()).add(str(source), int(profiles))
    return tallies


def _households(con: duckdb.DuckDBPyConnection, total: int) -> dict[str, Any]:
    row = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE household_size >= 2),
                   count(*) FILTER (WHERE household_age_unknown = 0)
            FROM kenning_household_traits"""
    ).fetchone()
    in_one, shared, known = (int(n) for n in row) if row else (0, 0, 0)
    return {
        "in_a_household": _share(in_one, total),
        "sharing_a_household": _share(shared, total),
        "composition_known": _share(known, total),
    }


def _understanding(
    con: duckdb.DuckDBPyConnection,
    rules: UnderstandingRules,
    definitions: Mapping[str, TraitDefinition],
    total: int,
) -> dict[str, Any]:
    required = requirements(rules, definitions)
    params = Params()
    met = ", ".join(f"count(*) FILTER (WHERE {r.name})" for r in required)
    rows = con.execute(
        f"SELECT level, count(*), {met} FROM ({understanding_sql(rules, definitions, params)}) "
        "GROUP BY level",
        params.values,
    ).fetchall()
    at_level = {int(row[0]): int(row[1]) for row in rows}
    meeting = [sum(int(row[2 + i]) for row in rows) for i in range(len(required))]
    return {
        "levels": [
            {"level": level, "label": label, **_share(at_level.get(level, 0), total)}
            for level, label in enumerate(LABELS)
        ],
        "requirements": [
            {**r.as_dict(), "level": r.level, **_share(n, total)}
            for r, n in zip(required, meeting, strict=True)
        ],
    }
