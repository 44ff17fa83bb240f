"""Touches and conversions read from the log as arrays, the input attribution takes.

One query each (``touchpoints.touches_sql``, ``conversions.conversions_sql``) fetched as Arrow
and handed over as numpy arrays: person ids, times in microseconds since the epoch, labels as
small integer codes (``names[code]``), conversion values. No Python loop per row.
"""

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from kenning.journeys.conversions import Conversion, conversions_sql
from kenning.journeys.touchpoints import TouchOptions, touches_sql

Ints = np.ndarray[Any, np.dtype[np.int64]]
Floats = np.ndarray[Any, np.dtype[np.float64]]
LABELS = ("channel", "campaign")


@dataclass(frozen=True)
class TouchArrays:
    person: Ints
    time: Ints  # microseconds since the epoch
    label: Ints  # codes into ``names``
    names: tuple[str, ...]


@dataclass(frozen=True)
class ConversionArrays:
    person: Ints
    time: Ints
    value: Floats

    def of_people(self, people: Ints) -> "ConversionArrays":
        """The conversions of ``people`` only."""
        kept = np.isin(self.person, people)
        return ConversionArrays(self.person[kept], self.time[kept], self.value[kept])


def read_touches(
    con: duckdb.DuckDBPyConnection,
    options: TouchOptions,
    *,
    exclude: tuple[str, ...] = (),
    label: str = "channel",
) -> TouchArrays:
    """Each touch's person, time and label: its channel, or its campaign (``utm_campaign``;
    the channel when it has none, so a touch is never unlabelled)."""
    params: list[Any] = []
    sql = touches_sql(options, params, exclude=exclude)
    column = {"channel": "channel", "campaign": "coalesce(campaign, channel)"}[label]
    table = con.sql(
        f"""SELECT profile_id, epoch_us(ts) AS t, {column} AS label
            FROM ({sql}) ORDER BY profile_id, ts, seq""",
        params=params,
    ).to_arrow_table()
    encoded = table.column("label").combine_chunks().dictionary_encode()
    return TouchArrays(
        person=_ints(table.column("profile_id")),
        time=_ints(table.column("t")),
        label=encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        names=tuple(str(n) for n in encoded.dictionary.to_pylist()),
    )


def read_conversions(
    con: duckdb.DuckDBPyConnection, conversion: Conversion, options: TouchOptions
) -> ConversionArrays:
    params: list[Any] = []
    sql = conversions_sql(conversion, options, params)
    table = con.sql(
        f"SELECT profile_id, epoch_us(ts) AS t, value FROM ({sql}) ORDER BY profile_id, ts, seq",
        params=params,
    ).to_arrow_table()
    return ConversionArrays(
        person=_ints(table.column("profile_id")),
        time=_ints(table.column("t")),
        value=table.column("value").to_numpy().astype(np.float64),
    )


def _ints(column: pa.ChunkedArray) -> Ints:
    ints: Ints = column.to_numpy().astype(np.int64)
    return ints
