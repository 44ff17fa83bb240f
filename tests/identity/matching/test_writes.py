"""The writes a real-time merge makes (its link, the merge, the redirects) take a shorter path
for a few rows (lists bound to the statement) than for many (Arrow tables): both must store the
same."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from kenning.identity import links, stitching
from kenning.identity.graph import RULE_PROBABILISTIC, RULE_SHARED_IDENTIFIER, Merge
from kenning.identity.identifiers import Identifier
from kenning.identity.links import Link
from kenning.store import rows
from kenning.store.store import Store

# A chain within the group (5 into 3, then 3 into 1) and profiles that already pointed at an
# absorbed one (7 at 5, 8 at 3): all must end in 1.
MERGES = [
    (1, 10, Merge(3, 5, (Identifier("user_id", "a"),), RULE_SHARED_IDENTIFIER)),
    (2, None, Merge(1, 3, (Identifier("email", "b@x.io"),), RULE_PROBABILISTIC, 0.97)),
    (3, 11, Merge(20, 21, (), RULE_SHARED_IDENTIFIER)),
]
LINKS = [
    Link(Identifier("user_id", "a"), Identifier("user_id", "b"), 0.98, links.BY_MODEL, 4),
    Link(Identifier("user_id", "c"), Identifier("email", "d@x.io"), None, links.BY_REVIEW),
]


def _written(path: Path, few: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(rows, "FEW", few)
    monkeypatch.setattr(stitching, "_FEW_MERGES", few)

    def write(con: duckdb.DuckDBPyConnection) -> dict[str, Sequence[Any]]:
        con.execute("INSERT INTO __kenning_profile_redirects VALUES (7, 5), (8, 3), (9, 2)")
        stitching.write_merges(con, MERGES)
        stored = links.insert(con, LINKS, first_id=links.next_id(con), after_seq=12)
        return {
            "ids": [link.id for link in stored],
            "redirects": con.execute(
                "SELECT * FROM __kenning_profile_redirects ORDER BY ALL"
            ).fetchall(),
            "merges": con.execute(
                "SELECT * EXCLUDE (merged_at) FROM __kenning_merges ORDER BY id"
            ).fetchall(),
            "links": con.execute(
                "SELECT * EXCLUDE (created_at) FROM __kenning_identity_links ORDER BY id"
            ).fetchall(),
        }

    with Store.open(path) as store:
        return store.writer.run(write).result()


def test_few_and_many_rows_are_written_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    few = _written(tmp_path / "few.duckdb", 8, monkeypatch)
    many = _written(tmp_path / "many.duckdb", 0, monkeypatch)
    assert few == many
    assert few["ids"] == [1, 2]
    assert few["redirects"] == [(3, 1), (5, 1), (7, 1), (8, 1), (9, 2), (21, 20)]
    assert few["links"][1][3] is None  # a reviewer's link has no probability
