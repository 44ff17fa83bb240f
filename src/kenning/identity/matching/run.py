"""A match run: read the records, score pairs with the model, decide, and apply in one
transaction: merges become links and join their profiles, doubtful pairs join the review
queue, and the run is recorded with the model it used.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from kenning.identity import links
from kenning.identity.graph import Merge
from kenning.identity.identifiers import Identifier
from kenning.identity.links import Link
from kenning.identity.matching import review
from kenning.identity.matching.features import PROFILE_ID, REPRESENTATIVE, match_records_sql
from kenning.identity.matching.guard import decide
from kenning.identity.matching.model import score_pairs, weights
from kenning.identity.matching.settings import MatchSettings
from kenning.identity.rules import IdentityRules
from kenning.store.store import Store

Step = Callable[[str], None]


@dataclass
class MatchReport:
    run_id: int
    records: int
    profiles: int
    pairs_scored: int
    merged: int
    queued: int
    already_decided: int
    refused: dict[str, int]
    seconds: float
    compared_fields: tuple[str, ...]
    notes: list[str] = field(default_factory=list)
    weights: list[tuple[str, str, float | None]] = field(default_factory=list)

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "records": self.records,
            "profiles": self.profiles,
            "pairs_scored": self.pairs_scored,
            "merged": self.merged,
            "queued_for_review": self.queued,
            "already_decided": self.already_decided,
            "refused": self.refused,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.records_per_second, 1),
            "compared_fields": list(self.compared_fields),
            "notes": self.notes,
            # what each way of agreeing was worth in this run's model (log2 m/u)
            "weights": [
                {"comparison": c, "level": level, "weight": w} for c, level, w in self.weights
            ],
        }


def exclusive_types(rules: IdentityRules) -> list[str]:
    """Identifier types a profile holds one value of, ever: profiles with two different values
    can never merge, so their pairs are not scored."""
    types = {"user_id", *rules.limits, *rules.priority, *rules.custom}
    return sorted(t for t in types if rules.limit(t).count == 1 and rules.limit(t).window is None)


def match_identities(
    store: Store, settings: MatchSettings, *, step: Step | None = None
) -> MatchReport:
    """Run probabilistic matching over the store's profiles and apply what it decides."""
    say = step or (lambda _: None)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    exclusive = exclusive_types(store.identity.rules)
    say("reading records")
    with store.reader() as con:
        records = con.sql(match_records_sql(settings, exclusive)).to_arrow_table()
    representative = dict(
        zip(records[PROFILE_ID].to_pylist(), records[REPRESENTATIVE].to_pylist(), strict=True)
    )
    pairs = score_pairs(records, settings, exclusive=exclusive, step=say)
    decisions = decide(
        pairs.left, pairs.right, pairs.probability, match_probability=settings.match_probability
    )
    say("applying")

    def apply(con: duckdb.DuckDBPyConnection) -> MatchReport:
        asked = review.asked(con, store.identity.graph)
        row = next(
            iter(
                con.execute("SELECT coalesce(max(id), 0) + 1 FROM __kenning_match_runs").fetchall()
            ),
            None,
        )
        run_id = int(row[0]) if row else 1
        to_link: list[Link] = []
        to_queue: list[review.Queued] = []
        already = 0
        for d in decisions:
            a, b = representative[d.a], representative[d.b]
            if frozenset((d.a, d.b)) in asked:
                already += 1
                continue
            ia, ib = Identifier.parse(a), Identifier.parse(b)
            if d.verdict == "merge":
                to_link.append(Link(ia, ib, d.probability, links.BY_MODEL, run_id))
            else:
                to_queue.append(review.Queued(ia, ib, d.probability, d.reason))
        outcomes = store.identity.link(con, to_link)
        refused = Counter(o for o in outcomes if not isinstance(o, Merge))
        review.queue(con, to_queue, run_id)
        report = MatchReport(
            run_id=run_id,
            records=records.num_rows,
            profiles=len(representative),
            pairs_scored=len(pairs),
            merged=sum(isinstance(o, Merge) for o in outcomes),
            queued=len(to_queue),
            already_decided=already,
            refused=dict(refused),
            seconds=time.perf_counter() - started,
            compared_fields=pairs.compared_fields,
            notes=pairs.notes,
            weights=weights(pairs.model) if pairs.model else [],
        )
        con.execute(
            "INSERT INTO __kenning_match_runs VALUES (?, ?, ?, ?, ?)",
            [
                run_id,
                started_at,
                datetime.now(UTC),
                orjson.dumps(report.as_dict()).decode(),
                orjson.dumps(pairs.model).decode() if pairs.model else None,
            ],
        )
        return report

    report = store.writer.run(apply, changes_stages=True).result()
    say("loading the model for real-time matching")
    store.writer.run(store.matching.load).result()
    return report
