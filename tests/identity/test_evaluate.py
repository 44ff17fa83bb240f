"""Scoring the graph against ground truth, on a real store, with figures worked out by hand."""

from pathlib import Path

import pytest

from kenning.identity.evaluate import TruthError, evaluate
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.identity.test_stitching import NOW


def test_pairwise_and_bcubed_scores(store: Store, tmp_path: Path) -> None:
    source_id = store.sources.create("web").source.id  # the truth names sources by name

    def send(store: Store, message: dict[str, object]) -> None:
        prepared = prepare_messages(
            [message], source_id=source_id, received_at=NOW, limits=Limits()
        )
        store.write_events(prepared.events).result()

    # profile X = {m1, m2, m3} (a1 joined to a2 by the email); profile Y = {m4}
    send(store, {"type": "page", "anonymousId": "a1", "messageId": "m1"})
    send(
        store,
        {
            "type": "page",
            "anonymousId": "a1",
            "messageId": "m2",
            "context": {"traits": {"email": "e@x.com"}},
        },
    )
    send(
        store,
        {
            "type": "page",
            "anonymousId": "a2",
            "messageId": "m3",
            "context": {"traits": {"email": "e@x.com"}},
        },
    )
    send(store, {"type": "page", "anonymousId": "a3", "messageId": "m4"})
    # truth: m1, m2 are Ann; m3, m4 are Bob (the shared email over-merged m3 into Ann's)
    (tmp_path / "events.csv").write_text(
        "source,message_id,person_id\nweb,m1,ann\nweb,m2,ann\nweb,m3,bob\nweb,m4,bob\n"
        "web,never-stored,bob\n"
    )
    # typed as the person gave it: normalised as stitching stores it
    (tmp_path / "records.csv").write_text("identifier,person_id\nemail: E@X.com ,ann\n")
    scores = evaluate(store, [tmp_path / "events.csv", tmp_path / "records.csv"])
    # items: m1 m2 m3 (X) m4 (Y) email (X); truth Ann = {m1, m2, email}, Bob = {m3, m4}
    # predicted pairs: X has 4 items -> 6 pairs; true together among them: Ann's 3 -> 3
    # true pairs: Ann 3 + Bob 1 = 4; found together: 3
    assert (scores.items, scores.missing, scores.people, scores.profiles) == (5, 1, 2, 2)
    assert scores.pairwise_precision == pytest.approx(3 / 6)
    assert scores.pairwise_recall == pytest.approx(3 / 4)
    # B-cubed precision: Ann's 3 items in X: 3/4 each; m3: 1/4; m4: 1/1 -> (9/4 + 1/4 + 1) / 5
    assert scores.bcubed_precision == pytest.approx((9 / 4 + 1 / 4 + 1) / 5)
    # recall: Ann's items 3/3; m3 1/2; m4 1/2 -> (3 + 1) / 5
    assert scores.bcubed_recall == pytest.approx(4 / 5)


def test_a_truth_file_without_the_columns_is_refused(store: Store, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("message_id,person\nm1,ann\n")
    with pytest.raises(TruthError, match="no person_id column"):
        evaluate(store, [tmp_path / "bad.csv"])
    (tmp_path / "bad2.csv").write_text("id,person_id\nm1,ann\n")
    with pytest.raises(TruthError, match="needs source and message_id"):
        evaluate(store, [tmp_path / "bad2.csv"])
    with pytest.raises(TruthError, match="cannot read"):
        evaluate(store, [tmp_path / "absent.csv"])


def test_truth_files_with_no_item_in_the_store_are_refused(store: Store, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("identifier,person_id\n")
    with pytest.raises(TruthError, match="empty"):
        evaluate(store, [tmp_path / "empty.csv"])
    (tmp_path / "elsewhere.csv").write_text("identifier,person_id\nemail:nobody@x.com,ann\n")
    with pytest.raises(TruthError, match="no item of the truth files is in the store"):
        evaluate(store, [tmp_path / "elsewhere.csv"])
