"""Stitching in the ingest transaction, on a real store: rebuild equals live, merges logged."""

import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kenning.identity import links
from kenning.identity.explain import explain
from kenning.identity.identifiers import Identifier
from kenning.identity.links import Link
from kenning.identity.rebuild import live_partition, rebuild_identity
from kenning.identity.rules import IdentityRules
from kenning.identity.stitching import message_identifiers, row_identifiers
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.events import iter_identities
from kenning.store.store import Store
from tests.identity.messages import CUSTOM, ids_only, messages

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def send(store: Store, *messages: dict[str, Any]) -> None:
    prepared = prepare_messages(list(messages), source_id="src", received_at=NOW, limits=Limits())
    assert not prepared.rejections
    store.write_events(prepared.events).result()


def partition(store: Store) -> set[frozenset[str]]:
    return set(live_partition(store.identity).values())


def test_events_are_stitched_and_merges_logged(store: Store) -> None:
    send(store, {"type": "page", "anonymousId": "a1", "name": "Home", "messageId": "m1"})
    send(
        store,
        {"type": "identify", "userId": "u1", "traits": {"email": "J@X.com"}, "messageId": "m2"},
    )
    send(
        store,
        {
            "type": "identify",
            "anonymousId": "a1",
            "traits": {"email": "j@x.com"},
            "messageId": "m3",
        },
    )
    assert partition(store) == {frozenset({"anonymous_id:a1", "user_id:u1", "email:j@x.com"})}
    stats = store.stats()
    assert (stats["profiles"], stats["identifiers"]) == (1, 3)
    with store.reader() as con:
        merges = con.execute(
            "SELECT kept, merged, identifiers, rule, seq FROM __kenning_merges"
        ).fetchall()
        profiles = con.execute("SELECT DISTINCT profile_id FROM kenning_events").fetchall()
    assert merges == [(1, 2, ["email:j@x.com", "anonymous_id:a1"], "shared_identifier", 3)]
    assert profiles == [(1,)]  # every event, even the ones before the merge, is profile 1


def test_alias_joins_previous_id(store: Store) -> None:
    send(store, {"type": "page", "anonymousId": "anon-9", "name": "Home"})
    send(store, {"type": "alias", "userId": "u9", "previousId": "anon-9"})
    assert partition(store) == {frozenset({"anonymous_id:anon-9", "user_id:u9"})}


def test_duplicates_do_not_touch_the_graph(store: Store) -> None:
    message = {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "same"}
    send(store, message)
    send(store, message)
    with store.reader() as con:
        rows = con.execute("SELECT count(*) FROM __kenning_event_profiles").fetchone()
    assert rows == (1,)


def test_explain_shows_the_chain_and_non_joins(store: Store) -> None:
    send(
        store,
        {
            "type": "identify",
            "anonymousId": "a1",
            "traits": {"email": "e@x.com"},
            "messageId": "first",
        },
    )
    send(store, {"type": "identify", "userId": "u1", "anonymousId": "a2", "messageId": "second"})
    send(
        store,
        {
            "type": "track",
            "userId": "u1",
            "anonymousId": "a1",
            "event": "Joined",
            "messageId": "joiner",
        },
    )
    send(store, {"type": "identify", "userId": "u2", "messageId": "other"})
    joined = explain(store, Identifier("email", "e@x.com"), Identifier("user_id", "u1"))
    assert joined.joined
    kinds = [(s.kind, s.message_id) for s in joined.steps]
    assert kinds == [("attached", "first"), ("merge", "joiner"), ("attached", "second")]
    assert joined.steps[1].detail["identifiers"] == ["user_id:u1", "anonymous_id:a1"]
    apart = explain(store, Identifier("user_id", "u2"), Identifier("user_id", "u1"))
    assert not apart.joined and apart.profile_a != apart.profile_b
    unknown = explain(store, Identifier("email", "nobody@x.com"), Identifier("user_id", "u1"))
    assert not unknown.joined and unknown.profile_a is None


def test_identity_export(store: Store) -> None:
    send(store, {"type": "identify", "userId": "u1", "traits": {"email": "e@x.com"}})
    csv_text = b"".join(iter_identities(store, "csv")).decode().splitlines()
    assert csv_text[0] == "profile_id,type,value,source,first_seen"
    assert sorted(line.split(",")[1] for line in csv_text[1:]) == ["email", "user_id"]
    rows = [orjson.loads(line) for line in b"".join(iter_identities(store, "jsonl")).splitlines()]
    assert {r["value"] for r in rows} == {"u1", "e@x.com"}


def test_the_graph_survives_a_restart(tmp_path: Path) -> None:
    with Store.open(tmp_path / "k.duckdb") as store:
        send(store, {"type": "identify", "userId": "u1", "anonymousId": "a1"})
        send(store, {"type": "identify", "anonymousId": "a2", "traits": {"email": "e@x.com"}})
        before = partition(store)
    with Store.open(tmp_path / "k.duckdb") as store:
        assert partition(store) == before
        send(store, {"type": "identify", "userId": "u1", "traits": {"email": "e@x.com"}})
        assert len(partition(store)) == 1


message_strategy = st.fixed_dictionaries(
    {"type": st.just("identify")},
    optional={
        "userId": st.sampled_from(["u1", "u2", "u3"]),
        "anonymousId": st.sampled_from(["a1", "a2", "a3", "a4"]),
        "traits": st.fixed_dictionaries({"email": st.sampled_from(["e1@x.com", "e2@x.com"])}),
        "context": st.fixed_dictionaries(
            {"device": st.fixed_dictionaries({"id": st.sampled_from(["d1", "d2"])})}
        ),
    },
).filter(lambda m: "userId" in m or "anonymousId" in m)


def assert_rebuild_equals_live(store: Store) -> None:
    """A rebuild from the log gives the same partition and puts every event where it was."""
    live = live_partition(store.identity)
    with store.reader() as con:
        live_events = con.execute(
            "SELECT seq, profile_id FROM kenning_events ORDER BY seq"
        ).fetchall()
    rebuild_identity(store)
    assert live_partition(store.identity) == live
    with store.reader() as con:
        rebuilt_events = con.execute(
            "SELECT seq, profile_id FROM kenning_events ORDER BY seq"
        ).fetchall()
    assert rebuilt_events == live_events


@settings(max_examples=25, deadline=None)
@given(
    st.lists(message_strategy, min_size=1, max_size=30),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=10),
)
def test_rebuild_from_the_log_equals_live_state(
    messages: list[dict[str, Any]], group_sizes: list[int]
) -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb") as store,
    ):
        position, turn = 0, 0
        while position < len(messages):
            size = group_sizes[turn % len(group_sizes)]
            send(store, *messages[position : position + size])
            position, turn = position + size, turn + 1
        assert_rebuild_equals_live(store)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(message_strategy, min_size=1, max_size=30),
    st.lists(
        st.tuples(
            st.integers(0, 30),
            st.sampled_from(["user_id:u1", "user_id:u2", "anonymous_id:a1"]),
            st.sampled_from(["email:e2@x.com", "user_id:u3", "anonymous_id:a3", "device_id:d2"]),
        ),
        max_size=4,
    ),
)
@example(  # the link joins u1 to e2's profile; then u2 comes with e2 and must stay apart
    messages=[
        {"type": "identify", "userId": "u1", "anonymousId": "a1"},
        {"type": "identify", "anonymousId": "a2", "traits": {"email": "e2@x.com"}},
        {"type": "identify", "userId": "u2", "traits": {"email": "e2@x.com"}},
    ],
    made=[(1, "user_id:u1", "email:e2@x.com")],
)
def test_rebuild_equals_live_state_with_links_made_between_events(
    messages: list[dict[str, Any]], made: list[tuple[int, str, str]]
) -> None:
    """A probabilistic or reviewed link joins profiles between two events; a rebuild joins it
    there too, so limits bite on the same graph (user ids: one per profile)."""
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb") as store,
    ):
        for position, message in enumerate(messages):
            send(store, message)
            due = [
                Link(Identifier.parse(a), Identifier.parse(b), 0.99, links.BY_MODEL)
                for at, a, b in made
                if at == position
            ]
            if due:
                store.writer.run(
                    lambda con, due=due: store.identity.link(con, due),
                    changes_stages=True,
                ).result()
        assert_rebuild_equals_live(store)


def test_a_store_that_does_not_stitch_resolves_on_rebuild(tmp_path: Path) -> None:
    with Store.open(tmp_path / "bulk.duckdb", stitch=False) as bulk:
        send(bulk, {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "m1"})
        assert (bulk.stats()["events"], bulk.stats()["profiles"]) == (1, 0)
    with Store.open(tmp_path / "bulk.duckdb") as store:
        rebuild_identity(store)
        assert partition(store) == {frozenset({"user_id:u1", "anonymous_id:a1"})}


def test_links_are_numbered_by_the_stage_after_those_stored(tmp_path: Path) -> None:
    """The stage hands link ids out (no max() per insert): in order, past a failed job and a
    reopened store, never twice."""
    made = [
        Link(Identifier("user_id", f"u{i}"), Identifier("user_id", f"v{i}"), 0.99, links.BY_MODEL)
        for i in range(4)
    ]
    path = tmp_path / "kenning.duckdb"
    with Store.open(path) as store:
        first = store.writer.run(lambda con: store.identity.record_links(con, made[:2])).result()
        assert [link.id for link in first] == [1, 2]

        def fails(con: Any) -> None:
            store.identity.record_links(con, made[2:3])
            raise RuntimeError("a job that fails after recording a link")

        with pytest.raises(RuntimeError):
            store.writer.run(fails, changes_stages=True).result()
        outcomes = store.writer.run(
            lambda con: store.identity.link(con, made[2:3]), changes_stages=True
        ).result()
        assert len(outcomes) == 1
    with Store.open(path) as store:
        last = store.writer.run(lambda con: store.identity.record_links(con, made[3:])).result()
        with store.reader() as con:
            ids = [
                row[0] for row in con.execute("SELECT id FROM __kenning_identity_links").fetchall()
            ]
    assert last[0].id == max(ids) and sorted(ids) == sorted(set(ids)) and len(ids) == 4


@settings(max_examples=300)
@example({"type": "track", "userId": "u1", "anonymousId": "a1"}, IdentityRules())
@example(
    {"type": "track", "userId": "u1", "anonymousId": "a1"},
    IdentityRules(priority=("anonymous_id", "user_id")),
)
@example({"type": "page", "userId": 42.0, "anonymousId": " a1 "}, IdentityRules(priority=()))
@example({"type": "track", "userId": "null", "anonymousId": "a1"}, IdentityRules())
@given(
    st.one_of(messages, ids_only),
    st.sampled_from(
        [
            IdentityRules(),
            IdentityRules(priority=("anonymous_id", "user_id")),
            IdentityRules(priority=("email",)),  # the two ids tie: reading order decides
            CUSTOM,
        ]
    ),
)
def test_an_event_s_identifiers_are_its_payload_s(
    message: dict[str, Any], rules: IdentityRules
) -> None:
    """Stitching reads an event whose payload holds nothing beyond its two ids from the id
    columns: what it reads is what message_identifiers reads from the payload."""
    message.setdefault("event", "Clicked")
    prepared = prepare_messages([message], source_id="s", received_at=NOW, limits=Limits())
    for row in prepared.events:
        expected = message_identifiers(orjson.loads(row.payload), rules)
        assert row_identifiers(replace(row, message=None), rules) == expected
        assert row_identifiers(replace(row, other_identifiers=None), rules) == expected
