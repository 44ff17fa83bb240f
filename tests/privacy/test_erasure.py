"""A deletion in three steps, on a real store: what arrives between the search on a reader and
the deletion on the writer (another event of the person, a referral naming them, a merge of a
new device into them) is deleted too; the graph forgets them; nobody else is touched."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kenning.identity.identifiers import Identifier
from kenning.ingest.pipeline import prepare_messages
from kenning.privacy.erasure import erase, find
from kenning.privacy.traces import find_traces, needles_of
from kenning.spec.limits import Limits
from kenning.store.store import Store

EMAIL = "ines.deleted@example.org"


def _write(store: Store, *messages: dict[str, Any]) -> None:
    prepared = prepare_messages(list(messages), source_id="app", received_at=datetime.now(UTC),
                                limits=Limits())  # fmt: skip
    assert not prepared.rejections
    store.write_events(prepared.events).result()


def test_what_arrives_while_the_search_runs_is_deleted_too(tmp_path: Path) -> None:
    with Store.open(tmp_path / "k.duckdb") as store:
        _write(
            store,
            {"type": "identify", "userId": "ines", "traits": {"email": EMAIL}},
            {"type": "track", "userId": "ines", "event": "Viewed"},
            {"type": "identify", "userId": "other", "traits": {"email": "other@example.org"}},
        )
        named = [Identifier("email", EMAIL)]
        with store.reader() as con:
            found = find(con, store, named)
        assert len(found.event_seqs) == 2 and found.person.profile_ids
        # meanwhile: their new device signs in, they buy, a friend refers them
        _write(
            store,
            {"type": "page", "anonymousId": "ines-phone-0001"},
            {"type": "identify", "anonymousId": "ines-phone-0001", "userId": "ines"},
            {"type": "track", "userId": "ines", "event": "Order Completed"},
            {"type": "track", "userId": "other", "event": "Referred",
             "properties": {"friend": EMAIL.upper()}},
        )  # fmt: skip
        receipt = store.writer.run(
            lambda con: erase(con, store, named, found, []), changes_stages=True
        ).result()
        assert receipt["rows"]["__kenning_events"] == 6 and receipt["profiles"] == 2
        assert store.identity.graph.profile_for(Identifier("email", EMAIL)) is None
        assert (
            store.identity.graph.profile_for(Identifier("anonymous_id", "ines-phone-0001")) is None
        )
        assert store.identity.graph.profile_for(Identifier("user_id", "other")) is not None
        with store.reader() as con:
            values = [EMAIL, "ines", "ines-phone-0001"]
            assert find_traces(con, needles_of(values)) == []
            left = con.execute("SELECT count(*) FROM __kenning_events").fetchone()
        assert left == (1,)  # the other person's identify
        # the person comes back: a new profile, not the old one
        _write(store, {"type": "identify", "userId": "ines", "traits": {"email": EMAIL}})
        back = store.identity.graph.profile_for(Identifier("email", EMAIL))
        assert back is not None and back not in found.person.profile_ids
