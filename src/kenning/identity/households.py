"""Households: profiles grouped by the address they live at (optionally, and their surname).

Each profile's address is its most recent one, from identify traits, ``context.traits`` and
imported records (Segment's reserved ``address`` trait: ``street``, ``city``, ``postalCode``,
``country``). Addresses are normalised so the same home compares equal however it was typed:
case, punctuation and spacing ignored, postcodes without their space, street types spelled out
(``St`` → ``street``, ``Rd`` → ``road``). A household's id is derived from its normalised
address, so recomputing gives a home the same id. Households are derived data: ``kenning
identity households`` recomputes them in one transaction.
"""

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

if TYPE_CHECKING:  # the store's real-time matching normalises streets as this module does
    from kenning.store.store import Store

# Street-type abbreviations, expanded only as the last word ("St Albans Road" keeps its St).
STREET_TYPES = {
    "st": "street",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "dr": "drive",
    "ln": "lane",
    "cl": "close",
    "ct": "court",
    "pl": "place",
    "sq": "square",
    "gdns": "gardens",
    "cres": "crescent",
    "blvd": "boulevard",
    "hwy": "highway",
    "ter": "terrace",
    "terr": "terrace",
}
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalise_street(street: str) -> str:
    """``12, Oak St.`` -> ``12 oak street``."""
    words = _NOT_WORD.sub(" ", street.lower()).split()
    if words and words[-1] in STREET_TYPES:
        words[-1] = STREET_TYPES[words[-1]]
    return " ".join(words)


def normalise_postcode(postcode: str) -> str:
    return _NOT_WORD.sub("", postcode.lower())


def address_key(
    street: str | None,
    postcode: str | None,
    city: str | None,
    country: str | None,
    last_name: str | None = None,
) -> str | None:
    """The text two profiles at one home share; None when the address is too thin to say."""
    if not street or not normalise_street(street):
        return None
    place = normalise_postcode(postcode) if postcode else ""
    if not place:
        place = _NOT_WORD.sub(" ", (city or "").lower()).strip()
    if not place:
        return None
    parts = [(country or "").strip().lower(), place, normalise_street(street)]
    if last_name is not None:
        parts.append(_NOT_WORD.sub(" ", last_name.lower()).strip())
    return "|".join(parts)


def household_id(key: str) -> str:
    return "hh-" + hashlib.sha1(key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class HouseholdSummary:
    profiles_with_address: int
    households: int
    sizes: dict[int, int]  # household size -> how many households

    def as_dict(self) -> dict[str, Any]:
        return {
            "profiles_with_address": self.profiles_with_address,
            "households": self.households,
            "sizes": {str(size): count for size, count in sorted(self.sizes.items())},
            "profiles_in_shared_households": sum(
                size * count for size, count in self.sizes.items() if size > 1
            ),
        }


_LATEST_ADDRESS = """
    WITH traits AS (
        SELECT profile_id, timestamp,
               coalesce(json_extract(payload, '$.traits.address'),
                        json_extract(payload, '$.context.traits.address')) AS address,
               coalesce(json_extract_string(payload, '$.traits.lastName'),
                        json_extract_string(payload, '$.context.traits.lastName')) AS last_name,
               try_cast(coalesce(json_extract_string(payload, '$.traits.birthday'),
                                 json_extract_string(payload, '$.context.traits.birthday'))
                        AS DATE) AS birthday
        FROM kenning_events
        -- a cheap text test first: most events carry none of these traits
        WHERE profile_id IS NOT NULL
          AND (payload LIKE '%"address"%' OR payload LIKE '%"lastName"%'
               OR payload LIKE '%"birthday"%')
    ),
    latest AS (
        -- the newest address as a whole: fields of different addresses never mix
        SELECT profile_id, arg_max(address, timestamp) AS address
        FROM traits
        WHERE json_extract_string(address, '$.street') IS NOT NULL
        GROUP BY profile_id
    ),
    -- surname and birthday from any event that gives them, with an address or not
    named AS (
        SELECT profile_id, arg_max(last_name, timestamp) AS last_name
        FROM traits WHERE last_name IS NOT NULL GROUP BY profile_id
    ),
    born AS (
        SELECT profile_id, arg_max(birthday, timestamp) AS birthday
        FROM traits WHERE birthday IS NOT NULL GROUP BY profile_id
    )
    SELECT profile_id,
           json_extract_string(address, '$.street'),
           json_extract_string(address, '$.postalCode'),
           json_extract_string(address, '$.city'),
           json_extract_string(address, '$.country'),
           last_name,
           birthday
    FROM latest LEFT JOIN named USING (profile_id) LEFT JOIN born USING (profile_id)
"""


def group(
    rows: Iterable[Sequence[Any]],
    *,
    by_surname: bool = False,
) -> dict[int, str]:
    """Profile id -> household id, from each profile's latest address (and surname): rows of
    profile id, street, postcode, city, country, last name (and anything after)."""
    assigned: dict[int, str] = {}
    for profile_id, street, postcode, city, country, last_name, *_ in rows:
        if by_surname and not last_name:
            continue
        key = address_key(street, postcode, city, country, last_name if by_surname else None)
        if key is not None:
            assigned[int(profile_id)] = household_id(key)
    return assigned


def compute_households(store: "Store", *, by_surname: bool = False) -> HouseholdSummary:
    """Recompute every household from the profiles' latest addresses, in one transaction."""
    with store.reader() as con:
        rows = con.execute(_LATEST_ADDRESS).fetchall()
    assigned = group(rows, by_surname=by_surname)
    # each member's birthday, for the household's composition (adults, children)
    born = {int(row[0]): row[6] for row in rows if row[6] is not None}

    def write(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("DELETE FROM __kenning_households")
        if assigned:
            con.from_arrow(
                pa.table(
                    {
                        "profile_id": pa.array(list(assigned), pa.int64()),
                        "household_id": pa.array(list(assigned.values()), pa.string()),
                        "birthday": pa.array([born.get(p) for p in assigned], pa.date32()),
                    }
                )
            ).insert_into("__kenning_households")

    store.writer.run(write).result()
    store.audiences.want_everyone()  # households are part of what audiences read
    sizes = Counter(Counter(assigned.values()).values())
    return HouseholdSummary(len(assigned), sum(sizes.values()), dict(sizes))


def household_traits(store: "Store", profile_id: int) -> dict[str, Any] | None:
    """A profile's household as traits: its id, size, the other members, and how many members
    are adults, children (under 18 by their birthday) or of unknown age. None: no household."""
    with store.reader() as con:
        row = con.execute(
            "SELECT * EXCLUDE (profile_id) FROM kenning_household_traits WHERE profile_id = ?",
            [profile_id],
        )
        names = [d[0] for d in row.description or []]
        found = row.fetchall()
    return dict(zip(names, found[0], strict=True)) if found else None


def household_members(store: "Store", household: str) -> list[int]:
    with store.reader() as con:
        return [
            int(r[0])
            for r in con.execute(
                "SELECT profile_id FROM kenning_households WHERE household_id = ? "
                "ORDER BY profile_id",
                [household],
            ).fetchall()
        ]
