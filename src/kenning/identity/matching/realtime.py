"""Probabilistic matching in real time: a writer stage after stitching.

When a group of events creates a profile whose traits say enough (``min_fields``), its record
is compared at once with the known records it shares a blocking key with (see candidates.py),
by the model the last match run trained (see scorer.py), inside the group's transaction:

- one profile scoring at or above the match probability: the two merge, as a link decided by
  the model (logged with its score, undone by ``never-join`` like a batch merge);
- several profiles that high: nothing merges (one new record must not join two people who
  are apart), and each pair waits for review;
- a profile in the grey band: the pair waits for review.

Only profiles the group created are matched here; new traits on a known profile wait for the
next batch run. Nothing happens until a match run has trained a model; each run's model then
replaces the last. The known records are held in memory, a few hundred bytes each.
"""

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa

from kenning.identity import links
from kenning.identity.identifiers import Identifier
from kenning.identity.links import Link
from kenning.identity.matching import review
from kenning.identity.matching.features import RECORD_ID, REPRESENTATIVE, match_records_sql
from kenning.identity.matching.records import build_records
from kenning.identity.matching.settings import MatchSettings
from kenning.identity.stitching import IdentityStage
from kenning.store.writer import EventRow

if TYPE_CHECKING:
    from kenning.identity.matching.candidates import Block, BlockIndex, Keys
    from kenning.identity.matching.scorer import PairScorer

log = logging.getLogger(__name__)
# Records added since the index was last built, before it is rebuilt as a whole.
REBUILD_AFTER = 100_000


@dataclass(frozen=True)
class Outcome:
    """What real-time matching decided for one new record."""

    profile_id: int
    candidates: int
    merged_into: int | None
    queued: int


class _Known:
    """The known records, as the scorer reads them, and their block index."""

    def __init__(self, scorer: "PairScorer", index: "BlockIndex", records: pa.Table) -> None:
        self.scorer = scorer
        self.index = index
        # One chunk per column: pyarrow's take on a chunked column concatenates the chunks
        # first, which cost 16 ms per request on a million records (0.04 ms on one chunk).
        self.base = records.combine_chunks()
        self.added: list[pa.Table] = []
        self._added_starts: list[int] = []  # the position of each added table's first record
        self.size = records.num_rows

    def append(self, records: pa.Table) -> None:
        """Keep records numbered from ``size`` on."""
        self.added.append(records)
        self._added_starts.append(self.size)
        self.size += records.num_rows

    def fold(self) -> None:
        """The added records into the base table (see ``RealtimeMatching._consolidate``)."""
        self.base = pa.concat_tables([self.base, *self.added]).combine_chunks()
        self.added = []
        self._added_starts = []

    def table(self, rows: Sequence[int]) -> pa.Table:
        """The records at ``rows`` (ascending), each with its position as its record id."""
        if not rows:
            return self.base.slice(0, 0)
        base = [r for r in rows if r < self.base.num_rows]
        parts = [self.base.take(pa.array(base, pa.int64()))] if base else []
        # added records one small table at a time: concatenating them all would cost as much
        # as there are records added since the last fold, on every request
        for row in rows[len(base) :]:
            i = bisect.bisect_right(self._added_starts, row) - 1
            parts.append(self.added[i].slice(row - self._added_starts[i], 1))
        return pa.concat_tables(parts)


class RealtimeMatching:
    """The writer stage (see ``store.writer.Stage``)."""

    def __init__(self, identity: IdentityStage, settings: MatchSettings) -> None:
        self.identity = identity
        self.settings = settings
        self.run_id: int | None = None
        self.stale_model = False
        self.outcomes: list[Outcome] = []  # the last group's, for reports and tests
        self._known: _Known | None = None

    @property
    def active(self) -> bool:
        return self._known is not None

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read the latest model and every known record (at open, after a run or rebuild)."""
        self._known = None
        row = next(
            iter(
                con.execute(
                    "SELECT id, model FROM __kenning_match_runs WHERE model IS NOT NULL"
                    " ORDER BY id DESC LIMIT 1"
                ).fetchall()
            ),
            None,
        )
        if row is None or not self.settings.realtime:
            return
        # Splink takes a quarter of a second to import: only stores with a model pay it.
        from kenning.identity.matching.candidates import BlockIndex, blocks
        from kenning.identity.matching.model import FULL_NAME
        from kenning.identity.matching.run import exclusive_types
        from kenning.identity.matching.scorer import PairScorer, term_frequencies

        model: dict[str, Any] = orjson.loads(row[1])
        scorer = PairScorer(model)
        readable = {f.name for f in self.settings.fields} | {FULL_NAME}
        if not set(scorer.columns) <= readable:
            # the configuration no longer reads a field the model compares: the next run
            # trains a model for the new fields; until then nothing is matched in real time
            self.stale_model = True
            log.warning("real-time matching is off: the last match run compared other fields")
            return
        self.stale_model = False
        self.run_id = int(row[0])
        records = con.sql(
            match_records_sql(self.settings, exclusive_types(self.identity.rules))
        ).to_arrow_table()
        records = self._numbered(scorer, term_frequencies(records, scorer.tf_columns), 0)
        id_fields = [f.name for f in self.settings.fields if f.kind == "id"]
        known = _Known(scorer, BlockIndex(blocks(scorer.columns, id_fields)), records)
        known.index.build(self._keys(records, known.index.rules, probe=False))
        self._known = known

    @staticmethod
    def _numbered(scorer: "PairScorer", records: pa.Table, first: int) -> pa.Table:
        """What scoring reads, the representative, and positions as record ids."""
        prepared = scorer.prepare(records)
        if RECORD_ID in prepared.column_names:
            prepared = prepared.drop_columns([RECORD_ID])
        positions = pa.array(range(first, first + records.num_rows), pa.int64())
        return prepared.append_column(REPRESENTATIVE, records[REPRESENTATIVE]).add_column(
            0, RECORD_ID, positions
        )

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        self.outcomes = []
        known = self._known
        created = self.identity.created
        if known is None or not created:
            return
        graph = self.identity.graph
        by_seq = dict(rows)
        new_events = [
            (profile, by_seq[seq])
            for seq, profile in self.identity.resolved
            if profile in created and graph.identifiers_of(profile)
        ]
        records = self._records(new_events, known.base.schema)
        if records.num_rows == 0:
            return
        records = self._numbered(known.scorer, records, known.size)
        candidates = known.index.lookup(self._keys(records, known.index.rules, probe=True))
        left_ids = records[RECORD_ID].to_pylist()
        pairs = [
            (left, right)
            for left, found in zip(left_ids, candidates, strict=True)
            for right in found
        ]
        right = known.table(sorted({r for _, r in pairs}))
        scores = known.scorer.score(records, right, pairs)
        self._decide(con, records, right, scores, candidates, after_seq=rows[-1][0])
        known.index.add(self._keys(records, known.index.rules, probe=False), known.size)
        known.append(records)
        if known.index.pending >= REBUILD_AFTER:
            self._consolidate(known)

    @staticmethod
    def _keys(records: pa.Table, rules: Sequence["Block"], *, probe: bool) -> "Keys":
        from kenning.identity.matching.candidates import keys

        names = {name for rule in rules for name in (*rule.fields, *rule.probe)}
        # dates as day numbers: a typo can make a year Python's dates cannot hold
        columns = {
            name: (
                records[name].cast(pa.int32())
                if pa.types.is_date32(records[name].type)
                else records[name]
            ).to_pylist()
            for name in names
        }
        return keys(columns, rules, probe=probe)

    def _records(self, events: Sequence[tuple[int, EventRow]], schema: pa.Schema) -> pa.Table:
        """The new profiles' records (see records.py), in the known records' types."""
        built = build_records(
            self.settings,
            (
                (
                    profile,
                    row.source_id,
                    row.timestamp,
                    row.message if row.message is not None else orjson.loads(row.payload),
                )
                for profile, row in events
            ),
        )
        graph = self.identity.graph
        for record in built:
            # the oldest identifier: links are stored by identifier, which outlives profile ids
            held = graph.identifiers_of(record["profile_id"]).items()
            record[REPRESENTATIVE] = str(min(held, key=lambda item: (item[1], str(item[0])))[0])
        names = [f.name for f in self.settings.fields]
        return pa.table(
            {
                name: pa.array([r[name] for r in built], schema.field(name).type)
                for name in ["profile_id", *names, REPRESENTATIVE]
                if name in schema.names
            }
        )

    def _decide(
        self,
        con: duckdb.DuckDBPyConnection,
        records: pa.Table,
        right: pa.Table,
        scores: Sequence[tuple[int, int, float]],
        candidates: Sequence[Sequence[int]],
        *,
        after_seq: int,
    ) -> None:
        graph = self.identity.graph
        rep_of_right = dict(
            zip(right[RECORD_ID].to_pylist(), right[REPRESENTATIVE].to_pylist(), strict=True)
        )
        best: dict[int, dict[int, tuple[float, str]]] = {}  # new record -> profile -> score
        for left, right_id, probability in scores:
            if probability < self.settings.review_probability:
                continue
            rep = rep_of_right[right_id]
            profile = graph.profile_for(Identifier.parse(rep))
            if profile is None:
                continue
            per_profile = best.setdefault(left, {})
            if probability > per_profile.get(profile, (-1.0, ""))[0]:
                per_profile[profile] = (probability, rep)
        run_id = self.run_id
        to_link: list[Link] = []
        to_queue: list[review.Queued] = []
        chosen: list[tuple[int, Identifier, Identifier | None, int, int]] = []
        for record_id, representative, profile_id, found in zip(
            records[RECORD_ID].to_pylist(),
            records[REPRESENTATIVE].to_pylist(),
            records["profile_id"].to_pylist(),
            candidates,
            strict=True,
        ):
            me = Identifier.parse(representative)
            current = graph.profile_for(me)
            scored = {p: v for p, v in best.get(record_id, {}).items() if p != current}
            strong = {p: v for p, v in scored.items() if v[0] >= self.settings.match_probability}
            partner = None
            if len(strong) == 1:
                ((probability, rep),) = strong.values()
                partner = Identifier.parse(rep)
                to_link.append(Link(me, partner, probability, links.BY_MODEL, run_id))
            # several strong matches: one new record must not join people who are apart
            doubtful = [
                review.Queued(
                    me,
                    Identifier.parse(rep),
                    probability,
                    "several profiles match" if len(strong) > 1 else "grey band",
                )
                for profile, (probability, rep) in scored.items()
                if len(strong) > 1 or profile not in strong
            ]
            to_queue += doubtful
            chosen.append((profile_id, me, partner, len(found), len(doubtful)))
        if to_link:
            # the new records' profiles were created in this group: nothing points at them
            identity = self.identity
            identity.link(con, to_link, after_seq=after_seq, untargeted=identity.unmerged_into)
        if to_queue and run_id is not None:
            review.queue(con, to_queue, run_id)
        for profile_id, me, partner, found_count, queued in chosen:
            joined = partner is not None and graph.profile_for(me) == graph.profile_for(partner)
            self.outcomes.append(
                Outcome(profile_id, found_count, graph.profile_for(me) if joined else None, queued)
            )

    def _consolidate(self, known: _Known) -> None:
        """Fold the records added since the last build into the arrays."""
        known.fold()
        known.index.build(self._keys(known.base, known.index.rules, probe=False))
