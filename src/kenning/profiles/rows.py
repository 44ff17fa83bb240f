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
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import duckdb


class Part(IntEnum):
    TRAITS = 0
    CONSENT = 1
    TALLIES = 2
    VALUES = 3


# Every branch yields the same thirteen columns: the part, the key (trait path, category or
# computed-trait name) and eleven more, NULL where the part has no such column.
_BRANCHES = {
    Part.TRAITS: """SELECT 0, trait, NULL::BIGINT, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE,
                    value::VARCHAR, epoch_us(observed_at), seq, source_id, NULL::BIGINT,
                    NULL::BIGINT, rank
                    FROM __kenning_profile_traits WHERE profile_id = ?""",
    Part.CONSENT: """SELECT 1, category, granted::BIGINT, NULL, NULL, NULL, NULL,
                     epoch_us(observed_at), seq, source_id, NULL, NULL, rank
                     FROM __kenning_consent WHERE profile_id = ?""",
    Part.TALLIES: """SELECT 2, trait, n, total, low, high, first_value, epoch_us(first_at),
                     first_seq, last_value, epoch_us(last_at), last_seq, NULL
                     FROM __kenning_trait_tallies WHERE profile_id = ?""",
    Part.VALUES: """SELECT 3, trait, n, NULL, NULL, NULL, value, NULL, NULL, NULL,
                    epoch_us(last_at), last_seq, NULL
                    FROM __kenning_trait_values WHERE profile_id = ?""",
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


def person_rows(
    con: duckdb.DuckDBPyConnection, ids: Sequence[int], parts: Sequence[Part] = tuple(Part)
) -> PersonRows:
    """The rows of ``parts`` held by the profiles ``ids``."""
    branches = [_BRANCHES[part] for part in parts for _ in ids]
    found = PersonRows()
    if not branches:
        return found
    for (
        part,
        key,
        n,
        total,
        low,
        high,
        text,
        at,
        seq,
        other,
        last_at,
        last_seq,
        rank,
    ) in con.execute(" UNION ALL ".join(branches), [i for _ in parts for i in ids]).fetchall():
        if part == Part.TRAITS:
            found.traits.append((key, text, other, at, seq, rank))
        elif part == Part.CONSENT:
            found.consent.append((key, n, other, at, seq, rank))
        elif part == Part.TALLIES:
            found.tallies.append(
                (key, n, total, low, high, text, at, seq, other, last_at, last_seq)
            )
        else:
            found.values.append((key, text, n, last_at, last_seq))
    return found
