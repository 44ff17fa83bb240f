"""A new profile's records, built in Python: what features.py's SQL builds for the whole log.

Real-time matching works on one or a few records at a time, where a DuckDB query's planning
alone (its regular expressions are compiled for every query) costs more than the rest of
matching. These functions read the traits from the parsed messages and normalise them exactly
as features.py does; tests hold the two to the same output.
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import orjson

from kenning.identity.households import STREET_TYPES
from kenning.identity.matching.features import reads_full_name
from kenning.identity.matching.settings import MatchField, MatchSettings

_NOT_NAME = re.compile(r"[^a-z' -]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_NOT_DIGIT = re.compile(r"[^0-9]")
# what DuckDB's cast to DATE reads: a year, month and day with one separator, maybe a time
_ISO_DATE = re.compile(
    r"^ *(\d{1,4})([-/ ])(\d{1,2})\2(\d{1,2})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[+-]\d{2}(?::?\d{2})?)?)? *$"
)
_STREET_TYPES = [(re.compile(f" {short}$"), f" {full}") for short, full in STREET_TYPES.items()]


def _strip_accents(text: str) -> str:
    # canonical decomposition only, as DuckDB's strip_accents (an "ﬁ" ligature stays one)
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _date(raw: str) -> date | None:
    """As DuckDB reads it, but for years beyond 9999 (a typo, "19400-1-01"): Python has no such
    date, so the record just does not agree with anyone on its birthday."""
    iso = _ISO_DATE.match(raw)
    candidates = []
    if iso:
        year, _, month, day = iso.groups()
        candidates.append((int(year), int(month), int(day)))
    for pattern in ("%Y%m%d", "%d/%m/%Y"):
        try:
            parsed = datetime.strptime(raw, pattern)
        except ValueError:
            continue
        candidates.append((parsed.year, parsed.month, parsed.day))
    for year, month, day in candidates:
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return None


def normalise(kind: str, raw: str | None) -> str | date | None:
    """A raw trait value normalised for a field of ``kind`` (features.py's ``_normalised``)."""
    if raw is None:
        return None
    text = raw.strip(" ").lower()
    if kind == "name":
        return _NOT_NAME.sub("", _strip_accents(text)).strip(" ") or None
    if kind == "date":
        return _date(raw)
    if kind == "street":
        words = _NOT_WORD.sub(" ", _strip_accents(text)).strip(" ")
        for pattern, full in _STREET_TYPES:
            words = pattern.sub(full, words)
        return words or None
    if kind == "text":
        return _NOT_WORD.sub(" ", _strip_accents(text)).strip(" ") or None
    if kind in ("postcode", "id"):
        return _NOT_ALNUM.sub("", text) or None
    if kind == "phone":
        digits = _NOT_DIGIT.sub("", raw)
        return digits[-10:] if len(digits) >= 7 else None
    return text or None


def _text(value: Any) -> str | None:
    """A JSON value as DuckDB's ``json_extract_string`` gives it."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _at(traits: Mapping[str, Any], path: str) -> str | None:
    value: Any = traits
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return _text(value)


def raw_traits(message: Mapping[str, Any], traits: Iterable[str]) -> list[str | None]:
    """The message's value of each trait: from ``traits``, else ``context.traits``."""
    found = message.get("traits")
    if found is None:
        context = message.get("context")
        found = context.get("traits") if isinstance(context, Mapping) else None
    if not isinstance(found, Mapping):
        return [None for _ in traits]
    return [_at(found, trait) for trait in traits]


def build_records(
    settings: MatchSettings,
    events: Iterable[tuple[int, str, datetime, Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """One record per (profile, source) of the events (profile, source, timestamp, message),
    each field its newest value, with enough fields filled (``min_fields``)."""
    fields = settings.fields
    first, last = reads_full_name(settings)
    traits = [f.trait for f in fields] + (["name"] if first or last else [])
    latest: dict[tuple[int, str], list[tuple[datetime, str] | None]] = {}
    for profile, source, timestamp, message in events:
        if "traits" not in message and "traits" not in (message.get("context") or {}):
            continue
        slots = latest.setdefault((profile, source), [None] * len(traits))
        for i, value in enumerate(raw_traits(message, traits)):
            held = slots[i]
            if value is not None and (held is None or timestamp > held[0]):
                slots[i] = (timestamp, value)
    records = []
    for (profile, source), slots in sorted(latest.items()):
        raw = [slot[1] if slot else None for slot in slots]
        record: dict[str, Any] = {"profile_id": profile, "source_id": source}
        for i, f in enumerate(fields):
            record[f.name] = normalise(f.kind, _filled(f, raw[i], raw[-1], first, last))
        if sum(record[f.name] is not None for f in fields) >= settings.min_fields:
            records.append(record)
    return records


def _filled(
    f: MatchField,
    value: str | None,
    full_name: str | None,
    first: MatchField | None,
    last: MatchField | None,
) -> str | None:
    """A first or last name missing, taken from the full ``name`` trait."""
    if value is not None or full_name is None:
        return value
    name = full_name.strip(" ")
    if f is first:
        return name.split(" ")[0] or None
    if f is last and " " in name:
        return name.split()[-1]
    return value
