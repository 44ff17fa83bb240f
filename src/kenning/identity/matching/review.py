"""The review queue: pairs of profiles a person should decide on.

A pair waits here when its probability falls in the grey band, or when merging it would chain
two groups of profiles together (see guard.py). Accepting one records a link (decided by
review) and merges the two profiles at once; rejecting one keeps it on record, so later match
runs do not ask again. Pairs are stored by each profile's representative identifier.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from kenning.identity import links
from kenning.identity.graph import Merge
from kenning.identity.identifiers import Identifier
from kenning.identity.links import Link

if TYPE_CHECKING:  # the store runs real-time matching, which queues reviews
    from kenning.identity.graph import IdentityGraph
    from kenning.store.store import Store

STATUSES: tuple[str, ...] = ("pending", "accepted", "rejected")


class ReviewError(ValueError):
    """A review that cannot be decided; ``field`` names the offending input."""

    def __init__(self, message: str, field: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.missing = missing


@dataclass(frozen=True)
class Review:
    id: int
    a: Identifier
    b: Identifier
    probability: float
    reason: str
    status: str
    run_id: int | None
    created_at: datetime
    decided_at: datetime | None
    # the profiles the two identifiers are in now (None: in none)
    profile_a: int | None = None
    profile_b: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "a": str(self.a),
            "b": str(self.b),
            "profile_a": self.profile_a,
            "profile_b": self.profile_b,
            "probability": self.probability,
            "reason": self.reason,
            "status": self.status,
            "run_id": self.run_id,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


@dataclass(frozen=True)
class Queued:
    a: Identifier
    b: Identifier
    probability: float
    reason: str


def queue(con: duckdb.DuckDBPyConnection, pairs: Sequence[Queued], run_id: int) -> None:
    row = next(
        iter(con.execute("SELECT coalesce(max(id), 0) FROM __kenning_match_reviews").fetchall()),
        None,
    )
    first = (int(row[0]) if row else 0) + 1
    now = datetime.now(UTC)
    if pairs:
        stamp = pa.timestamp("us", tz="UTC")
        con.from_arrow(
            pa.table(
                {
                    "id": pa.array(range(first, first + len(pairs)), pa.int64()),
                    "a": [str(q.a) for q in pairs],
                    "b": [str(q.b) for q in pairs],
                    "probability": pa.array([q.probability for q in pairs], pa.float64()),
                    "reason": [q.reason for q in pairs],
                    "status": ["pending"] * len(pairs),
                    "run_id": pa.array([run_id] * len(pairs), pa.int64()),
                    "created_at": pa.array([now] * len(pairs), stamp),
                    "decided_at": pa.array([None] * len(pairs), stamp),
                }
            )
        ).insert_into("__kenning_match_reviews")


def asked(con: duckdb.DuckDBPyConnection, graph: "IdentityGraph") -> set[frozenset[int]]:
    """Pairs of profiles already in the queue, waiting or rejected: a run does not ask again.

    By the profiles the reviewed identifiers are in now, not by the identifiers: a profile's
    representative can change (a merge brings an older identifier), and a rejected pair must
    stay rejected whichever identifiers stand for it.
    """
    pairs: set[frozenset[int]] = set()
    for a, b in con.execute(
        "SELECT a, b FROM __kenning_match_reviews WHERE status <> 'accepted'"
    ).fetchall():
        first = graph.profile_for(Identifier.parse(str(a)))
        second = graph.profile_for(Identifier.parse(str(b)))
        if first is not None and second is not None:
            pairs.add(frozenset((first, second)))
    return pairs


_SELECT = """SELECT id, a, b, probability, reason, status, run_id, created_at, decided_at
             FROM __kenning_match_reviews"""


def _review(row: Sequence[Any], store: "Store") -> Review:
    a, b = Identifier.parse(str(row[1])), Identifier.parse(str(row[2]))
    graph = store.identity.graph
    return Review(
        int(row[0]),
        a,
        b,
        float(row[3]),
        str(row[4]),
        str(row[5]),
        row[6],
        row[7],
        row[8],
        graph.profile_for(a),
        graph.profile_for(b),
    )


def list_reviews(
    store: "Store", *, status: str | None = "pending", limit: int = 100
) -> list[Review]:
    if status is not None and status not in STATUSES:
        raise ReviewError(f"status must be one of {', '.join(STATUSES)}", "status")
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    with store.reader() as con:
        rows = con.execute(f"{_SELECT} {where} ORDER BY id LIMIT ?", [*params, limit]).fetchall()
    return [_review(row, store) for row in rows]


@dataclass(frozen=True)
class Decided:
    review: Review
    merge: Merge | None  # an accepted pair's merge
    outcome: str  # what happened, in words

    def as_dict(self) -> dict[str, Any]:
        return {
            "review": self.review.as_dict(),
            "merged": self.merge is not None,
            "profile_id": self.merge.kept if self.merge else None,
            "outcome": self.outcome,
        }


def decide_review(store: "Store", review_id: int, accept: bool) -> Decided:
    """Accept (link and merge now) or reject a pending review."""

    def pending(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
        row = next(iter(con.execute(f"{_SELECT} WHERE id = ?", [review_id]).fetchall()), None)
        if row is None:
            raise ReviewError(f"no review {review_id}", "id", missing=True)
        if row[5] != "pending":
            raise ReviewError(f"review {review_id} was already {row[5]}", "id")
        return tuple(row)

    def run(con: duckdb.DuckDBPyConnection) -> Decided:
        row = pending(con)  # again: another decision may have landed since the check below
        status = "accepted" if accept else "rejected"
        con.execute(
            "UPDATE __kenning_match_reviews SET status = ?, decided_at = now() WHERE id = ?",
            [status, review_id],
        )
        merge: Merge | None = None
        outcome = "rejected: later match runs will not ask again"
        if accept:
            accepted = Link(
                Identifier.parse(str(row[1])),
                Identifier.parse(str(row[2])),
                float(row[3]),
                links.BY_REVIEW,
                row[6],
            )
            [result] = store.identity.link(con, [accepted])
            merge = result if isinstance(result, Merge) else None
            outcome = f"merged into profile {merge.kept}" if merge else f"not merged: {result}"
        updated = next(iter(con.execute(f"{_SELECT} WHERE id = ?", [review_id]).fetchall()), None)
        assert updated is not None
        return Decided(_review(updated, store), merge, outcome)

    # Checked on a reader first: a failed writer job that changes the graph reloads the stages,
    # which a mistyped id should not cost.
    with store.reader() as con:
        pending(con)
    return store.writer.run(run, changes_stages=True).result()
