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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from kenning.identity.identifiers import Identifier, normalise
from kenning.identity.rules import IdentityRules

Codes = npt.NDArray[np.int64]

# Where message_identifiers reads, in its order: (JSON path, identifier type, read when).
_ALWAYS, _IDENTIFY, _ALIAS, _EXTERNAL = "always", "identify", "alias", "external"
_FIXED_PATHS = (
    ("$.userId", "user_id", _ALWAYS),
    ("$.anonymousId", "anonymous_id", _ALWAYS),
    ("$.context.traits.email", "email", _ALWAYS),
    ("$.context.traits.phone", "phone", _ALWAYS),
    ("$.traits.email", "email", _IDENTIFY),
    ("$.traits.phone", "phone", _IDENTIFY),
    ("$.context.device.id", "device_id", _ALWAYS),
    ("$.context.device.advertisingId", "advertising_id", _ALWAYS),
    ("$.context.device.token", "push_token", _ALWAYS),
    ("$.context.externalIds", "", _EXTERNAL),
)
# An alias's previousId comes after every other identifier, whatever its priority.
_LAST = 1 << 62
# Room for the entries of one externalIds list within one slot's place in the order.
_ENTRIES = 1 << 20


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


def _normaliser(rules: IdentityRules) -> Callable[[str, str, bool], str | None]:
    def value_of(type_: str, raw_json: str, previous: bool) -> str | None:
        raw: Any = orjson.loads(raw_json)
        if previous and (isinstance(raw, bool) or not isinstance(raw, str | int)):
            return None  # message_identifiers takes a previousId only as text or a number
        return normalise(type_, raw, rules)

    return value_of


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
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __kenning_raw_links AS
                SELECT seq, slot, v FROM (
                    SELECT seq, j[1] AS message_type, unnest(j) AS v,
                           generate_subscripts(j, 1) AS slot
                    FROM (SELECT seq, json_extract(payload, $paths) AS j FROM __kenning_events))
                WHERE slot > 1 AND v IS NOT NULL AND v <> 'null'
                  AND (slot NOT IN {_sql_list(identify_slots)} OR message_type = '"identify"')
                  AND (slot NOT IN {_sql_list(alias_slots)} OR message_type = '"alias"')""",
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
        seq, offsets, codes = _ordered(
            con.sql(
                f"""SELECT r.seq, c.code, c.rank, r.slot::BIGINT * {_ENTRIES} AS place
                    FROM __kenning_raw_links r JOIN __kenning_slot_codes c USING (slot, v)
                    UNION ALL
                    SELECT x.seq, c.code, c.rank, {external}::BIGINT * {_ENTRIES} + x.entry
                    FROM __kenning_raw_external x JOIN __kenning_external_codes c USING (type, v)
                    ORDER BY seq, rank, place"""
            ).to_arrow_table()
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
    value_of = _normaliser(rules)
    code_of: dict[Identifier, int] = {}
    identifiers: list[Identifier] = []

    def code(type_: str, raw_json: str, previous: bool) -> int | None:
        value = value_of(type_, raw_json, previous)
        if value is None:
            return None
        identifier = Identifier(type_, value)
        found = code_of.get(identifier)
        if found is None:
            found = code_of[identifier] = len(identifiers)
            identifiers.append(identifier)
        return found

    slot_rows = con.execute(
        f"SELECT DISTINCT slot, v FROM __kenning_raw_links WHERE slot <> {external}"
    ).fetchall()
    slot_table = _code_table(
        "slot",
        [
            (
                slot,
                raw,
                code(slots[slot - 2].type, raw, slots[slot - 2].when == _ALIAS),
                _LAST if slots[slot - 2].when == _ALIAS else rules.rank(slots[slot - 2].type),
            )
            for slot, raw in slot_rows
        ],
        key_type=pa.int32(),
    )
    external_rows = con.execute("SELECT DISTINCT type, v FROM __kenning_raw_external").fetchall()
    external_table = _code_table(
        "type",
        [(t, raw, code(t, raw, False), rules.rank(t)) for t, raw in external_rows],
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
            "rank": pa.array([row[3] for row in usable], pa.int64()),
        }
    )


def _ordered(table: pa.Table) -> tuple[Codes, Codes, Codes]:
    """Event starts and codes from rows ordered by (seq, rank, place), each identifier kept
    at its first place in its event (extract_identifiers keeps the first of duplicates)."""
    seqs = table.column("seq").to_numpy().astype(np.int64, copy=False)
    codes = table.column("code").to_numpy().astype(np.int64, copy=False)
    ranks = table.column("rank").to_numpy().astype(np.int64, copy=False)
    # A duplicate has the type, so the rank, of its first: it can only follow a row of the
    # same event and rank, or be an alias's previousId. Only those events are looked at.
    same_event = seqs[1:] == seqs[:-1]
    suspect = same_event & ((ranks[1:] == ranks[:-1]) | (ranks[1:] == _LAST))
    keep = np.ones(len(codes), dtype=bool)
    if suspect.any():
        starts_all = np.flatnonzero(np.r_[True, ~same_event])
        ends_all = np.append(starts_all[1:], len(seqs))
        event_of_row = np.cumsum(np.r_[True, ~same_event]) - 1
        for event in np.unique(event_of_row[1:][suspect]):
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
