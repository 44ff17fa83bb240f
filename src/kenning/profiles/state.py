"""Profile state: each person's traits and consent, kept in the ingest transaction.

Rows are keyed by the profile an event was stitched to, as ``__kenning_event_profiles`` is, so a
merge costs nothing here: a profile's state is its rows and those of every profile merged into
it (the redirects), combined when read, per trait the value that wins. A rebuild of the graph
renumbers events, so it recomputes the state from the log (``recompute``), as does
``kenning profile recompute`` after a change of source priority.

Which value wins: the one from the higher-priority source (``profiles.source_priority``, none by
default), then the newest by event time, then the later in the log.
"""

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kenning.identity.stitching import IdentityStage, RebuiltProfiles
from kenning.profiles.computed.definitions import DefinitionError, TraitDefinition, parse_all
from kenning.profiles.observations import observe
from kenning.profiles.understanding import UnderstandingRules
from kenning.store.rows import insert_rows
from kenning.store.writer import EventRow

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_SEQ_WINDOW = 100_000  # log events read per query by recompute
# Payloads without these words state no trait and no consent: skipped without parsing.
_TRAITS, _CONSENT = b'"traits"', b'"consent"'


@dataclass(frozen=True)
class ProfileSettings:
    """``source_priority``: source names, most trusted first; their values win over newer
    values from sources listed later or not at all. ``computed_traits``: definitions added to
    the built-ins (see profiles/computed/definitions.py); ``builtin_traits: false`` leaves the
    built-ins out. ``window_refresh_minutes``: how often a server recomputes the windowed
    computed traits. ``understanding``: the rules of the customer-understanding levels (see
    profiles/understanding.py)."""

    source_priority: tuple[str, ...] = ()
    computed_traits: tuple[TraitDefinition, ...] = ()
    builtin_traits: bool = True
    window_refresh_minutes: float = 60.0
    understanding: UnderstandingRules = field(default_factory=UnderstandingRules)

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "ProfileSettings":
        keys = {
            "source_priority",
            "computed_traits",
            "builtin_traits",
            "window_refresh_minutes",
            "understanding",
        }
        unknown = sorted(set(section) - keys)
        if unknown:
            raise ValueError(f"profiles: unknown keys {', '.join(unknown)}")
        priority = section.get("source_priority") or []
        if not isinstance(priority, list) or not all(isinstance(s, str) for s in priority):
            raise ValueError("profiles.source_priority must be a list of source names")
        try:
            computed = parse_all(
                section.get("computed_traits"), "config", "profiles.computed_traits"
            )
        except DefinitionError as error:
            raise ValueError(f"{error.field}: {error}") from None
        refresh = section.get("window_refresh_minutes", 60.0)
        if isinstance(refresh, bool) or not isinstance(refresh, int | float) or refresh <= 0:
            raise ValueError("profiles.window_refresh_minutes must be a positive number")
        builtin = section.get("builtin_traits", True)
        if not isinstance(builtin, bool):
            raise ValueError("profiles.builtin_traits must be true or false")
        understanding = UnderstandingRules.from_config(section.get("understanding") or {})
        return cls(tuple(priority), computed, builtin, float(refresh), understanding)


@dataclass(frozen=True, slots=True)
class _Stated:
    profile_id: int
    key: str  # a trait path or a consent category
    value: Any
    at: datetime
    source_id: str
    seq: int
    rank: int

    def wins_over(self, other: "_Stated") -> bool:
        return (self.rank, self.at, self.seq) > (other.rank, other.at, other.seq)


class ProfileStage:
    """The writer stage after stitching: records what each new event states about its person."""

    def __init__(self, identity: IdentityStage, settings: ProfileSettings) -> None:
        self.identity = identity
        self.settings = settings
        self._rank_of_source: dict[str, int] = {}
        self._sources: set[str] = set()  # the source ids known at the last load
        # Told, in the transaction, when everyone's state was recomputed.
        self.on_recomputed: list[Callable[[duckdb.DuckDBPyConnection], object]] = []

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        sources = con.execute("SELECT id, name FROM __kenning_sources").fetchall()
        self._sources = {str(source_id) for source_id, _ in sources}
        names = {
            name: len(self.settings.source_priority) - i
            for i, name in enumerate(self.settings.source_priority)
        }
        self._rank_of_source = {
            str(source_id): names[str(name)] for source_id, name in sources if name in names
        }

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        profile_of = dict(self.identity.resolved)
        if self.settings.source_priority and any(r.source_id not in self._sources for _, r in rows):
            self.load(con)  # a source created since the last load may be a trusted one
        write(
            con,
            self._statements(
                (seq, profile_of[seq], row.source_id, row.timestamp, row.message, row.payload)
                for seq, row in rows
                if seq in profile_of
            ),
            fresh=self.identity.created,
        )

    def recompute(self, con: duckdb.DuckDBPyConnection, only: RebuiltProfiles | None = None) -> int:
        """Rebuild the state from the log (inside the caller's transaction), of every profile
        or ``only`` of those a rebuild changed; returns the events that stated something."""
        if only is not None and not only.profiles:
            return 0  # a rebuild that moved no event changed nobody's state
        self.load(con)
        for table in ("__kenning_profile_traits", "__kenning_consent", "__kenning_consent_log"):
            con.execute(f"DELETE FROM {table} WHERE {only.hold('profile_id') if only else 'true'}")
        stitched = only.hold("p.profile_id") if only else "true"
        row = con.execute("SELECT coalesce(max(seq), 0) FROM __kenning_events").fetchone()
        highest = int(row[0]) if row else 0
        stating = 0
        # By windows of seq, each scan pruned to the window's row groups; "the next chunk after
        # the last seq" (ORDER BY seq LIMIT, after the join) scanned the rest of the log each
        # time: quadratic, most of a rebuild's time at millions of events.
        for first in range(1, highest + 1, _SEQ_WINDOW):
            batch = con.execute(
                f"""SELECT e.seq, p.profile_id, e.source_id, e.timestamp, e.payload
                   FROM __kenning_events e JOIN __kenning_event_profiles p USING (seq)
                   WHERE e.seq BETWEEN ? AND ? AND {stitched}
                     AND (e.payload LIKE '%"traits"%' OR e.payload LIKE '%"consent"%')""",
                [first, first + _SEQ_WINDOW - 1],
            ).fetchall()
            stated = self._statements(
                (int(seq), int(profile), str(source), at, None, payload.encode())
                for seq, profile, source, at, payload in batch
            )
            stating += len({s.seq for s in stated.traits} | {s.seq for s in stated.consent})
            write(con, stated)
        for listener in self.on_recomputed:
            listener(con)
        return stating

    def _statements(
        self, events: Iterable[tuple[int, int, str, datetime, dict[str, Any] | None, bytes]]
    ) -> "_Statements":
        result = _Statements()
        for seq, profile_id, source_id, at, message, payload in events:
            if message is None:
                # Two tests, not any() over a tuple: its generator cost more than the search.
                if _TRAITS not in payload and _CONSENT not in payload:
                    continue
                message = orjson.loads(payload)
            observed = observe(message)
            rank = self._rank_of_source.get(source_id, 0)
            for key, value in observed.traits.items():
                result.traits.append(_Stated(profile_id, key, value, at, source_id, seq, rank))
            for key, granted in observed.consent.items():
                result.consent.append(_Stated(profile_id, key, granted, at, source_id, seq, rank))
        return result


@dataclass
class _Statements:
    traits: list[_Stated] = field(default_factory=list)
    consent: list[_Stated] = field(default_factory=list)


def _newest(stated: list[_Stated]) -> list[_Stated]:
    best: dict[tuple[int, str], _Stated] = {}
    for s in stated:
        current = best.get((s.profile_id, s.key))
        if current is None or s.wins_over(current):
            best[(s.profile_id, s.key)] = s
    return list(best.values())


def write(
    con: duckdb.DuckDBPyConnection, stated: _Statements, *, fresh: Collection[int] = ()
) -> None:
    """Keep each (profile, key)'s winning statement, and every consent choice in the log.
    ``fresh`` are profiles this transaction created: they have no rows yet, so theirs are
    inserted plainly (an upsert's ON CONFLICT costs DuckDB 3 ms more a statement, most of a
    new person's identify call)."""
    if stated.traits:
        _upsert(con, "__kenning_profile_traits", ("trait", "value"), _newest(stated.traits), fresh)
    if stated.consent:
        _upsert(con, "__kenning_consent", ("category", "granted"), _newest(stated.consent), fresh)
        insert_rows(
            con,
            "__kenning_consent_log",
            pa.table(
                {
                    "seq": pa.array([s.seq for s in stated.consent], pa.int64()),
                    "profile_id": pa.array([s.profile_id for s in stated.consent], pa.int64()),
                    "category": [s.key for s in stated.consent],
                    "granted": pa.array([bool(s.value) for s in stated.consent], pa.bool_()),
                    "observed_at": pa.array([s.at for s in stated.consent], _TIMESTAMP),
                    "source_id": [s.source_id for s in stated.consent],
                }
            ),
        )


def _upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[str, str],
    stated: list[_Stated],
    fresh: Collection[int],
) -> None:
    """Insert each statement, or replace the row it wins over: the winner as read wins here.
    Statements about ``fresh`` profiles (no row yet) are only inserted."""
    new = [s for s in stated if s.profile_id in fresh] if fresh else []
    if new:
        _insert(con, table, columns, new)
        stated = [s for s in stated if s.profile_id not in fresh]
    if stated:
        _insert(con, table, columns, stated, upsert=True)


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[str, str],
    stated: list[_Stated],
    *,
    upsert: bool = False,
) -> None:
    key, value = columns
    values = (  # a trait's value is any JSON; a consent choice a boolean
        pa.array([orjson.dumps(s.value).decode() for s in stated], pa.string())
        if value == "value"
        else pa.array([bool(s.value) for s in stated], pa.bool_())
    )
    insert_rows(
        con,
        table,
        pa.table(
            {
                "profile_id": pa.array([s.profile_id for s in stated], pa.int64()),
                key: [s.key for s in stated],
                value: values,
                "observed_at": pa.array([s.at for s in stated], _TIMESTAMP),
                "source_id": [s.source_id for s in stated],
                "seq": pa.array([s.seq for s in stated], pa.int64()),
                "rank": pa.array([s.rank for s in stated], pa.int16()),
            }
        ),
        on_conflict=f"""ON CONFLICT (profile_id, {key}) DO UPDATE SET
                {value} = excluded.{value}, observed_at = excluded.observed_at,
                source_id = excluded.source_id, seq = excluded.seq, rank = excluded.rank
            WHERE (excluded.rank, excluded.observed_at, excluded.seq)
                > ({table}.rank, {table}.observed_at, {table}.seq)"""
        if upsert
        else "",
    )
