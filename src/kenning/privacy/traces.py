"""Looking for what is left of a person: every text column of every table of the store, and
every file Kenning exported, searched for their identifiers (``kenning privacy verify``).

The store's tables are listed from the catalogue, not from a list kept by hand, so a table
added later is searched too.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson

from kenning.privacy.exported import exported_files, file_text

# A bare value shorter than this could occur by chance ("42"); it is matched only quoted.
# The files are searched for the same needles, case-insensitively.
MIN_BARE_CHARS = 8
_TEXT_TYPES = ("VARCHAR", "JSON", "BLOB")


@dataclass(frozen=True, slots=True)
class Trace:
    where: str  # "table.column" or a file's path
    rows: int


def needles_of(values: Iterable[str]) -> list[str]:
    """The texts that give a value away: the bare value when it is long enough not to occur
    by chance (it also finds the value quoted), else the value quoted as JSON."""
    found: set[str] = set()
    for value in values:
        found.add(value if len(value) >= MIN_BARE_CHARS else orjson.dumps(value).decode())
    return sorted(found)


def mentions(column: str, needles: Sequence[str]) -> tuple[str, list[object]]:
    """A condition true where ``column``'s text holds any needle, case-insensitively, and its
    parameters: one regular expression, so a column is read once whatever the needles."""
    if not needles:
        return "FALSE", []
    pattern = "(?i)(?:" + "|".join(re.escape(n) for n in needles) + ")"
    return f"regexp_matches({column}, ?)", [pattern]


def find_traces(
    con: duckdb.DuckDBPyConnection, needles: Sequence[str], folders: Sequence[Path] = ()
) -> list[Trace]:
    """Every table column and exported file that holds any needle (case-insensitively)."""
    if not needles:
        return []
    lowered = [n.lower() for n in needles]
    columns = con.execute(
        """SELECT c.table_name, c.column_name, c.data_type
           FROM information_schema.columns c JOIN information_schema.tables t
             ON t.table_schema = c.table_schema AND t.table_name = c.table_name
           WHERE t.table_type = 'BASE TABLE' AND t.table_schema = current_schema()
             AND t.table_catalog = current_database()
           ORDER BY c.table_name, c.ordinal_position"""
    ).fetchall()
    traces: list[Trace] = []
    for table, column, data_type in columns:
        if not any(str(data_type).startswith(t) for t in _TEXT_TYPES) and not str(
            data_type
        ).endswith("[]"):
            continue
        condition, params = mentions(f'"{column}"::VARCHAR', needles)
        row = con.execute(f'SELECT count(*) FROM "{table}" WHERE {condition}', params).fetchone()
        if row and row[0]:
            traces.append(Trace(f"{table}.{column}", int(row[0])))
    for path in exported_files(folders):
        held = file_text(path).lower()
        hits = sum(held.count(n) for n in lowered)
        if hits:
            traces.append(Trace(str(path), hits))
    return traces
