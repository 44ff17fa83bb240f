"""Computed traits' values for every current profile at once, in SQL, by ``read.py``'s rules:
a profile's tallies and those of the profiles merged into it, combined and turned into a value
by kind (audiences evaluate conditions on them for everyone). Values are JSON, as the Profile
API shows them; a profile with no tallies gets ``ZERO_SQL`` where ``read.py`` gives a zero."""

from collections.abc import Mapping
from typing import Any

from kenning.profiles.computed.definitions import TIMESTAMP, VALUE_KINDS, Kind, TraitDefinition

_DECIMALS = 6
ZERO_SQL = {
    Kind.COUNT: "'0'::JSON",
    Kind.SUM: "'0.0'::JSON",
    Kind.UNIQUE_COUNT: "'0'::JSON",
    Kind.UNIQUE_LIST: "'[]'::JSON",
}
# Most frequent first, a tie to the value seen last, then to the greater value text (read.py's
# order): each list sorted on its own, since an aggregate ordered over a million groups
# (string_agg ... ORDER BY) costs DuckDB half as much again.
_UNIQUE_LIST = """('[' || array_to_string(list_transform(
    list_sort(list(struct_pack(n := n, at := latest.at, seq := latest.seq, v := value)), 'DESC'),
    lambda x: x.v), ',') || ']')::JSON"""
_CURRENT = "coalesce(r.canonical_id, t.profile_id)"
_REDIRECTED = "LEFT JOIN __kenning_profile_redirects r USING (profile_id)"


def _time_json(micros: str) -> str:
    """As read.py writes a time (Python's isoformat: no fraction when it is zero)."""
    at = f"make_timestamp({micros})"
    return f"""to_json(CASE WHEN ({micros}) % 1000000 = 0
                       THEN strftime({at}, '%Y-%m-%dT%H:%M:%S+00:00')
                       ELSE strftime({at}, '%Y-%m-%dT%H:%M:%S.%f+00:00') END)"""


def computed_values_sql(
    definition: TraitDefinition,
    params: list[Any],
    tallies: str = "__kenning_trait_tallies",
    values: str = "__kenning_trait_values",
) -> str:
    """``(profile_id, value)`` per current profile with tallies for ``definition`` (in the
    tables ``tallies`` and ``values``)."""
    params.append(definition.name)
    kind = definition.kind
    if kind in VALUE_KINDS:
        counted = f"""SELECT {_CURRENT} AS profile_id, t.value, sum(t.n) AS n,
                             max(struct_pack(at := t.last_at, seq := t.last_seq)) AS latest
                      FROM {values} t {_REDIRECTED}
                      WHERE t.trait = ? GROUP BY ALL"""
        value = {
            Kind.UNIQUE_COUNT: "to_json(count(*))",
            Kind.MOST_FREQUENT: "arg_max(value, (n, latest, value))::JSON",
            Kind.UNIQUE_LIST: _UNIQUE_LIST,
        }[kind]
        return f"SELECT profile_id, {value} AS value FROM ({counted}) GROUP BY profile_id"
    return f"""SELECT {_CURRENT} AS profile_id, {_tally_value(definition, "")} AS value
               FROM {tallies} t {_REDIRECTED}
               WHERE t.trait = ? GROUP BY 1"""


def tally_values_sql(
    columns: Mapping[str, TraitDefinition], tallies: str = "__kenning_trait_tallies"
) -> str:
    """``(profile_id, <column>...)`` per current profile with tallies for any of the traits,
    each column the value of its trait: one scan of the tallies for all of them, where
    ``computed_values_sql`` would scan once per trait. Only kinds kept in tallies (not
    ``VALUE_KINDS``)."""
    picks = []
    for column, definition in columns.items():
        if definition.kind in VALUE_KINDS:
            raise ValueError(f"{definition.name} is kept per value, not in tallies")
        # Trait names are plain identifiers (definitions._NAME), safe as SQL text.
        only = f" FILTER (WHERE t.trait = '{definition.name}')"
        picks.append(f"{_tally_value(definition, only)} AS {column}")
    names = ", ".join(f"'{d.name}'" for d in columns.values())
    return f"""SELECT {_CURRENT} AS profile_id, {", ".join(picks)}
               FROM {tallies} t {_REDIRECTED}
               WHERE t.trait IN ({names}) GROUP BY 1"""


def _tally_value(definition: TraitDefinition, only: str) -> str:
    """The trait's value from its tallies' rows; ``only`` follows each aggregate (a FILTER
    clause when several traits' rows are read at once)."""
    if definition.kind == Kind.FIRST and definition.value == (TIMESTAMP,):
        return _time_json(f"epoch_us(min(t.first_at){only})")
    if definition.kind == Kind.LAST and definition.value == (TIMESTAMP,):
        return _time_json(f"epoch_us(max(t.last_at){only})")
    return {
        Kind.COUNT: f"to_json(sum(t.n){only})",
        Kind.SUM: f"to_json(round(fsum(t.total){only}, {_DECIMALS}))",
        Kind.AVERAGE: f"to_json(round(fsum(t.total){only} / sum(t.n){only}, {_DECIMALS}))",
        Kind.MIN: f"to_json(min(t.low){only})",
        Kind.MAX: f"to_json(max(t.high){only})",
        Kind.FIRST: f"arg_min(t.first_value, (t.first_at, t.first_seq)){only}::JSON",
        Kind.LAST: f"arg_max(t.last_value, (t.last_at, t.last_seq)){only}::JSON",
    }[definition.kind]
