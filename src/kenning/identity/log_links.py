"""Every event's identifiers, read from the whole log at once: the input of a fast rebuild.

Stitching reads an event's identifiers with ``message_identifiers``, one parsed payload at a
time. Over a whole log that is most of a rebuild's cost, so this module reads the same values
in bulk: DuckDB pulls the raw JSON value at each identifier's path out of every payload in one
pass, Python normalises each *distinct* raw value once (with the very functions stitching
uses), and DuckDB joins the normalised identifiers back and orders each event's identifiers as
``message_identifiers`` does: by priority, then by where in the message they were read, with an
alias's ``previousId`` last. A test checks it against ``message_identifiers`` event by event.

Identifiers come out as integer codes, so that grouping them is array work.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from kenning.identity.identifiers import (
    FIXED_PLACES,
    Identifier,
    normalise,
    other_identifiers_hint_applies,
)
from kenning.identity.rules import IdentityRules

Codes = npt.NDArray[np.int64]

# Where message_identifiers reads, in its order: (JSON path, identifier type, read when).
_ALWAYS, _IDENTIFY, _ALIAS, _EXTERNAL = "always", "identify", "alias", "external"
_FIXED_PATHS = (
    *(
        (f"$.{dotted}", type_, _IDENTIFY if identify_only else _ALWAYS)
        for dotted, type_, identify_only in FIXED_PLACES
    ),
    ("$.context.externalIds", "", _EXTERNAL),
)
# An identifier's place in its event, as one number: its priority rank, then the slot it was
# read from, then its entry in an externalIds list. An alias's previousId comes after every
# other identifier, whatever its priority.
_RANK_SHIFT = 40
_SLOT_SHIFT = 20


@dataclass(frozen=True)
class _Slot:
    path: str
    type: str
    when: str


@dataclass
class Events:
    """Attributes of the events that carry identifiers, index-aligned with ``LogLinks.seq``."""

    time: Codes  # microseconds since the epoch
    source: Codes  # index into ``sources``
    sources: list[str]
    alias: npt.NDArray[np.bool_]  # stored as an alias call: its merges are logged as such

    @classmethod
    def of(cls, table: pa.Table, seqs: Codes) -> "Events":
        """Those of ``seqs`` from every event's (seq, time, source_id, alias), by seq."""
        index = np.searchsorted(table.column("seq").to_numpy(), seqs)
        sources = table.column("source_id").combine_chunks().dictionary_encode()
        return cls(
            time=table.column("time").to_numpy().astype(np.int64)[index],
            source=sources.indices.to_numpy(zero_copy_only=False).astype(np.int64)[index],
            sources=sources.dictionary.to_pylist(),
            alias=table.column("alias").to_numpy(zero_copy_only=False).astype(bool)[index],
        )


@dataclass
class LogLinks:
    """The identifiers of the log's events, in log order.

    ``seq`` holds the events with at least one usable identifier; event ``i`` carries
    ``codes[offsets[i]:offsets[i + 1]]``, in stitching order (most important first), and
    ``identifiers[code]`` is the identifier a code stands for.
    """

    seq: Codes
    offsets: Codes
    codes: Codes
    identifiers: list[Identifier]
    events: Events

    @property
    def links(self) -> int:
        return len(self.codes)


def _json_path(dotted: str) -> str | None:
    """``traits.loyalty_id`` as a JSON path that looks keys up exactly as ``_dig`` does; None
    when a key cannot be written in one (DuckDB's quoted keys have no escapes)."""
    parts = dotted.split(".")
    if any(not part or '"' in part or "\\" in part for part in parts):
        return None
    return "$" + "".join(f'."{part}"' for part in parts)


def _slots(rules: IdentityRules) -> list[_Slot] | None:
    slots = [_Slot(path, type_, when) for path, type_, when in _FIXED_PATHS]
    for type_, dotted_paths in rules.custom.items():
        for dotted in dotted_paths:
            path = _json_path(dotted)
            if path is None:
                return None
            slots.append(_Slot(path, type_, _ALWAYS))
        if "anonymousId" in dotted_paths:
            # message_identifiers reads an alias's previousId through the custom paths too.
            return None
    slots.append(_Slot("$.previousId", "anonymous_id", _ALIAS))
    return slots


def supported(rules: IdentityRules) -> bool:
    """Whether these rules' custom paths can be read in bulk (else replay event by event)."""
    return _slots(rules) is not None


def read_log_links(con: duckdb.DuckDBPyConnection, rules: IdentityRules) -> LogLinks:
    """Every event's identifiers, as ``message_identifiers`` reads them, for the whole log."""
    slots = _slots(rules)
    if slots is None:
        raise ValueError("these identity rules' custom paths cannot be read in bulk")
    paths = ["$.type"] + [slot.path for slot in slots]
    identify_slots = [i + 2 for i, s in enumerate(slots) if s.when == _IDENTIFY]
    alias_slots = [i + 2 for i, s in enumerate(slots) if s.when == _ALIAS]
    external = next(i + 2 for i, s in enumerate(slots) if s.when == _EXTERNAL)
    slot_of = {s.path: i + 2 for i, s in enumerate(slots)}
    # The log stores userId and anonymousId as columns, and whether a payload holds any other
    # identifier (other_identifiers, NULL where not known). Without custom paths, only those
    # that do are parsed: a third of the synthetic brand's, and the parsing was a quarter of
    # a rebuild. The columns hold the ids as stitching reads them (numbers written as text
    # alike; a test checks each path alone).
    parsed, from_columns = "true", ""
    if other_identifiers_hint_applies(rules):
        parsed = "other_identifiers IS NOT false"
        from_columns = f"""
            UNION ALL
            SELECT seq, {slot_of["$.userId"]}, to_json(user_id) FROM __kenning_events
            WHERE other_identifiers = false AND user_id IS NOT NULL
            UNION ALL
            SELECT seq, {slot_of["$.anonymousId"]}, to_json(anonymous_id) FROM __kenning_events
            WHERE other_identifiers = false AND anonymous_id IS NOT NULL"""
    try:
        # One parse per payload: the raw JSON value at every path, one row per value found.
        # The slots holding a value are picked before unnesting: unnesting every slot made a
        # row per path and event (a dozen an event) only to drop most of them, and cost 40%
        # more.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __kenning_raw_links AS
                SELECT seq, slot, j[slot] AS v FROM (
                    SELECT seq, j, unnest(list_filter(range(2, len(j) + 1), lambda i:
                        j[i] IS NOT NULL AND j[i] <> 'null'
                        AND (i NOT IN {_sql_list(identify_slots)} OR j[1] = '"identify"')
                        AND (i NOT IN {_sql_list(alias_slots)} OR j[1] = '"alias"'))) AS slot
                    FROM (SELECT seq, json_extract(payload, $paths) AS j FROM __kenning_events
                          WHERE {parsed})){from_columns}""",
            {"paths": paths},
        )
        # externalIds: one row per entry whose type is text, as _raw_identifiers reads them.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __kenning_raw_external AS
                SELECT seq, entry, json_extract_string(e, '$.type') AS type,
                       json_extract(e, '$.id') AS v FROM (
                    SELECT seq, unnest(json_extract(v, '$[*]')) AS e,
                           generate_subscripts(json_extract(v, '$[*]'), 1) AS entry
                    FROM __kenning_raw_links WHERE slot = {external} AND json_type(v) = 'ARRAY')
                WHERE json_type(json_extract(e, '$.type')) = 'VARCHAR'
                  AND json_extract(e, '$.id') IS NOT NULL AND json_extract(e, '$.id') <> 'null'"""
        )
        # Each distinct raw value numbered, with the place its slot (or externalIds type)
        # gives it in its event.
        text_of = "CASE WHEN json_type(v) = 'VARCHAR' THEN json_extract_string(v, '$') END"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __kenning_raw_values AS
                SELECT (row_number() OVER () - 1)::INTEGER AS id, slot, v, {text_of} AS text
                FROM (SELECT DISTINCT slot, v FROM __kenning_raw_links WHERE slot <> {external})"""
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __kenning_raw_external_values AS
                SELECT (row_number() OVER () - 1
                        + (SELECT count(*) FROM __kenning_raw_values))::INTEGER AS id,
                       type, v, {text_of} AS text
                FROM (SELECT DISTINCT type, v FROM __kenning_raw_external)"""
        )
        values = _RawValues.read(con, slots, rules)
        con.register("__kenning_slot_places", _slot_places(slots, rules))
        con.register("__kenning_external_places", _external_places(con, external, rules))
        # Python normalises the distinct values while DuckDB (which lets go of the
        # interpreter while it works) joins their ids onto the links: neither waits for the
        # other, and a rebuild of 10M links is a second shorter.
        with ThreadPoolExecutor(max_workers=1) as worker:
            normalised = worker.submit(values.codes)
            ordered = con.sql(
                f"""SELECT seq, id, (place >> {_RANK_SHIFT})::SMALLINT AS rank FROM (
                        SELECT r.seq, d.id, p.place
                        FROM __kenning_raw_links r JOIN __kenning_raw_values d USING (slot, v)
                        JOIN __kenning_slot_places p USING (slot)
                        UNION ALL
                        SELECT x.seq, d.id, p.place + x.entry
                        FROM __kenning_raw_external x
                        JOIN __kenning_raw_external_values d USING (type, v)
                        JOIN __kenning_external_places p USING (type))
                    ORDER BY seq, place"""
            ).to_arrow_table()
            every_event = con.sql(
                """SELECT seq, epoch_us(timestamp) AS time, source_id, type = 'alias' AS alias
                   FROM __kenning_events ORDER BY seq"""
            ).to_arrow_table()
            code_of_value, identifiers = normalised.result()
        seq, offsets, codes = _ordered(
            ordered.column("seq").to_numpy().astype(np.int64, copy=False),
            code_of_value[ordered.column("id").to_numpy()],
            ordered.column("rank").to_numpy(),
            last_rank=len(rules.priority) + 1,
        )
    finally:
        for name in ("__kenning_slot_places", "__kenning_external_places"):
            con.unregister(name)
        for table in ("links", "external", "values", "external_values"):
            con.execute(f"DROP TABLE IF EXISTS __kenning_raw_{table}")
    return LogLinks(seq, offsets, codes, identifiers, Events.of(every_event, seq))


def _sql_list(values: list[int]) -> str:
    return "(" + ", ".join(str(v) for v in values or [-1]) + ")"


def _place(rank: int, slot: int) -> int:
    """An identifier's place in its event as one number (see ``_RANK_SHIFT``)."""
    return (rank << _RANK_SHIFT) | (slot << _SLOT_SHIFT)


def _slot_places(slots: list[_Slot], rules: IdentityRules) -> pa.Table:
    """The place each slot gives the identifier read from it."""
    last_rank = len(rules.priority) + 1
    numbers = range(2, len(slots) + 2)  # as in __kenning_raw_links (1 is the message type)
    return pa.table(
        {
            "slot": pa.array(numbers, pa.int32()),
            "place": pa.array(
                [
                    _place(last_rank if s.when == _ALIAS else rules.rank(s.type), n)
                    for n, s in zip(numbers, slots, strict=True)
                ],
                pa.int64(),
            ),
        }
    )


def _external_places(
    con: duckdb.DuckDBPyConnection, external: int, rules: IdentityRules
) -> pa.Table:
    """The place of an externalIds entry by its type (its index in the list is added)."""
    found = con.execute("SELECT DISTINCT type FROM __kenning_raw_external").fetchall()
    types = [str(t) for (t,) in found]
    return pa.table(
        {
            "type": pa.array(types, pa.string()),
            "place": pa.array([_place(rules.rank(t), external) for t in types], pa.int64()),
        }
    )


@dataclass
class _RawValues:
    """The log's distinct raw values, by id: each with its identifier type, whether it is an
    alias's ``previousId``, its JSON text, and its text when it is a JSON string."""

    types: list[str]
    previous: list[bool]
    raws: list[str]
    texts: list[str | None]
    rules: IdentityRules

    @classmethod
    def read(
        cls, con: duckdb.DuckDBPyConnection, slots: list[_Slot], rules: IdentityRules
    ) -> "_RawValues":
        found = con.sql(
            "SELECT slot, v, text FROM __kenning_raw_values ORDER BY id"
        ).to_arrow_table()
        external = con.sql(
            "SELECT type, v, text FROM __kenning_raw_external_values ORDER BY id"
        ).to_arrow_table()
        slot_of = found.column("slot").to_pylist()
        return cls(
            types=[slots[slot - 2].type for slot in slot_of] + external.column("type").to_pylist(),
            previous=[slots[slot - 2].when == _ALIAS for slot in slot_of]
            + [False] * external.num_rows,
            raws=found.column("v").to_pylist() + external.column("v").to_pylist(),
            texts=found.column("text").to_pylist() + external.column("text").to_pylist(),
            rules=rules,
        )

    def codes(self) -> tuple[Codes, list[Identifier]]:
        """Normalise each value once; the code of each value's identifier (-1 where it makes
        none), and the identifiers by code."""
        code_of: dict[Identifier, int] = {}
        # One normalisation per (type, how read, raw value), whichever slots it was read from.
        normalised: dict[tuple[str, bool, str], int] = {}
        rules = self.rules
        is_blocked = rules.is_blocked
        codes: list[int] = []
        for type_, previous, raw_json, text in zip(
            self.types, self.previous, self.raws, self.texts, strict=True
        ):
            value: str | None
            key: tuple[str, bool, str] | None = None  # where a value is parsed, not stripped
            if text is not None and type_ != "email" and type_ != "phone":
                # normalise() for text of a plain type, inlined: this runs per distinct value
                value = text.strip()
                if not value or is_blocked(value):
                    codes.append(-1)
                    continue
            else:
                key = (type_, previous, raw_json)
                found = normalised.get(key)
                if found is not None:
                    codes.append(found)
                    continue
                raw: Any = text if text is not None else orjson.loads(raw_json)
                if previous and (isinstance(raw, bool) or not isinstance(raw, str | int)):
                    value = None  # message_identifiers takes a previousId only as text or number
                else:
                    value = normalise(type_, raw, rules)
                if value is None:
                    normalised[key] = -1
                    codes.append(-1)
                    continue
            code = code_of.setdefault(Identifier(type_, value), len(code_of))
            if key is not None:
                normalised[key] = code
            codes.append(code)
        return np.asarray(codes, np.int64), list(code_of)


def _ordered(
    seqs: Codes, codes: Codes, ranks: npt.NDArray[np.int16], last_rank: int
) -> tuple[Codes, Codes, Codes]:
    """Event starts and codes from links ordered by (seq, place), the links whose value makes
    no identifier (code -1) left out, each identifier kept at its first place in its event
    (extract_identifiers keeps the first of duplicates)."""
    usable = codes >= 0
    if not usable.all():
        seqs, codes, ranks = seqs[usable], codes[usable], ranks[usable]
    # A duplicate has the type, so the rank, of its first: it can only follow a row of the
    # same event and rank, or be an alias's previousId. Only those events are looked at.
    same_event = seqs[1:] == seqs[:-1]
    suspect = same_event & ((ranks[1:] == ranks[:-1]) | (ranks[1:] == last_rank))
    if suspect.any():
        keep = np.ones(len(codes), dtype=bool)
        starts_all = np.flatnonzero(np.r_[True, ~same_event])
        ends_all = np.append(starts_all[1:], len(seqs))
        event_of_row = np.cumsum(np.r_[True, ~same_event]) - 1
        for event in np.unique(event_of_row[1:][suspect]).tolist():
            seen: set[int] = set()
            for row in range(int(starts_all[event]), int(ends_all[event])):
                code = int(codes[row])
                if code in seen:
                    keep[row] = False
                seen.add(code)
        seqs, codes = seqs[keep], codes[keep]
        same_event = seqs[1:] == seqs[:-1]
    starts = np.flatnonzero(np.r_[len(seqs) > 0, ~same_event]).astype(np.int64)
    offsets = np.append(starts, len(seqs)).astype(np.int64)
    return seqs[starts], offsets, codes
