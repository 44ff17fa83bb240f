"""Reading a profile: found by any identifier, its state combined over the profiles merged into
it, shaped for the Profile API and the CLI."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

from kenning.identity.identifiers import Identifier, normalise
from kenning.ingest.mapping import set_path
from kenning.predictions.scores import person_scores
from kenning.profiles.computed.read import computed_traits
from kenning.profiles.rows import Part, PersonRows, person_rows, profile_ids, winners
from kenning.profiles.understanding import profile_understanding

if TYPE_CHECKING:  # the store runs the profile stage
    from kenning.store.store import Store

PROFILE_ID = "profile_id"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ProfileLookupError(ValueError):
    """The text names no identifier (``TYPE:VALUE``)."""


def find_profile(store: "Store", text: str) -> int | None:
    """The current profile of ``TYPE:VALUE`` (any identifier type, or ``profile_id:N``, an id
    merged away leading to the profile that holds it now); None if unknown."""
    try:
        identifier = Identifier.parse(text)
    except ValueError as error:
        raise ProfileLookupError(str(error)) from None
    graph = store.identity.graph
    if identifier.type == PROFILE_ID:
        try:
            profile_id = int(identifier.value)
        except ValueError:
            raise ProfileLookupError(f"{identifier.value!r} is not a profile id") from None
        if graph.identifiers_of(profile_id):
            return profile_id
        with store.reader() as con:
            rows = con.execute(
                "SELECT canonical_id FROM __kenning_profile_redirects WHERE profile_id = ?",
                [profile_id],
            ).fetchall()
        return int(rows[0][0]) if rows else None
    value = normalise(identifier.type, identifier.value, store.identity.rules)
    return graph.profile_for(Identifier(identifier.type, value)) if value else None


@dataclass(frozen=True)
class Stated:
    """A trait's or a consent category's winning value, with where and when it was stated."""

    value: Any
    source: str
    observed_at: datetime


def source_names(store: "Store") -> dict[str, str]:
    """Source id -> name, from the store's memory: a join with the sources table in a
    profile's read cost more than the read (1.4 ms a query on 1M profiles)."""
    return {source.id: source.name for source in store.sources.list()}


def _stated_at(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def traits(rows: PersonRows, names: Mapping[str, str]) -> dict[str, Stated]:
    """Each trait path's winning value. ``names``: source id -> name."""
    return {
        trait: Stated(orjson.loads(value), names.get(source, source), _stated_at(at))
        for trait, (_, value, source, at, _, _) in winners(rows.traits).items()
    }


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted paths back into objects: ``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        set_path(nested, path, value)
    return nested


def consent(rows: PersonRows, names: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Each category's current choice, with when and where it was made."""
    return {
        category: {
            "granted": bool(granted),
            "source": names.get(source, source),
            "at": _stated_at(at).isoformat(),
        }
        for category, (_, granted, source, at, _, _) in winners(rows.consent).items()
    }


def consent_view(store: "Store", profile_id: int) -> dict[str, Any]:
    """A person's consent as the API shows it: each category's current choice, and every
    change (oldest first)."""
    with store.reader() as con:
        ids = profile_ids(con, profile_id)
        return {
            "profile_id": profile_id,
            "consent": consent(person_rows(con, ids, (Part.CONSENT,)), source_names(store)),
            "history": consent_history(con, ids),
        }


def consent_history(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Every change of a consent choice, oldest first (a repeated choice is no change)."""
    rows = con.execute(
        """SELECT category, granted, name, observed_at, seq FROM (
               SELECT l.category, l.granted, coalesce(s.name, l.source_id) AS name,
                      l.observed_at, l.seq,
                      lag(l.granted) OVER (PARTITION BY l.category
                                           ORDER BY l.observed_at, l.seq) AS before
               FROM __kenning_consent_log l LEFT JOIN __kenning_sources s ON s.id = l.source_id
               WHERE l.profile_id = ANY(?))
           WHERE before IS DISTINCT FROM granted
           ORDER BY observed_at, seq, category""",
        [list(ids)],
    ).fetchall()
    return [
        {"category": c, "granted": bool(g), "source": str(n), "at": at.isoformat()}
        for c, g, n, at, _ in rows
    ]


def trait_view(found: dict[str, Stated]) -> dict[str, Any]:
    """Traits as the API shows them: nested values, and each path's source and time."""
    return {
        "traits": nest({path: t.value for path, t in found.items()}),
        "trait_sources": {
            path: {"source": t.source, "at": t.observed_at.isoformat()} for path, t in found.items()
        },
    }


def identities(store: "Store", profile_id: int) -> list[dict[str, Any]]:
    """The profile's identifiers, oldest first."""
    held = store.identity.graph.identifiers_of(profile_id)
    return [
        {"type": i.type, "value": i.value, "first_seen": seen.isoformat()}
        for i, seen in sorted(held.items(), key=lambda item: (item[1], str(item[0])))
    ]


def person(
    store: "Store", con: duckdb.DuckDBPyConnection, profile_id: int
) -> tuple[list[int], PersonRows]:
    """The profile ids and state rows of the person whose profile is ``profile_id``: from
    their document when they have one, else from the state tables."""
    found = store.documents.read(con, profile_id)
    if found is not None:
        return found
    ids = profile_ids(con, profile_id)
    return ids, person_rows(con, ids, plan=store.tail_plan())


def profile(store: "Store", profile_id: int) -> dict[str, Any]:
    """The profile as the API returns it."""
    with store.reader() as con:
        ids, rows = person(store, con, profile_id)
        predictions = person_scores(con, ids)
    names = source_names(store)
    found = traits(rows, names)
    computed = computed_traits(rows, store.computed.shown.values())
    return {
        "profile_id": profile_id,
        **trait_view(found),
        "computed_traits": computed,
        "predictions": predictions,
        "identities": identities(store, profile_id),
        "consent": consent(rows, names),
        "merged_ids": ids[1:],
        "understanding": profile_understanding(store, profile_id, found, computed),
    }


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def events(
    con: duckdb.DuckDBPyConnection,
    ids: Sequence[int],
    *,
    limit: int = 50,
    cursor: str | None = None,
    event: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page:
    """The profile's timeline, newest first (by time, then log order): its events and its
    ``Audience Entered``/``Audience Exited`` changes, the latter as track messages Kenning
    wrote (``context.kenning.derived``). The cursor is opaque to callers: the position after
    the last item of the previous page (a change's position is minus its id)."""
    where = ["true"]
    params: list[Any] = [list(ids), list(ids)]
    if cursor is not None:
        try:
            micros, seq = (int(part) for part in cursor.split(".", 1))
        except ValueError:
            raise CursorError("cursor is not one this API gave") from None
        where.append("(micros, seq) < (?, ?)")
        params += [micros, seq]
    if event is not None:
        where.append("event = ?")
        params.append(event)
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if until is not None:
        where.append("at < ?")
        params.append(until)
    rows = con.execute(
        f"""SELECT seq, micros, payload FROM (
                SELECT e.seq, epoch_us(e.timestamp) AS micros, e.timestamp AS at, e.event,
                       e.payload
                FROM __kenning_events e JOIN __kenning_event_profiles p USING (seq)
                WHERE p.profile_id = ANY(?)
                UNION ALL
                SELECT -c.id, epoch_us(c.changed_at), c.changed_at,
                       {_CHANGE_EVENT}, {_CHANGE_MESSAGE}
                FROM __kenning_audience_changes c
                WHERE c.profile_id = ANY(?) AND NOT contains(c.audience, ':'))
            WHERE {" AND ".join(where)}
            ORDER BY micros DESC, seq DESC LIMIT ?""",
        [*params, limit + 1],
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        [orjson.loads(payload) for _, _, payload in rows],
        f"{rows[-1][1]}.{rows[-1][0]}" if more else None,
    )


_CHANGE_EVENT = "CASE c.change WHEN 'entered' THEN 'Audience Entered' ELSE 'Audience Exited' END"
_CHANGE_MESSAGE = f"""json_object(
    'type', 'track', 'event', {_CHANGE_EVENT},
    'messageId', 'audience-change-' || c.id,
    'timestamp', strftime(make_timestamp(epoch_us(c.changed_at)), '%Y-%m-%dT%H:%M:%S.%fZ'),
    'properties', json_object('audience', c.audience, 'cause', c.cause),
    'context', json_object('kenning', json_object('derived', true)))::VARCHAR"""


def search(
    con: duckdb.DuckDBPyConnection,
    filters: dict[str, str],
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Profiles whose current trait values equal ``filters`` (trait path -> value as text),
    by profile id; the cursor is the last id of the previous page."""
    after = 0
    if cursor is not None:
        try:
            after = int(cursor)
        except ValueError:
            raise CursorError("cursor is not one this API gave") from None
    conditions = []
    params: list[Any] = []
    for trait, value in filters.items():
        conditions.append(
            """profile_id IN (SELECT profile_id FROM kenning_profile_traits
                              WHERE trait = ? AND json_extract_string(value, '$') = ?)"""
        )
        params += [trait, value]
    where = " AND ".join(conditions) if conditions else "true"
    rows = con.execute(
        f"""SELECT DISTINCT profile_id FROM kenning_profile_traits
            WHERE profile_id > ? AND {where} ORDER BY profile_id LIMIT ?""",
        [after, *params, limit + 1],
    ).fetchall()
    more = len(rows) > limit
    found = [int(p) for (p,) in rows[:limit]]
    return Page([{"profile_id": p} for p in found], str(found[-1]) if more else None)
