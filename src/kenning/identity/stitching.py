"""Real-time stitching: the writer runs this stage on every group of newly stored events, inside
the group's transaction, so an acknowledged event is already resolved to a profile.

Identifiers are read as a rebuild from the log reads them: from the stored payload, or, when
the log says the payload holds nothing beyond its userId and anonymousId, from the event's two
id columns (``row_identifiers``; property tests hold both readings to the payload's), so live
state and a rebuild agree.
"""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kenning.identity import links as link_table
from kenning.identity.graph import (
    RULE_ALIAS,
    RULE_SHARED_IDENTIFIER,
    GraphColumns,
    IdentityGraph,
    Merge,
)
from kenning.identity.identifiers import (
    Identifier,
    extract_identifiers,
    id_identifiers,
    other_identifiers_hint_applies,
)
from kenning.identity.links import Link
from kenning.identity.overrides import Override, OverrideIndex
from kenning.identity.overrides import load as load_overrides
from kenning.identity.rules import IdentityRules
from kenning.store.rows import insert_rows
from kenning.store.writer import EventRow

# Up to this many merges in a group, the redirects are repointed with lists bound to one UPDATE;
# more, through a registered table and a join.
_FEW_MERGES = 8

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RebuiltProfiles:
    """The profiles a rebuild changed: every profile id that an event was stitched to before
    it and is not after, or is after and was not before, in the temporary table ``table``
    (one column, ``profile_id``). The state of every other profile stands as it was."""

    table: str
    profiles: int

    def hold(self, column: str) -> str:
        """SQL: the profile id in ``column`` is one of them."""
        return f"{column} IN (SELECT profile_id FROM {self.table})"


def message_identifiers(message: dict[str, Any], rules: IdentityRules) -> list[Identifier]:
    identifiers = extract_identifiers(message, rules)
    if message.get("type") == "alias":
        # previousId is the identity being aliased: usually an anonymousId.
        previous = message.get("previousId")
        if isinstance(previous, str | int) and not isinstance(previous, bool):
            extra = extract_identifiers({"anonymousId": previous}, rules)
            identifiers += [i for i in extra if i not in identifiers]
    return identifiers


def row_identifiers(row: EventRow, rules: IdentityRules) -> list[Identifier]:
    """An event's identifiers as ``message_identifiers`` reads them from its payload: from its
    two id columns alone when the payload holds no other (``EventRow.other_identifiers``) and
    no custom path is read (two-thirds of the synthetic brand's events, under rules without
    custom paths)."""
    if row.other_identifiers is False and other_identifiers_hint_applies(rules):
        return id_identifiers(row.user_id, row.anonymous_id, rules)
    message = row.message if row.message is not None else orjson.loads(row.payload)
    return message_identifiers(message, rules)


class _Changes:
    """What one group's stitching must write, column by column."""

    def __init__(self) -> None:
        self.event_seqs: list[int] = []
        self.event_profiles: list[int] = []
        self.identifiers: list[tuple[Identifier, int, str, datetime, int]] = []
        self.merges: list[tuple[int, int, Merge]] = []  # (merge id, seq, merge)


class IdentityStage:
    """Owns the in-memory identity graph of a store and keeps its tables in step with it."""

    def __init__(self, rules: IdentityRules) -> None:
        self.rules = rules
        self.overrides: list[Override] = []
        self.graph = IdentityGraph(rules)
        self._next_merge_id = 1
        # Handed out here rather than read from the table on each insert: a max() over the
        # links cost a real-time match 0.8 ms (the writer is their only writer).
        self._next_link_id = 1
        # What the last group resolved, for the stages after this one: (seq, profile) of each
        # stitched event, and the profiles the group created.
        self.resolved: list[tuple[int, int]] = []
        self.created: set[int] = set()
        # Of those, the ones no other profile was merged into: nothing redirects to them yet,
        # so merging them away needs no repointing of redirects (see write_merges).
        self.unmerged_into: frozenset[int] = frozenset()
        # State keyed by stitching-time profile ids (profile traits, ...) recomputes itself
        # after a rebuild renumbers the events: called in the rebuild's transaction, with the
        # profiles whose events changed (None: most did, or everything is to be recomputed).
        self.on_rebuilt: list[
            Callable[[duckdb.DuckDBPyConnection, RebuiltProfiles | None], object]
        ] = []
        # Told of the merges each transaction makes (stitching, match runs), in it.
        self.on_merged: list[Callable[[duckdb.DuckDBPyConnection, Sequence[Merge]], object]] = []

    def fresh_graph(self) -> IdentityGraph:
        """An empty graph under the stage's rules and overrides."""
        return IdentityGraph(self.rules, overrides=OverrideIndex(self.overrides))

    def load(
        self,
        con: duckdb.DuckDBPyConnection,
        identifiers: GraphColumns | None = None,
    ) -> None:
        """Read the graph from the store (at open, and after a failed transaction).

        ``identifiers`` are the store's identifiers when the caller holds them already (a bulk
        replay that just wrote them): reading them back costs a large rebuild a second.
        """
        self.load_overrides(con)
        self.graph = self.fresh_graph()
        if identifiers is None:
            # Times as microseconds: DuckDB's conversion of each TIMESTAMPTZ to a datetime
            # costs more than the rest of loading a large graph.
            rows = con.execute(
                """SELECT type || ':' || value, profile_id, epoch_us(first_seen)
                   FROM kenning_identifiers"""
            ).fetchall()
            identifiers = GraphColumns(
                [key for key, _, _ in rows],
                [profile for _, profile, _ in rows],
                [_EPOCH + timedelta(microseconds=us) for _, _, us in rows],
            )
        self.graph.load(identifiers)
        self.graph.next_profile_id = max(self.graph.next_profile_id, highest_profile_id(con) + 1)
        row = con.execute("SELECT coalesce(max(id), 0) FROM __kenning_merges").fetchone()
        self._next_merge_id = (int(row[0]) if row else 0) + 1
        self._next_link_id = link_table.next_id(con)

    def load_overrides(self, con: duckdb.DuckDBPyConnection) -> None:
        self.overrides = load_overrides(con)

    def reset(self) -> None:
        """Start from an empty graph (a rebuild replays the log into it)."""
        self.graph = self.fresh_graph()
        self._next_merge_id = 1

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        """Stitch newly stored events (in log order) and write what changed."""
        changes = _Changes()
        self.created = set()
        for seq, row in rows:
            identifiers = row_identifiers(row, self.rules)
            rule = RULE_ALIAS if row.type == "alias" else RULE_SHARED_IDENTIFIER
            resolution = self.graph.resolve(identifiers, row.timestamp, rule=rule)
            if resolution is None:
                continue  # no usable identifier (e.g. only blocked values): not stitched
            changes.event_seqs.append(seq)
            changes.event_profiles.append(resolution.profile_id)
            if resolution.new_profile:
                self.created.add(resolution.profile_id)
            for added in resolution.added:
                changes.identifiers.append(
                    (added.identifier, added.profile_id, row.source_id, added.first_seen, seq)
                )
            for merge in resolution.merges:
                changes.merges.append((self._next_merge_id, seq, merge))
                self._next_merge_id += 1
        self.resolved = list(zip(changes.event_seqs, changes.event_profiles, strict=True))
        self.unmerged_into = frozenset(self.created - {m.kept for _, _, m in changes.merges})
        # nothing can point at a profile created in this group before its first merges
        write_changes(con, changes, untargeted=self.created)
        if changes.merges:
            self._merged(con, [merge for _, _, merge in changes.merges])

    def link(
        self,
        con: duckdb.DuckDBPyConnection,
        made: Sequence[Link],
        *,
        after_seq: int | None = None,
        untargeted: Collection[int] = (),
    ) -> list[Merge | str]:
        """Record links made now (after event ``after_seq``, by default the last stored) and
        join the profiles each names: for each, its merge or why it was not made.
        ``untargeted``: profiles known to have had nothing merged into them (see
        ``write_merges``)."""
        stored = self.record_links(con, made, after_seq=after_seq)
        return self.apply_links(con, stored, untargeted=untargeted)

    def record_links(
        self,
        con: duckdb.DuckDBPyConnection,
        made: Sequence[Link],
        *,
        after_seq: int | None = None,
    ) -> list[Link]:
        """Record links made now (see ``link``), numbered by the stage, without joining
        anything yet; returns them with their ids."""
        stored = link_table.insert(con, made, first_id=self._next_link_id, after_seq=after_seq)
        self._next_link_id += len(stored)
        return stored

    def apply_links(
        self,
        con: duckdb.DuckDBPyConnection,
        links: Sequence[Link],
        *,
        untargeted: Collection[int] = (),
    ) -> list[Merge | str]:
        """Join the profiles each link names (in order) and write the merges: for each link,
        its merge or why it was not made."""
        outcomes: list[Merge | str] = []
        merges: list[tuple[int, int | None, Merge]] = []
        for link in links:
            outcome = self.graph.join(link.a, link.b, rule=link.rule, score=link.probability)
            outcomes.append(outcome)
            if isinstance(outcome, Merge):
                merges.append((self._next_merge_id, None, outcome))
                self._next_merge_id += 1
        if merges:
            write_merges(con, merges, untargeted=untargeted)
            self._merged(con, [merge for _, _, merge in merges])
        return outcomes

    def _merged(self, con: duckdb.DuckDBPyConnection, merges: Sequence[Merge]) -> None:
        for listener in self.on_merged:
            listener(con, merges)


def highest_profile_id(con: duckdb.DuckDBPyConnection) -> int:
    """The highest profile id ever handed out: ids are never reused for someone else."""
    row = con.execute(
        """SELECT greatest(
               (SELECT coalesce(max(profile_id), 0) FROM __kenning_identifiers),
               (SELECT coalesce(max(profile_id), 0) FROM __kenning_event_profiles),
               (SELECT coalesce(max(greatest(profile_id, canonical_id)), 0)
                FROM __kenning_profile_redirects),
               (SELECT coalesce(max(greatest(kept, merged)), 0) FROM __kenning_merges),
               (SELECT coalesce(max(highest), 0) FROM __kenning_profile_ids))"""
    ).fetchone()
    return int(row[0]) if row else 0


def remember_highest_profile_id(con: duckdb.DuckDBPyConnection, highest: int) -> None:
    """Keep ``highest`` as handed out, whether or not any table still names it."""
    con.execute("UPDATE __kenning_profile_ids SET highest = greatest(highest, ?)", [highest])


def write_changes(
    con: duckdb.DuckDBPyConnection, changes: _Changes, *, untargeted: Collection[int] = ()
) -> None:
    if changes.identifiers:
        added = changes.identifiers
        insert_rows(
            con,
            "__kenning_identifiers",
            pa.table(
                {
                    "type": [r[0].type for r in added],
                    "value": [r[0].value for r in added],
                    "profile_id": pa.array([r[1] for r in added], pa.int64()),
                    "source_id": [r[2] for r in added],
                    "first_seen": pa.array([r[3] for r in added], _TIMESTAMP),
                    "first_seq": pa.array([r[4] for r in added], pa.int64()),
                }
            ),
        )
    if changes.event_seqs:
        insert_rows(
            con,
            "__kenning_event_profiles",
            pa.table(
                {
                    "seq": pa.array(changes.event_seqs, pa.int64()),
                    "profile_id": pa.array(changes.event_profiles, pa.int64()),
                }
            ),
        )
    if changes.merges:
        write_merges(con, changes.merges, untargeted=untargeted)


def write_merges(
    con: duckdb.DuckDBPyConnection,
    merges: Sequence[tuple[int, int | None, Merge]],
    *,
    untargeted: Collection[int] = (),
) -> None:
    """Log the merges and redirect each merged-away profile to where it ends. Profiles that
    pointed at a merged-away one are repointed too, except for those in ``untargeted``, which
    the caller knows nothing points at (profiles created in the group and merged into by no
    other): that repointing is a statement, about 0.9 ms of a real-time merge."""
    now = datetime.now(UTC)
    insert_rows(
        con,
        "__kenning_merges",
        pa.table(
            {
                "id": pa.array([m[0] for m in merges], pa.int64()),
                "merged_at": pa.array([now] * len(merges), _TIMESTAMP),
                "seq": pa.array([m[1] for m in merges], pa.int64()),
                "kept": pa.array([m[2].kept for m in merges], pa.int64()),
                "merged": pa.array([m[2].merged for m in merges], pa.int64()),
                "identifiers": pa.array(
                    [[str(i) for i in m[2].identifiers] for m in merges],
                    pa.list_(pa.string()),
                ),
                "rule": [m[2].rule for m in merges],
                "score": pa.array([m[2].score for m in merges], pa.float64()),
            }
        ),
    )
    # Follow chains within the group (A into B, then B into C): A ends in C.
    final: dict[int, int] = {m[2].merged: m[2].kept for m in merges}
    for merged in list(final):
        target = final[merged]
        while target in final:
            target = final[target]
        final[merged] = target
    redirects = pa.table(
        {
            "merged": pa.array(list(final), pa.int64()),
            "kept": pa.array(list(final.values()), pa.int64()),
        }
    )
    repoint = {merged: kept for merged, kept in final.items() if merged not in untargeted}
    if 0 < len(repoint) <= _FEW_MERGES:
        # Profiles that pointed at an absorbed one now point at its final home (no target is
        # itself absorbed, so one pass over the table does it).
        con.execute(
            """UPDATE __kenning_profile_redirects
               SET canonical_id = list_extract($2::BIGINT[], list_position($1::BIGINT[],
                                                                          canonical_id))
               WHERE list_contains($1::BIGINT[], canonical_id)""",
            [list(repoint), list(repoint.values())],
        )
    elif repoint:
        con.register(
            "__kenning_incoming",
            pa.table(
                {
                    "merged": pa.array(list(repoint), pa.int64()),
                    "kept": pa.array(list(repoint.values()), pa.int64()),
                }
            ),
        )
        try:
            # Profiles that pointed at an absorbed one now point at its final home.
            con.execute(
                """UPDATE __kenning_profile_redirects SET canonical_id = m.kept
                   FROM __kenning_incoming m
                   WHERE __kenning_profile_redirects.canonical_id = m.merged"""
            )
        finally:
            con.unregister("__kenning_incoming")
    insert_rows(con, "__kenning_profile_redirects", redirects)
