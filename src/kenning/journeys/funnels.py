"""Running a funnel over the store's log: a query and an array pass.

The query (``funnel_events_sql``) reads only the events some step or exclusion could take
(their names first, then their property filters as SQL), each with its canonical person, its
time and a bitmask of what it matches, sorted by person, time and sequence;
``funnel_attempts.find_attempts`` finds every attempt with numpy, and ``funnel_report`` turns
the attempts into figures.

>>> import tempfile, pathlib
>>> from kenning.store.store import Store
>>> funnel = parse_funnel({"steps": [{"event": "Signed Up"}, {"event": "Order Completed"}]})
>>> with Store.open(pathlib.Path(tempfile.mkdtemp()) / "k.duckdb") as store:
...     with store.reader() as con:
...         result = run_funnel(con, funnel)
>>> result.statement
'Ordered funnel of 2 steps, counting unique people: the conversion window is 14 days.'
"""

from datetime import timedelta
from typing import Any

import duckdb
import numpy as np

from kenning.journeys.channels import ChannelRules, field_sql
from kenning.journeys.declarations import EVENTS_SQL, any_of_sql, event_filter_sql
from kenning.journeys.funnel_attempts import FunnelRows, find_attempts
from kenning.journeys.funnel_definition import (
    CHANNEL,
    FunnelDefinition,
    Mode,
    parse_funnel,
)
from kenning.journeys.funnel_report import FunnelResult, funnel_result

__all__ = ["FunnelDefinition", "FunnelResult", "funnel_events_sql", "parse_funnel", "run_funnel"]


def funnel_events_sql(
    definition: FunnelDefinition, params: list[Any], *, channels: ChannelRules | None = None
) -> str:
    """Rows (person, t, mask[, position][, grp]) sorted by person, then time and sequence:
    the events some step or exclusion takes, ``t`` in microseconds since the epoch, bit k-1
    of ``mask`` set when the event is step k (step 1 only within since/until), bit
    n_steps + i when it is exclusion i; ``position`` (strict mode) numbers each person's
    events in the whole log within the read range; ``grp`` (with a breakdown) is the step-1
    event's breakdown value."""
    # Each piece keeps its own parameters: they are joined in the order the text reads.
    group_params: list[Any] = []
    group = ""
    if definition.breakdown is not None:
        if definition.breakdown == CHANNEL:
            rules = channels or ChannelRules.default()
            value = rules.sql("payload", "source_name", group_params)
        else:
            value = field_sql(definition.breakdown, "payload", "source_name")
        group = f", CASE WHEN (mask & 1) = 1 THEN {value} END AS grp"
    mask_params: list[Any] = []
    filters = [s.match for s in definition.steps] + [x.match for x in definition.exclusions]
    bits = []
    for i, match in enumerate(filters):
        test = event_filter_sql(match, mask_params)
        if i == 0:
            test = f"({test} AND {_in_range_sql(definition, mask_params)})"
        bits.append(f"(CASE WHEN {test} THEN {1 << i} ELSE 0 END)")
    read_params: list[Any] = []
    read = any_of_sql(filters, read_params)
    # Nothing before the first possible start matters, nor anything a window after the last.
    range_params: list[Any] = []
    in_range = ["true"]
    if definition.since is not None:
        in_range.append("ts >= ?::TIMESTAMPTZ")
        range_params.append(definition.since)
    if definition.until is not None:
        in_range.append("ts <= ?::TIMESTAMPTZ")
        range_params.append(definition.until + definition.window)
    where = " AND ".join(in_range)
    if definition.mode == Mode.STRICT:
        # Every event of the person is a neighbour that breaks a strict sequence, so every
        # event in range is numbered before the wanted ones are kept.
        events = f"""SELECT *, row_number() OVER (PARTITION BY person ORDER BY ts, seq)
                                AS position, {read} AS wanted
                     FROM ({EVENTS_SQL}) WHERE {where}"""
        events_params = read_params + range_params
        wanted, extra = "wanted", ", position"
    else:
        events = f"SELECT * FROM ({EVENTS_SQL}) WHERE {where} AND {read}"
        events_params = range_params + read_params
        wanted, extra = "true", ""
    params.extend(group_params + mask_params + events_params)
    return f"""SELECT person, epoch_us(ts) AS t, mask{extra}{group}
               FROM (SELECT *, {" | ".join(bits)} AS mask FROM ({events}) WHERE {wanted})
               WHERE mask <> 0
               ORDER BY person, ts, seq"""


def _in_range_sql(definition: FunnelDefinition, params: list[Any]) -> str:
    tests = ["true"]
    if definition.since is not None:
        tests.append("ts >= ?::TIMESTAMPTZ")
        params.append(definition.since)
    if definition.until is not None:
        tests.append("ts < ?::TIMESTAMPTZ")
        params.append(definition.until)
    return " AND ".join(tests)


def run_funnel(
    con: duckdb.DuckDBPyConnection,
    definition: FunnelDefinition,
    *,
    channels: ChannelRules | None = None,
) -> FunnelResult:
    """The funnel's figures over the store's log, on a reader connection.

    ``channels``: the brand's channel rules for a ``channel`` breakdown (the built-in ones
    when None)."""
    params: list[Any] = []
    sql = funnel_events_sql(definition, params, channels=channels)
    table = con.sql(sql, params=params).to_arrow_table()
    groups: np.ndarray[Any, np.dtype[np.int64]] | None = None
    values: list[str | None] = []
    if definition.breakdown is not None:
        encoded = table.column("grp").combine_chunks().dictionary_encode()
        values = [None if v is None else str(v) for v in encoded.dictionary.to_pylist()]
        # a row that is no start has no value; it is never read as one
        groups = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = FunnelRows(
        person=_ints(table.column("person")),
        time=_ints(table.column("t")),
        mask=_ints(table.column("mask")),
        position=_ints(table.column("position")) if definition.mode == Mode.STRICT else None,
        group=groups,
    )
    attempts = find_attempts(
        rows,
        steps=len(definition.steps),
        mode=definition.mode.value,
        window=definition.window // timedelta(microseconds=1),
        exclusions=[(x.after, x.before) for x in definition.exclusions],
    )
    return funnel_result(definition, attempts, values)


def _ints(column: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.asarray(column.to_numpy(), dtype=np.int64)
