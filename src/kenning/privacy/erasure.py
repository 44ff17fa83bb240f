"""Deleting a person: every row of every table that is theirs or names them, in one
transaction, and every file Kenning exported with them in it.

Three steps, so ingest waits only for the middle one: ``find`` searches on a reader (the text
searches over the whole log take minutes on a large store), ``erase`` deletes in a writer job
what was found and what arrived since (searching only past where ``find`` stopped), and the
caller searches for traces on a reader after the commit (``traces.find_traces``).

A person is found by any identifier; they are their current profile and every profile merged
into it. What is theirs: the events stitched to those profiles, and any event, quarantined
message or delivery whose text names one of their identifiers (a referral's email in another
person's event). What derives from them goes with them: identity rows, state, computed
traits, audience memberships, predictions, outbox, attempts, dead letters. The in-memory
identity graph forgets them and the other stages with memory (real-time matching, documents)
read what is left, in the same transaction, so nothing in memory remembers them either.

Text matching uses *needles*: each identifier value bare when it is long enough not to occur
by chance (eight characters or more: emails, phone numbers, device ids), else quoted as JSON
(an exact value), all in one case-insensitive regular expression (``traces.mentions``).
``traces.find_traces`` looks for the same needles everywhere.
"""

import contextlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kenning.errors import FieldError
from kenning.identity.identifiers import Identifier, normalise
from kenning.privacy.exported import rewrite_exports
from kenning.privacy.traces import find_traces, mentions, needles_of

if TYPE_CHECKING:
    from kenning.store.store import Store

PROFILE_ID = "profile_id"

# Tables keyed by the profile an event was stitched to: a person's rows are those of their ids.
_BY_PROFILE = (
    "__kenning_profile_traits",
    "__kenning_consent",
    "__kenning_consent_log",
    "__kenning_trait_tallies",
    "__kenning_trait_values",
    "__kenning_profile_documents",
    "__kenning_audience_members",
    "__kenning_audience_changes",
    "__kenning_predictions",
    "__kenning_households",
)
# Identity inputs and decisions naming identifiers as TYPE:VALUE in two columns.
_BY_PAIR = ("__kenning_identity_overrides", "__kenning_identity_links", "__kenning_match_reviews")


@dataclass
class Person:
    """Who a request names: their profile ids and identifiers (``TYPE:VALUE``)."""

    profile_ids: list[int] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    @property
    def values(self) -> list[str]:
        return sorted({key.partition(":")[2] for key in self.keys})


def parse_identifier(text: str, store: "Store") -> Identifier:
    """``TYPE:VALUE`` normalised as the graph keeps it (``profile_id:N`` as given)."""
    identifier = Identifier.parse(text)
    if identifier.type == PROFILE_ID:
        if not identifier.value.isdigit():
            raise ValueError(f"{identifier.value!r} is not a profile id")
        return identifier
    value = normalise(identifier.type, identifier.value, store.identity.rules)
    if value is None:
        raise ValueError(f"{text!r} identifies nobody (not a valid {identifier.type})")
    return Identifier(identifier.type, value)


def find_person(
    con: duckdb.DuckDBPyConnection, store: "Store", identifiers: Iterable[Identifier]
) -> Person:
    """The profiles the identifiers lead to (with those merged into them), and every
    identifier those profiles hold besides the ones named."""
    person = Person()
    graph = store.identity.graph
    canonical: set[int] = set()
    for identifier in identifiers:
        if identifier.type == PROFILE_ID:
            number = int(identifier.value)
            row = con.execute(
                "SELECT canonical_id FROM __kenning_profile_redirects WHERE profile_id = ?",
                [number],
            ).fetchone()
            found: int | None = int(row[0]) if row else number
            if not graph.holds(int(found or 0)):
                found = None
        else:
            person.keys.add(str(identifier))
            found = graph.profile_for(identifier)
        if found is not None:
            canonical.add(found)
    for profile_id in sorted(canonical):
        merged = con.execute(
            "SELECT profile_id FROM __kenning_profile_redirects WHERE canonical_id = ?",
            [profile_id],
        ).fetchall()
        person.profile_ids += [profile_id, *(int(m) for (m,) in merged)]
        person.keys |= {str(i) for i in graph.identifiers_of(profile_id)}
    return person


@dataclass(frozen=True)
class Found:
    """What a search of the store on a reader found of a person, while ingest went on: the
    rows a text search finds (the slow part), and how far each table was searched, so the
    deletion itself searches only what arrived since."""

    person: Person
    needles: list[str]
    event_seqs: list[int]
    searched_seq: int
    quarantine_ids: list[int]
    searched_quarantine: int
    delivery_ids: list[int]
    searched_delivery: int


def find(
    con: duckdb.DuckDBPyConnection, store: "Store", identifiers: Sequence[Identifier]
) -> Found:
    """Search for the person ``identifiers`` name, on a reader (nothing waits for it)."""
    person = find_person(con, store, identifiers)
    needles = needles_of(person.values)
    highest = con.execute(
        """SELECT (SELECT coalesce(max(seq), 0) FROM __kenning_events),
                  (SELECT coalesce(max(id), 0) FROM __kenning_quarantine),
                  (SELECT coalesce(max(id), 0) FROM __kenning_outbox)"""
    ).fetchone()
    assert highest is not None
    payload, payload_params = mentions("payload", needles)
    seqs = con.execute(
        f"""SELECT seq FROM __kenning_event_profiles WHERE profile_id = ANY(?)
            UNION SELECT seq FROM __kenning_events
            WHERE seq <= ? AND (user_id = ANY(?) OR anonymous_id = ANY(?) OR {payload})""",
        [person.profile_ids, highest[0], person.values, person.values, *payload_params],
    ).fetchall()
    quarantined = con.execute(
        f"SELECT id FROM __kenning_quarantine WHERE id <= ? AND {payload}",
        [highest[1], *payload_params],
    ).fetchall()
    outbox, outbox_params = mentions("payload::VARCHAR", needles)
    deliveries = con.execute(
        f"""SELECT id FROM __kenning_outbox
            WHERE id <= ? AND (profile_id = ANY(?) OR {outbox})""",
        [highest[2], person.profile_ids, *outbox_params],
    ).fetchall()
    return Found(
        person, needles, [int(s) for (s,) in seqs], int(highest[0]),
        [int(q) for (q,) in quarantined], int(highest[1]),
        [int(d) for (d,) in deliveries], int(highest[2]),
    )  # fmt: skip


def erase(
    con: duckdb.DuckDBPyConnection,
    store: "Store",
    identifiers: Sequence[Identifier],
    found: Found,
    export_folders: Sequence[Path],
) -> dict[str, Any]:
    """Delete everything of the person, in ``con``'s transaction (a writer job): what
    ``found`` found, and what arrived or changed since it searched (the person is found
    again: a merge since adds profiles, an event since adds rows). Rewrites the exported files
    that hold them; the receipt's counts."""
    started = time.perf_counter()
    person = find_person(con, store, identifiers)
    person.profile_ids = sorted(set(person.profile_ids) | set(found.person.profile_ids))
    person.keys |= found.person.keys
    needles = needles_of(person.values)
    rows: dict[str, int] = {}

    def deleted(table: str, where: str, params: Sequence[object] = ()) -> None:
        gone = con.execute(f"DELETE FROM {table} WHERE {where} RETURNING 1", params).fetchall()
        if gone:
            rows[table] = rows.get(table, 0) + len(gone)

    ids, keys, values = person.profile_ids, sorted(person.keys), person.values
    payload, payload_params = mentions("payload", needles)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __kenning_erased_seqs AS
            SELECT unnest(?::BIGINT[]) AS seq
            UNION SELECT seq FROM __kenning_event_profiles WHERE profile_id = ANY(?)
            UNION SELECT seq FROM __kenning_events
            WHERE seq > ? AND (user_id = ANY(?) OR anonymous_id = ANY(?) OR {payload})""",
        [found.event_seqs, ids, found.searched_seq, values, values, *payload_params],
    )
    seqs = "(SELECT seq FROM __kenning_erased_seqs)"
    deleted("__kenning_events", f"seq IN {seqs}")
    deleted("__kenning_event_profiles", f"seq IN {seqs} OR profile_id = ANY(?)", [ids])
    deleted(
        "__kenning_quarantine",
        f"id = ANY(?) OR (id > ? AND {payload})",
        [found.quarantine_ids, found.searched_quarantine, *payload_params],
    )
    deleted(
        "__kenning_identifiers", "profile_id = ANY(?) OR type || ':' || value = ANY(?)", [ids, keys]
    )
    deleted("__kenning_profile_redirects", "profile_id = ANY(?) OR canonical_id = ANY(?)",
            [ids, ids])  # fmt: skip
    deleted("__kenning_merges", "kept = ANY(?) OR merged = ANY(?) OR list_has_any(identifiers, ?)",
            [ids, ids, keys])  # fmt: skip
    for table in _BY_PAIR:
        deleted(table, "a = ANY(?) OR b = ANY(?)", [keys, keys])
    for table in _BY_PROFILE:
        deleted(table, "profile_id = ANY(?)", [ids])
    outbox, outbox_params = mentions("payload::VARCHAR", needles)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __kenning_erased_deliveries AS
            SELECT id FROM __kenning_outbox
            WHERE id = ANY(?) OR profile_id = ANY(?) OR (id > ? AND {outbox})""",
        [found.delivery_ids, ids, found.searched_delivery, *outbox_params],
    )
    deliveries = "(SELECT id FROM __kenning_erased_deliveries)"
    detail, detail_params = mentions("detail", needles)
    deleted("__kenning_delivery_attempts", f"delivery_id IN {deliveries} OR {detail}",
            detail_params)  # fmt: skip
    response, response_params = mentions("coalesce(response, '') || detail", needles)
    deleted("__kenning_dead_letters", f"delivery_id IN {deliveries} OR {response}",
            response_params)  # fmt: skip
    deleted("__kenning_outbox", f"id IN {deliveries}")
    for name in ("seqs", "deliveries"):
        con.execute(f"DROP TABLE IF EXISTS __kenning_erased_{name}")

    # Nothing in memory may still know them. The graph forgets them (reloading it would hold
    # ingest for as long as a million profiles take to read); real-time matching, when on,
    # reads its records again; documents read which people have one.
    store.identity.graph.forget(ids)
    if store.matching.active:
        store.matching.load(con)
    store.documents.load(con)
    files = rewrite_exports(export_folders, ids, needles)
    return {
        "profiles": len(ids),
        "identifiers": len(person.keys),
        "rows": dict(sorted(rows.items())),
        "rows_deleted": sum(rows.values()),
        "files_rewritten": files.files,
        "file_rows_deleted": files.rows,
        "seconds": round(time.perf_counter() - started, 3),
    }


def verify_deleted(
    store: "Store", texts: Sequence[str], export_folders: Sequence[Path]
) -> dict[str, Any]:
    """Every table column and exported file still holding any of the ``TYPE:VALUE`` texts
    (each looked for as given and normalised); a FieldError names a text that is not one."""
    values: list[str] = []
    for index, text in enumerate(texts):
        try:
            values.append(Identifier.parse(text).value)
        except ValueError as error:
            raise FieldError(str(error), f"identifiers[{index}]") from None
        with contextlib.suppress(ValueError):  # not a valid value of its type: as given
            values.append(parse_identifier(text, store).value)
    with store.reader() as con:
        found = find_traces(con, needles_of(values), export_folders)
    traces = [{"where": t.where, "rows": t.rows} for t in found]
    return {"identifiers": len(texts), "traces": traces, "clean": not traces}
