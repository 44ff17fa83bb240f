"""Identity links: decisions, from outside the event log, that two identifiers' profiles are
one person: a probabilistic match run's (``model``) or a reviewer's (``review``).

Like overrides, links are inputs: a rebuild keeps them and joins the profiles each active link
names where the link was made in the log: after the event it followed (``after_seq``, the last
event stored when it was made), before the next, so the rules see the same graph as they did
live. A link the rules or an override now forbid is skipped (a ``never_join`` between its
identifiers is how a reviewer undoes a probabilistic merge). Links are stored by identifier, not
by profile id, because identifiers outlive the profiles a rebuild renumbers.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from kenning.identity.graph import RULE_PROBABILISTIC, RULE_REVIEWED
from kenning.identity.identifiers import Identifier
from kenning.store.rows import insert_rows

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
    after_seq: int = 0  # the last event stored when the link was made

    @property
    def rule(self) -> str:
        return RULE_PROBABILISTIC if self.decided_by == BY_MODEL else RULE_REVIEWED


def next_id(con: duckdb.DuckDBPyConnection) -> int:
    """The id the next link recorded takes."""
    [(highest,)] = con.execute(
        "SELECT coalesce(max(id), 0) FROM __kenning_identity_links"
    ).fetchall()
    return int(highest) + 1


def load(con: duckdb.DuckDBPyConnection) -> list[Link]:
    """The active links, oldest first."""
    return [
        Link(Identifier.parse(a), Identifier.parse(b), p, by, run, int(id_), int(after))
        for id_, a, b, p, by, run, after in con.execute(
            """SELECT id, a, b, probability, decided_by, run_id, after_seq
               FROM __kenning_identity_links WHERE removed_at IS NULL ORDER BY id"""
        ).fetchall()
    ]


def insert(
    con: duckdb.DuckDBPyConnection,
    links: Sequence[Link],
    *,
    first_id: int,
    after_seq: int | None = None,
) -> list[Link]:
    """Record links made now, numbered from ``first_id`` (the identity stage hands ids out:
    ``IdentityStage.record_links``), after event ``after_seq`` (by default the last one
    stored); returns them with their ids."""
    if not links:
        return []
    if after_seq is None:
        [(highest,)] = con.execute("SELECT coalesce(max(seq), 0) FROM __kenning_events").fetchall()
    after = int(highest) if after_seq is None else after_seq
    first = first_id
    now = datetime.now(UTC)
    stored = [
        Link(link.a, link.b, link.probability, link.decided_by, link.run_id, first + i, after)
        for i, link in enumerate(links)
    ]
    insert_rows(
        con,
        "__kenning_identity_links",
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
                "after_seq": pa.array([after] * len(stored), pa.int64()),
            }
        ),
    )
    return stored
