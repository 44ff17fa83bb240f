"""Identifiers read from the whole log in bulk equal message_identifiers, event by event."""

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.identity.identifiers import Identifier
from kenning.identity.log_links import read_log_links, supported
from kenning.identity.rules import IdentityRules
from kenning.identity.stitching import message_identifiers
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.identity.messages import CUSTOM, messages

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def stored(store: Store, batch: list[dict[str, Any]]) -> None:
    for message in batch:
        message.setdefault("event", "Clicked")
        if message["type"] == "alias" and not isinstance(message.get("previousId"), str):
            message["previousId"] = "prev"
    prepared = prepare_messages(batch, source_id="src", received_at=NOW, limits=Limits())
    if prepared.events:
        store.write_events(prepared.events).result()


def bulk_and_one_by_one(
    store: Store, rules: IdentityRules
) -> tuple[dict[int, list[Identifier]], dict[int, list[Identifier]]]:
    with store.reader() as con:
        log = read_log_links(con, rules)
        payloads = con.execute("SELECT seq, payload FROM __kenning_events").fetchall()
    bulk = {
        int(seq): [log.identifiers[c] for c in log.codes[log.offsets[i] : log.offsets[i + 1]]]
        for i, seq in enumerate(log.seq)
    }
    one_by_one = {
        int(seq): found
        for seq, payload in payloads
        if (found := message_identifiers(orjson.loads(payload), rules))
    }
    return bulk, one_by_one


@settings(max_examples=60, deadline=None)
@given(st.lists(messages, min_size=1, max_size=25), st.sampled_from([IdentityRules(), CUSTOM]))
def test_bulk_reading_equals_message_identifiers(
    batch: list[dict[str, Any]], rules: IdentityRules
) -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb", stitch=False) as store,
    ):
        stored(store, batch)
        bulk, one_by_one = bulk_and_one_by_one(store, rules)
        assert bulk == one_by_one


def test_order_and_duplicates_follow_message_identifiers(store: Store) -> None:
    stored(
        store,
        [
            {
                "type": "identify",
                "anonymousId": "a1",
                "userId": "u1",
                "traits": {"email": "second@x.com", "phone": "+447700900123"},
                "context": {
                    "traits": {"email": "First@x.com"},
                    "externalIds": [
                        {"type": "email", "id": "first@x.com"},
                        {"type": "crm_id", "id": "C1"},
                    ],
                },
            },
            {"type": "alias", "userId": "u2", "anonymousId": "a2", "previousId": "a2"},
            {"type": "alias", "userId": "u3", "previousId": "a3"},
        ],
    )
    bulk, one_by_one = bulk_and_one_by_one(store, IdentityRules())
    assert bulk == one_by_one
    assert [str(i) for i in bulk[1]] == [
        "user_id:u1",
        "email:first@x.com",
        "email:second@x.com",
        "phone:+447700900123",
        "anonymous_id:a1",
        "crm_id:C1",
    ]
    assert [str(i) for i in bulk[3]] == ["user_id:u3", "anonymous_id:a3"]


def test_each_path_is_read_when_it_is_the_only_one_a_payload_holds(store: Store) -> None:
    """Each path, alone in a message beside a userId or an anonymousId, is read (generated
    messages mostly hold several at once)."""
    alone = [
        {"type": "track", "userId": 42},
        {"type": "track", "userId": 42.0, "anonymousId": " a1 "},
        {"type": "page", "anonymousId": 'é\u2028"x\\'},
        {"type": "track", "userId": "u1", "context": {"traits": {"email": "a@x.com"}}},
        {"type": "track", "anonymousId": "a2", "context": {"traits": {"phone": "+44 7700 900123"}}},
        {"type": "identify", "userId": "u3", "traits": {"email": "b@x.com"}},
        {"type": "identify", "anonymousId": "a4", "traits": {"phone": "+447700900124"}},
        {"type": "track", "userId": "u5", "context": {"device": {"id": "d5"}}},
        {"type": "track", "anonymousId": "a6", "context": {"device": {"advertisingId": "ad6"}}},
        {"type": "track", "userId": "u7", "context": {"device": {"token": "t7"}}},
        {"type": "track", "userId": "u8", "context": {"externalIds": [{"type": "x", "id": "e8"}]}},
        {"type": "alias", "userId": "u9", "previousId": "p9"},
        {"type": "track", "userId": "u10", "traits": {"loyalty_id": "L10"}},
        {"type": "track", "userId": "u11", "properties": {"card": {"number": "N11"}}},
        {"type": "track", "userId": "u12", "crm": "C12"},
    ]
    stored(store, alone)
    for rules in (IdentityRules(), CUSTOM):
        bulk, one_by_one = bulk_and_one_by_one(store, rules)
        assert bulk == one_by_one
    assert sum(len(found) for found in bulk.values()) == 28  # every identifier above, read


@settings(max_examples=30, deadline=None)
@given(st.lists(messages, min_size=1, max_size=25))
def test_events_stored_before_the_flag_are_parsed(batch: list[dict[str, Any]]) -> None:
    """Events stored before the log kept other_identifiers have it NULL: their payloads are
    parsed, as they are when rules read custom paths (which the flag does not cover)."""
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb", stitch=False) as store,
    ):
        stored(store, batch)
        store.writer.run(
            lambda con: con.execute(
                "UPDATE __kenning_events SET other_identifiers = NULL WHERE seq % 2 = 0"
            )
        ).result()
        bulk, one_by_one = bulk_and_one_by_one(store, IdentityRules())
        assert bulk == one_by_one


def test_the_log_keeps_whether_a_payload_holds_other_identifiers(store: Store) -> None:
    stored(
        store,
        [
            {"type": "track", "userId": "u1", "context": {"ip": "1.2.3.4"}},
            {"type": "track", "userId": "u2", "context": {"device": {"id": "d2"}}},
            {"type": "alias", "userId": "u3", "previousId": "a3"},
            {"type": "track", "anonymousId": "a4", "traits": {"email": "x@y.com"}},
        ],
    )
    with store.reader() as con:
        flags = con.execute("SELECT other_identifiers FROM __kenning_events ORDER BY seq")
        # a track's traits are not read, but the flag is only a hint to parse: it may say
        # more than is there, never less
        assert [flag for (flag,) in flags.fetchall()] == [False, True, True, True]


def test_custom_paths_that_cannot_be_read_in_bulk_are_refused() -> None:
    assert supported(CUSTOM)
    assert not supported(IdentityRules(custom={"odd": ('a"b',)}))
    assert not supported(IdentityRules(custom={"prev": ("anonymousId",)}))
