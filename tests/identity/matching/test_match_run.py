"""Probabilistic matching end to end on real stores: FEBRL4 (trained by expectation
maximisation) and the synthetic brand (m learnt from the identity graph)."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kenning.demo.febrl import SETTINGS as FEBRL
from kenning.identity.evaluate import evaluate
from kenning.identity.identifiers import Identifier
from kenning.identity.matching.review import decide_review, list_reviews
from kenning.identity.matching.run import match_identities
from kenning.identity.matching.settings import MatchSettings
from kenning.identity.rebuild import rebuild_identity
from kenning.identity.unmerge import record_override
from kenning.store.store import Store
from tests.identity.matching.brand import load_brand
from tests.identity.matching.febrl import load_febrl4


@pytest.fixture(scope="module")
def febrl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """FEBRL4 imported and matched once; each test works on a copy."""
    path, truth = load_febrl4(tmp_path_factory.mktemp("febrl"))
    with Store.open(path) as store:
        report = match_identities(store, FEBRL)
    assert report.records == 10_000
    return path, truth


@pytest.fixture()
def matched(febrl: tuple[Path, Path], tmp_path: Path) -> Iterator[tuple[Store, Path]]:
    copy = tmp_path / "kenning.duckdb"
    shutil.copy(febrl[0], copy)
    with Store.open(copy) as store:
        yield store, febrl[1]


def test_febrl4_is_linked_without_a_false_merge(matched: tuple[Store, Path]) -> None:
    store, truth = matched
    scores = evaluate(store, [truth])
    assert scores.pairwise_precision == 1.0
    assert scores.pairwise_f1 >= 0.9956  # Splink 5's published model; measured 0.9967


def test_merges_are_logged_with_their_score_and_survive_a_rebuild(
    matched: tuple[Store, Path],
) -> None:
    store, truth = matched
    with store.reader() as con:
        rule, merges, lowest = con.execute(
            "SELECT rule, count(*), min(score) FROM __kenning_merges GROUP BY rule"
        ).fetchone() or ("", 0, 0.0)
    assert rule == "probabilistic" and merges > 4_900 and lowest >= FEBRL.match_probability
    before = evaluate(store, [truth])
    rebuilt = rebuild_identity(store)
    assert rebuilt.profiles_after == rebuilt.profiles_before
    assert evaluate(store, [truth]) == before


def test_a_never_join_undoes_a_probabilistic_merge(matched: tuple[Store, Path]) -> None:
    store = matched[0]
    with store.reader() as con:
        row = con.execute(
            "SELECT a, b FROM __kenning_identity_links ORDER BY id LIMIT 1"
        ).fetchone()
    assert row is not None
    a, b = row
    assert store.identity.graph.profile_for(_id(a)) == store.identity.graph.profile_for(_id(b))
    record_override(store, "never_join", a, b, "not the same person")
    assert store.identity.graph.profile_for(_id(a)) != store.identity.graph.profile_for(_id(b))


def test_reviews_are_accepted_rejected_and_not_asked_again(
    matched: tuple[Store, Path],
) -> None:
    store, _ = matched
    pending = list_reviews(store)
    assert len(pending) >= 2
    first, second = pending[0], pending[1]
    assert first.profile_a != first.profile_b
    accepted = decide_review(store, first.id, accept=True)
    assert accepted.merge is not None
    assert store.identity.graph.profile_for(first.a) == store.identity.graph.profile_for(first.b)
    decide_review(store, second.id, accept=False)
    assert store.identity.graph.profile_for(second.a) != store.identity.graph.profile_for(second.b)
    asked = {frozenset((str(r.a), str(r.b))) for r in pending}
    again = match_identities(store, FEBRL)
    assert again.already_decided > 0
    new = list_reviews(store, limit=10_000)[len(pending) - 1 :]
    assert not asked & {frozenset((str(r.a), str(r.b))) for r in new}  # not asked again
    assert store.identity.graph.profile_for(second.a) != store.identity.graph.profile_for(second.b)
    rebuild_identity(store)  # the accepted review is a link: it survives
    assert store.identity.graph.profile_for(first.a) == store.identity.graph.profile_for(first.b)


def test_the_brand_learns_from_its_graph_and_merges_no_household(tmp_path: Path) -> None:
    path, truth = load_brand(tmp_path, 1_500)
    with Store.open(path) as store:
        before = evaluate(store, truth)
        report = match_identities(store, MatchSettings())
        after = evaluate(store, truth)
    assert not any(note.startswith("m: ") and "expectation" in note for note in report.notes)
    assert report.merged > 0
    assert after.pairwise_precision == 1.0  # household members share an address, not a person
    assert after.pairwise_recall > before.pairwise_recall


def _id(text: str) -> Identifier:
    return Identifier.parse(text)
