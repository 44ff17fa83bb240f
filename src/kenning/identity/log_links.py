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

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from kenning.identity.identifiers import FIXED_PLACES, Identifier, normalise
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
                    FROM (SELECT seq, json_extract(payload, $paths) AS j FROM __kenning_events))""",
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
        identifiers, slot_codes, external_codes = _dictionaries(con, rules, slots, external)
        con.register("__kenning_slot_codes", slot_codes)
        con.register("__kenning_external_codes", external_codes)
        # Ordered by priority, then by where in the message; duplicates are removed below.
        # Narrow columns: turning ten million rows into arrays costs by the byte.
        seq, offsets, codes = _ordered(
            con.sql(
                f"""SELECT seq, code::INTEGER AS code, (place >> {_RANK_SHIFT})::SMALLINT AS rank
                    FROM (SELECT r.seq, c.code, c.place
                          FROM __kenning_raw_links r JOIN __kenning_slot_codes c USING (slot, v)
                          UNION ALL
                          SELECT x.seq, c.code, c.place + x.entry
                          FROM __kenning_raw_external x
                          JOIN __kenning_external_codes c USING (type, v))
                    ORDER BY seq, place"""
            ).to_arrow_table(),
            last_rank=len(rules.priority) + 1,
        )
    finally:
        for name in ("__kenning_slot_codes", "__kenning_external_codes"):
            con.unregister(name)
        con.execute("DROP TABLE IF EXISTS __kenning_raw_links")
        con.execute("DROP TABLE IF EXISTS __kenning_raw_external")
    return LogLinks(seq, offsets, codes, identifiers)


def _sql_list(values: list[int]) -> str:
    return "(" + ", ".join(str(v) for v in values or [-1]) + ")"


def _dictionaries(
    con: duckdb.DuckDBPyConnection,
    rules: IdentityRules,
    slots: list[_Slot],
    external: int,
) -> tuple[list[Identifier], pa.Table, pa.Table]:
    """Normalise each distinct raw value once; number the identifiers they make."""
    code_of: dict[Identifier, int] = {}
    identifiers: list[Identifier] = []
    # One normalisation per (type, how read, raw value), whichever slots it was read from.
    normalised: dict[tuple[str, bool, str], int | None] = {}
    is_blocked = rules.is_blocked

    def code(type_: str, raw_json: str, text: str | None, previous: bool) -> int | None:
        key = (type_, previous, raw_json)
        if key in normalised:
            return normalised[key]
        value: str | None
        if text is not None and type_ != "email" and type_ != "phone":
            # normalise() for text of a plain type, inlined: this runs once per distinct value
            value = text.strip()
            if not value or is_blocked(value):
                value = None
        else:
            raw: Any = text if text is not None else orjson.loads(raw_json)
            if previous and (isinstance(raw, bool) or not isinstance(raw, str | int)):
                value = None  # message_identifiers takes a previousId only as text or a number
            else:
                value = normalise(type_, raw, rules)
        found = None
        if value is not None:
            identifier = Identifier(type_, value)
            found = code_of.get(identifier)
            if found is None:
                found = code_of[identifier] = len(identifiers)
                identifiers.append(identifier)
        normalised[key] = found
        return found

    last_rank = len(rules.priority) + 1

    def place(type_: str, slot: int, previous: bool) -> int:
        rank = last_rank if previous else rules.rank(type_)
        return (rank << _RANK_SHIFT) | (slot << _SLOT_SHIFT)

    # Text values are unquoted by DuckDB; other JSON values are decoded in Python.
    text_of = "CASE WHEN json_type(v) = 'VARCHAR' THEN json_extract_string(v, '$') END AS text"
    found = con.sql(
        f"""SELECT slot, v, {text_of} FROM (
                SELECT DISTINCT slot, v FROM __kenning_raw_links WHERE slot <> {external})"""
    ).to_arrow_table()
    slot_numbers = found.column("slot").to_pylist()
    raws = found.column("v").to_pylist()
    texts = found.column("text").to_pylist()
    slot_codes = [
        code(slots[slot - 2].type, raw, text, slots[slot - 2].when == _ALIAS)
        for slot, raw, text in zip(slot_numbers, raws, texts, strict=True)
    ]
    slot_places = {
        n + 2: place(slot.type, n + 2, slot.when == _ALIAS) for n, slot in enumerate(slots)
    }
    slot_table = _code_table(
        "slot",
        [
            (slot, raw, found_code, slot_places[slot])
            for slot, raw, found_code in zip(slot_numbers, raws, slot_codes, strict=True)
        ],
        key_type=pa.int32(),
    )
    external_rows = con.execute(
        f"SELECT type, v, {text_of} FROM (SELECT DISTINCT type, v FROM __kenning_raw_external)"
    ).fetchall()
    external_table = _code_table(
        "type",
        [
            (t, raw, code(t, raw, text, False), place(t, external, False))
            for t, raw, text in external_rows
        ],
        key_type=pa.string(),
    )
    return identifiers, slot_table, external_table


def _code_table(name: str, rows: list[tuple[Any, str, int | None, int]], key_type: Any) -> pa.Table:
    usable = [row for row in rows if row[2] is not None]
    return pa.table(
        {
            name: pa.array([row[0] for row in usable], key_type),
            "v": pa.array([row[1] for row in usable], pa.string()),
            "code": pa.array([row[2] for row in usable], pa.int64()),
            "place": pa.array([row[3] for row in usable], pa.int64()),
        }
    )


def _ordered(table: pa.Table, last_rank: int) -> tuple[Codes, Codes, Codes]:
    """Event starts and codes from rows ordered by (seq, place), each identifier kept at its
    first place in its event (extract_identifiers keeps the first of duplicates)."""
    seqs = table.column("seq").to_numpy().astype(np.int64, copy=False)
    codes = table.column("code").to_numpy().astype(np.int64)
    ranks = table.column("rank").to_numpy()
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
    starts = np.flatnonzero(np.r_[True, seqs[1:] != seqs[:-1]]) if len(seqs) else np.zeros(0)
    starts = starts.astype(np.int64)
    offsets = np.append(starts, len(seqs)).astype(np.int64)
    return seqs[starts], offsets, codes
