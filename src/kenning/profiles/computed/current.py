"""Computed traits' values for every current profile at once, in SQL, by ``read.py``'s rules:
a profile's tallies and those of the profiles merged into it, combined and turned into a value
by kind (audiences evaluate conditions on them for everyone). Values are JSON, as the Profile
API shows them; a profile with no tallies gets ``ZERO_SQL`` where ``read.py`` gives a zero."""

from typing import Any

from kenning.profiles.computed.definitions import TIMESTAMP, Kind, TraitDefinition

_DECIMALS = 6
ZERO_SQL = {
    Kind.COUNT: "'0'::JSON",
    Kind.SUM: "'0.0'::JSON",
    Kind.UNIQUE_COUNT: "'0'::JSON",
    Kind.UNIQUE_LIST: "'[]'::JSON",
}
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
    if kind in {Kind.MOST_FREQUENT, Kind.UNIQUE_LIST, Kind.UNIQUE_COUNT}:
        counted = f"""SELECT {_CURRENT} AS profile_id, t.value, sum(t.n) AS n,
                             max((t.last_at, t.last_seq)) AS latest
                      FROM {values} t {_REDIRECTED}
                      WHERE t.trait = ? GROUP BY ALL"""
        value = {
            Kind.UNIQUE_COUNT: "to_json(count(*))",
            Kind.MOST_FREQUENT: "arg_max(value, (n, latest))::JSON",
            # Most frequent first, a tie to the value seen last (read.py's order).
            Kind.UNIQUE_LIST: "('[' || string_agg(value, ',' ORDER BY n DESC, latest DESC) || ']')"
            "::JSON",
        }[kind]
        return f"SELECT profile_id, {value} AS value FROM ({counted}) GROUP BY profile_id"
    timestamp = definition.value == (TIMESTAMP,)
    value = {
        Kind.COUNT: "to_json(sum(t.n))",
        Kind.SUM: f"to_json(round(fsum(t.total), {_DECIMALS}))",
        Kind.AVERAGE: f"to_json(round(fsum(t.total) / sum(t.n), {_DECIMALS}))",
        Kind.MIN: "to_json(min(t.low))",
        Kind.MAX: "to_json(max(t.high))",
        Kind.FIRST: _time_json("epoch_us(min(t.first_at))")
        if timestamp
        else "arg_min(t.first_value, (t.first_at, t.first_seq))::JSON",
        Kind.LAST: _time_json("epoch_us(max(t.last_at))")
        if timestamp
        else "arg_max(t.last_value, (t.last_at, t.last_seq))::JSON",
    }[kind]
    return f"""SELECT {_CURRENT} AS profile_id, {value} AS value
               FROM {tallies} t {_REDIRECTED}
               WHERE t.trait = ? GROUP BY 1"""
