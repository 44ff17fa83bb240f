"""The evidence ceiling on a real store, with figures worked out by hand."""

from pathlib import Path

import pytest

from kenning.identity.ceiling import evidence_ceiling
from kenning.identity.evaluate import TruthError, evaluate
from kenning.identity.rules import IdentityRules
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.identity.test_stitching import NOW


def test_touches_that_share_nothing_with_their_person_stay_apart(
    store: Store, tmp_path: Path
) -> None:
    source_id = store.sources.create("web").source.id
    messages = [
        # Ann: a browser she signs in on (m1, m2), a second never signed in on (m3), an app
        # never linked to her account (m4)
        {"type": "page", "anonymousId": "a1", "messageId": "m1", "userId": "ann"},
        {"type": "page", "anonymousId": "a1", "messageId": "m2"},
        {"type": "page", "anonymousId": "a2", "messageId": "m3"},
        {"type": "screen", "anonymousId": "app-a", "messageId": "m4", "context": {
            "device": {"id": "d1", "advertisingId": "ad1", "token": "push1"}}},
        # Bob: an anonymous visit (m5), then a sign-in on another browser (m6)
        {"type": "page", "anonymousId": "b1", "messageId": "m5"},
        {"type": "page", "anonymousId": "b2", "messageId": "m6", "userId": "bob"},
        # Cara: on Ann's browser, shared (m7), and signed in on her own (m8)
        {"type": "page", "anonymousId": "a1", "messageId": "m7"},
        {"type": "page", "anonymousId": "c1", "messageId": "m8", "userId": "cara"},
        # Dan: on Bob's anonymous browser, never signed in (m9): nothing says whose it is;
        # and a visit whose only id is a blocked value (m10): no identifier at all
        {"type": "page", "anonymousId": "b1", "messageId": "m9"},
        {"type": "page", "anonymousId": "undefined", "messageId": "m10"},
    ]  # fmt: skip
    prepared = prepare_messages(messages, source_id=source_id, received_at=NOW, limits=Limits())
    store.write_events(prepared.events).result()
    people = {"m1": "ann", "m2": "ann", "m3": "ann", "m4": "ann"}
    people |= {"m5": "bob", "m6": "bob", "m7": "cara", "m8": "cara", "m9": "dan", "m10": "dan"}
    (tmp_path / "events.csv").write_text(
        "source,message_id,person_id\n" + "".join(f"web,{m},{p}\n" for m, p in people.items())
    )
    # an identifier item: Ann's app device
    (tmp_path / "records.csv").write_text("identifier,person_id\ndevice_id:d1,ann\n")
    truth = [tmp_path / "events.csv", tmp_path / "records.csv"]

    ceiling = evidence_ceiling(store, truth)
    # Ann: {m1, m2} (her signed-in browser), {m3}, {m4, d1}; Bob: {m5}, {m6}; Cara: {m7, m8}
    # (the shared browser holds a user id: counted as hers too, the ceiling being optimistic);
    # Dan: {m9}, apart from Bob's m5 on the same anonymous browser; {m10}, alone
    assert (ceiling.items, ceiling.missing, ceiling.people, ceiling.profiles) == (11, 0, 4, 8)
    # true pairs: Ann 5 items -> 10, Bob 1, Cara 1, Dan 1: 13; together: m1-m2, m4-d1, m7-m8
    assert ceiling.pairwise_precision == 1.0
    assert ceiling.pairwise_recall == pytest.approx(3 / 13)
    # B-cubed recall: Ann's items 2/5, 2/5, 1/5, 2/5, 2/5; Bob's 1/2, 1/2; Cara's 2/2, 2/2;
    # Dan's 1/2, 1/2
    assert ceiling.bcubed_recall == pytest.approx((9 / 5 + 1 + 2 + 1) / 11)

    # the graph scores the same items; it joined the shared browser's visits into Ann's
    # profile: below the ceiling in precision, as no resolver that keeps people apart is
    graph = evaluate(store, truth)
    assert (graph.items, graph.missing) == (ceiling.items, ceiling.missing)
    assert graph.pairwise_precision < 1.0 == ceiling.pairwise_precision


def test_rules_whose_paths_cannot_be_read_in_bulk_are_refused(tmp_path: Path) -> None:
    rules = IdentityRules(custom={"odd": ('properties.say "hi"',)})
    (tmp_path / "events.csv").write_text("source,message_id,person_id\nweb,m1,ann\n")
    with (
        Store.open(tmp_path / "k.duckdb", identity_rules=rules) as store,
        pytest.raises(TruthError, match="custom paths"),
    ):
        evidence_ceiling(store, [tmp_path / "events.csv"])
