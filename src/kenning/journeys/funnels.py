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

from kenning.journeys.channel_batch import with_channel_sql
from kenning.journeys.channels import ChannelRules, field_sql
from kenning.journeys.declarations import (
    any_of_sql,
    event_filter_sql,
    needs_message,
    time_range_sql,
)
from kenning.journeys.funnel_attempts import FunnelRows, find_attempts
from kenning.journeys.funnel_definition import (
    CHANNEL,
    FunnelDefinition,
    Mode,
    parse_funnel,
)
from kenning.journeys.funnel_report import FunnelResult, funnel_result
from kenning.profiles.computed.definitions import COLUMN_PATHS

__all__ = ["FunnelDefinition", "FunnelResult", "funnel_events_sql", "parse_funnel", "run_funnel"]


def funnel_events_sql(
    definition: FunnelDefinition, params: list[Any], *, channels: ChannelRules | None = None
) -> str:
    """Rows (person, t, mask[, position][, grp]) sorted by person, then time and sequence:
    the events some step or exclusion takes, ``t`` in microseconds since the epoch, bit k-1
    of ``mask`` set when the event is step k (step 1 only within since/until), bit
    n_steps + i when it is exclusion i; ``position`` (strict mode) numbers each person's
    events in the log within the read range; ``grp`` (with a breakdown) is the step-1
    event's breakdown value."""
    filters = [s.match for s in definition.steps] + [x.match for x in definition.exclusions]
    # Each piece keeps its own parameters: they are joined in the order the text reads.
    mask_params: list[Any] = []
    bits = []
    for i, match in enumerate(filters):
        test = event_filter_sql(match, mask_params)
        if i == 0:
            test = f"({test} AND {time_range_sql(definition.since, definition.until, mask_params)})"
        bits.append(f"(CASE WHEN {test} THEN {1 << i} ELSE 0 END)")
    group_params: list[Any] = []
    group = ""
    if definition.breakdown is not None and definition.breakdown != CHANNEL:
        value = field_sql(definition.breakdown, "payload", "source_name")
        group = f", CASE WHEN (mask & 1) = 1 THEN {value} END AS grp"
    # Events whose message some filter or the breakdown reads, and the others, which are
    # read without it: the message's text is most of what a scan costs.
    wanting = [f for f in filters if needs_message(f)]
    if definition.breakdown is not None and definition.breakdown not in COLUMN_PATHS:
        wanting.append(filters[0])
    # Nothing before the first possible start matters, nor anything a window after the last.
    range_params: list[Any] = []
    in_range = ["true"]
    if definition.since is not None:
        in_range.append("e.timestamp >= ?::TIMESTAMPTZ")
        range_params.append(definition.since)
    if definition.until is not None:
        in_range.append("e.timestamp <= ?::TIMESTAMPTZ")
        range_params.append(definition.until + definition.window)
    where = " AND ".join(in_range)
    sources = (
        "LEFT JOIN __kenning_sources s ON s.id = e.source_id" if _reads_source(definition) else ""
    )
    source_name = "coalesce(s.name, e.source_id)" if sources else "e.source_id"
    # Materialised: the filters (JSON parsed) run once per event read, not again wherever
    # the optimiser would copy the mask; the join to people carries three numbers, not the
    # message.
    read_params: list[Any] = []
    parts = []
    for payload, chosen in (("e.payload", wanting), ("NULL", filters)):
        if not chosen:
            continue
        read_params.extend(range_params)  # the text reads the range first
        read = any_of_sql(chosen, read_params)
        if payload == "NULL" and wanting:
            read += f" AND NOT coalesce({any_of_sql(wanting, read_params)}, false)"
        parts.append(
            f"""SELECT e.seq, e.timestamp AS ts, e.type, e.event, {payload} AS payload,
                       {source_name} AS source_name
                FROM __kenning_events e {sources}
                WHERE {where} AND {read}"""
        )
    masked = f"SELECT *, {' | '.join(bits)} AS mask FROM ({' UNION ALL '.join(parts)})"
    read_first = group_params + mask_params + read_params
    if definition.breakdown == CHANNEL:
        rules = channels or ChannelRules.default()
        # Only step-1 events get a channel: the rules' lists of values become joins over
        # every row they are given, whatever the CASE around them says.
        starts = with_channel_sql(
            "SELECT * FROM read WHERE (mask & 1) = 1", rules, "true", group_params
        )
        matched = f"""read AS MATERIALIZED (
                SELECT seq, ts, type, event, source_name, mask,
                       CASE WHEN (mask & 1) = 1 THEN payload END AS payload
                FROM ({masked})),
            matched AS MATERIALIZED (
                SELECT seq, ts, mask, channel AS grp FROM ({starts})
                UNION ALL
                SELECT seq, ts, mask, NULL FROM read WHERE (mask & 1) = 0)"""
        read_first = mask_params + read_params + group_params
    else:
        matched = f"matched AS MATERIALIZED (SELECT seq, ts, mask{group} FROM ({masked}))"
    grp = ", m.grp" if definition.breakdown is not None else ""
    person = "coalesce(r.canonical_id, ep.profile_id)"
    people = """__kenning_event_profiles ep
                LEFT JOIN __kenning_profile_redirects r ON r.profile_id = ep.profile_id"""
    if definition.mode == Mode.STRICT:
        # Every event of the person is a neighbour that breaks a strict sequence, so every
        # event in range is numbered; only time and sequence are carried through the sort.
        params.extend(read_first + range_params)
        return f"""WITH {matched},
            numbered AS (
                SELECT e.seq, {person} AS person,
                       row_number() OVER (PARTITION BY {person}
                                          ORDER BY e.timestamp, e.seq) AS position
                FROM __kenning_events e JOIN {people} ON ep.seq = e.seq
                WHERE {where})
            SELECT n.person, epoch_us(m.ts) AS t, m.mask, n.position{grp}
            FROM matched m JOIN numbered n USING (seq)
            WHERE m.mask <> 0
            ORDER BY n.person, m.ts, m.seq"""
    params.extend(read_first)
    return f"""WITH {matched}
        SELECT {person} AS person, epoch_us(m.ts) AS t, m.mask{grp}
        FROM matched m JOIN {people} ON ep.seq = m.seq
        WHERE m.mask <> 0
        ORDER BY person, m.ts, m.seq"""


def _reads_source(definition: FunnelDefinition) -> bool:
    """The source's name is read (a filter on it, a breakdown by it or by channel)."""
    filters = [s.match for s in definition.steps] + [x.match for x in definition.exclusions]
    return definition.breakdown in {"source", CHANNEL} or any(
        c.path == "source" for f in filters for c in f.where
    )


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
