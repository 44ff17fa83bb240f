"""Deleting a person: every row of every table that is theirs or names them, in one
transaction, and every file Kenning exported with them in it.

A person is found by any identifier; they are their current profile and every profile merged
into it. What is theirs: the events stitched to those profiles, and any event, quarantined
message or delivery whose text names one of their identifiers (a referral's email in another
person's event). What derives from them goes with them: identity rows, state, computed
traits, audience memberships, predictions, outbox, attempts, dead letters. The in-memory
stages (the identity graph, real-time matching, documents) are reloaded from what is left,
in the same transaction, so nothing in memory remembers them either.

Text matching uses *needles*: each identifier value quoted as JSON (exact values), and bare
when it is long enough not to occur by chance (eight characters or more: emails, phone
numbers, device ids). ``traces.find_traces`` looks for the same needles everywhere.
"""

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

from kenning.identity.identifiers import Identifier, normalise
from kenning.privacy.exported import rewrite_exports
from kenning.privacy.traces import find_traces, needles_of

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


def erase(
    con: duckdb.DuckDBPyConnection,
    store: "Store",
    identifiers: Sequence[Identifier],
    export_folders: Sequence[Path],
) -> dict[str, Any]:
    """Delete everything of the person ``identifiers`` name, in ``con``'s transaction (a
    writer job), and rewrite the exported files that hold them; the receipt: counts only."""
    started = time.perf_counter()
    person = find_person(con, store, identifiers)
    needles = needles_of(person.values)
    rows: dict[str, int] = {}

    def deleted(table: str, where: str, params: Mapping[str, object] | None = None) -> None:
        found = con.execute(f"DELETE FROM {table} WHERE {where} RETURNING 1", params).fetchall()
        if found:
            rows[table] = rows.get(table, 0) + len(found)

    con.execute("CREATE OR REPLACE TEMP TABLE __kenning_erased_ids (profile_id BIGINT)")
    con.executemany(
        "INSERT INTO __kenning_erased_ids VALUES (?)", [[p] for p in person.profile_ids]
    )
    ids = "(SELECT profile_id FROM __kenning_erased_ids)"
    named_by_text, text_params = _mentions("payload", needles)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __kenning_erased_seqs AS
            SELECT seq FROM __kenning_event_profiles WHERE profile_id IN {ids}
            UNION SELECT seq FROM __kenning_events
            WHERE user_id = ANY($values) OR anonymous_id = ANY($values) OR {named_by_text}""",
        {"values": person.values, **text_params},
    )
    seqs = "(SELECT seq FROM __kenning_erased_seqs)"
    deleted("__kenning_events", f"seq IN {seqs}")
    deleted("__kenning_event_profiles", f"seq IN {seqs} OR profile_id IN {ids}")
    deleted("__kenning_quarantine", named_by_text, text_params)
    keys = sorted(person.keys)
    deleted(
        "__kenning_identifiers",
        f"profile_id IN {ids} OR type || ':' || value = ANY($keys)",
        {"keys": keys},
    )
    deleted("__kenning_profile_redirects", f"profile_id IN {ids} OR canonical_id IN {ids}")
    deleted(
        "__kenning_merges",
        f"kept IN {ids} OR merged IN {ids} OR list_has_any(identifiers, $keys)",
        {"keys": keys},
    )
    for table in _BY_PAIR:
        deleted(table, "a = ANY($keys) OR b = ANY($keys)", {"keys": keys})
    for table in _BY_PROFILE:
        deleted(table, f"profile_id IN {ids}")
    outbox_text, outbox_params = _mentions("payload::VARCHAR", needles)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __kenning_erased_deliveries AS
            SELECT id FROM __kenning_outbox WHERE profile_id IN {ids} OR {outbox_text}""",
        outbox_params,
    )
    deliveries = "(SELECT id FROM __kenning_erased_deliveries)"
    detail_text, detail_params = _mentions("detail", needles)
    deleted(
        "__kenning_delivery_attempts",
        f"delivery_id IN {deliveries} OR {detail_text}",
        detail_params,
    )
    response_text, response_params = _mentions("coalesce(response, '') || detail", needles)
    deleted(
        "__kenning_dead_letters", f"delivery_id IN {deliveries} OR {response_text}", response_params
    )
    deleted("__kenning_outbox", f"id IN {deliveries}")
    for name in ("ids", "seqs", "deliveries"):
        con.execute(f"DROP TABLE IF EXISTS __kenning_erased_{name}")

    # Nothing in memory may still know them: the stages read what is left.
    for stage in (store.identity, store.matching, store.documents):
        stage.load(con)
    files = rewrite_exports(export_folders, person.profile_ids, needles)
    left = find_traces(con, needles, export_folders)
    return {
        "profiles": len(person.profile_ids),
        "identifiers": len(person.keys),
        "rows": dict(sorted(rows.items())),
        "rows_deleted": sum(rows.values()),
        "files_rewritten": files.files,
        "file_rows_deleted": files.rows,
        "traces_left": len(left),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _mentions(column: str, needles: Sequence[str]) -> tuple[str, dict[str, object]]:
    """A condition true where ``column``'s text holds any needle (case-insensitively)."""
    if not needles:
        return "FALSE", {}
    params: dict[str, object] = {f"n{i}": needle.lower() for i, needle in enumerate(needles)}
    return (
        "(" + " OR ".join(f"contains(lower({column}), ${name})" for name in params) + ")",
        params,
    )


def receipt_json(receipt: dict[str, Any]) -> str:
    return orjson.dumps(receipt).decode()
