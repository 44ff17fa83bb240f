"""Identity links: decisions, from outside the event log, that two identifiers' profiles are
one person: a probabilistic match run's (``model``) or a reviewer's (``review``).

Like overrides, links are inputs: a rebuild keeps them and, after replaying the log, joins the
profiles each active link names, in the order the links were made. A link the rules or an
override now forbid is skipped (a ``never_join`` between its identifiers is how a reviewer
undoes a probabilistic merge). Links are stored by identifier, not by profile id, because
identifiers outlive the profiles a rebuild renumbers.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from kenning.identity.graph import RULE_PROBABILISTIC, RULE_REVIEWED
from kenning.identity.identifiers import Identifier

BY_MODEL = "model"
BY_REVIEW = "review"


@dataclass(frozen=True)
class Link:
    a: Identifier
    b: Identifier
    probability: float | None
    decided_by: str
    run_id: int | None = None
    id: int = 0

    @property
    def rule(self) -> str:
        return RULE_PROBABILISTIC if self.decided_by == BY_MODEL else RULE_REVIEWED


def load(con: duckdb.DuckDBPyConnection) -> list[Link]:
    """The active links, oldest first."""
    return [
        Link(Identifier.parse(a), Identifier.parse(b), p, by, run, int(id_))
        for id_, a, b, p, by, run in con.execute(
            """SELECT id, a, b, probability, decided_by, run_id FROM __kenning_identity_links
               WHERE removed_at IS NULL ORDER BY id"""
        ).fetchall()
    ]


def insert(con: duckdb.DuckDBPyConnection, links: Sequence[Link]) -> list[Link]:
    """Record links; returns them with their ids."""
    row = next(
        iter(con.execute("SELECT coalesce(max(id), 0) FROM __kenning_identity_links").fetchall()),
        None,
    )
    first = (int(row[0]) if row else 0) + 1
    now = datetime.now(UTC)
    stored = [
        Link(link.a, link.b, link.probability, link.decided_by, link.run_id, first + i)
        for i, link in enumerate(links)
    ]
    if stored:
        con.from_arrow(
            pa.table(
                {
                    "id": pa.array([link.id for link in stored], pa.int64()),
                    "a": [str(link.a) for link in stored],
                    "b": [str(link.b) for link in stored],
                    "probability": pa.array([link.probability for link in stored], pa.float64()),
                    "decided_by": [link.decided_by for link in stored],
                    "run_id": pa.array([link.run_id for link in stored], pa.int64()),
                    "created_at": pa.array([now] * len(stored), pa.timestamp("us", tz="UTC")),
                    "removed_at": pa.array([None] * len(stored), pa.timestamp("us", tz="UTC")),
                }
            )
        ).insert_into("__kenning_identity_links")
    return stored
