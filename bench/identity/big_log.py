"""A large event log, made cheaply: copies of the synthetic brand's log, written in bulk.

Generating the brand for 70,000 people and sending it through the writer takes minutes; copying
one stored brand's log in SQL takes seconds. Each copy is a different set of people: every
identifier value is rewritten (numbered ids get a copy suffix, emails a `+c<n>` tag, phones a
different mobile prefix), so copies never share an identifier, and a copy's events are
interleaved with the others' in the log (seq) as real traffic would be.

So that the rules have work to do, a shared device is planted: the app devices of people whose
number ends in `07` keep their original id in every copy, so up to one device id per such
person is carried by people with different user ids (a family tablet, a shop's demo phone).
The user_id limit keeps them apart, which the rebuild resolves event by event.
"""

from pathlib import Path

import duckdb

# The brand's identifier values: `cust-0001123`, `anon-0001123-3`, `app-anon-…`, `dev-…`,
# `push-…`, `ad-…`, `LOY5869676`, `loyalty-LOY…`, `call-0001123-12`; emails; UK mobiles.
_NUMBERED = r"([A-Za-z]-|LOY)([0-9]{7})"
_EMAIL = r'("email":"[^"@]*)@'
_PHONE = r'("phone":"[^"]*?)7700'
_SHARED_DEVICE = r"(dev-[0-9]{5}07)x[0-9]+"


def _rewritten(column: str) -> str:
    numbered = f"regexp_replace({column}, '{_NUMBERED}', '\\1\\2x' || c, 'g')"
    email = f"regexp_replace({numbered}, '{_EMAIL}', '\\1+c' || c || '@', 'g')"
    phone = f"regexp_replace({email}, '{_PHONE}', '\\1' || (7700 + c), 'g')"
    return f"regexp_replace({phone}, '{_SHARED_DEVICE}', '\\1', 'g')"


def copy_log(brand: Path, target: Path, copies: int) -> int:
    """Write ``copies`` rewritten copies of the event log in ``brand`` (a store) into
    ``target`` (a migrated store with an empty log); returns the events written."""
    con = duckdb.connect(str(target))
    try:
        con.execute(f"ATTACH '{brand}' AS brand (READ_ONLY)")
        con.execute(
            f"""INSERT INTO __kenning_events
                SELECT (e.seq - 1) * {copies} + c + 1, e.source_id,
                       e.message_id || '~' || c, e.type, e.event,
                       {_rewritten("e.user_id")}, {_rewritten("e.anonymous_id")},
                       e.timestamp, e.original_timestamp, e.sent_at, e.received_at, e.flags,
                       {_rewritten("e.payload")}, e.other_identifiers
                FROM brand.__kenning_events e, range({copies}) AS copy(c)"""
        )
        con.execute("INSERT INTO __kenning_sources SELECT * FROM brand.__kenning_sources")
        row = con.execute("SELECT count(*) FROM __kenning_events").fetchone()
        con.execute("DETACH brand")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return int(row[0]) if row else 0
