"""Profile documents on a real store: a profile read from its document equals the one read
from the state tables, and whatever changes a person's state (an event, a merge by stitching or
by a match run, a recompute, a declared trait, an unmerge) takes their document away in the
same transaction, until the idle writer builds it again."""

import time
from pathlib import Path
from typing import Any

import pytest

from kenning.identity import links
from kenning.identity.identifiers import Identifier
from kenning.identity.links import Link
from kenning.identity.unmerge import record_override
from kenning.profiles.computed.definitions import parse
from kenning.profiles.read import find_profile, profile
from kenning.store.store import Store
from tests.profiles.computed.test_stage import order
from tests.profiles.test_state import identify, send


def build_all(store: Store) -> None:
    store.documents.build = True  # from now on the idle writer builds them too
    store.writer.run(lambda con: None).result()  # let a step in flight finish
    while store.documents.due() is not None:
        time.sleep(max(0.0, (store.documents.due() or 0.0) - time.monotonic()))
        store.writer.run(store.documents.step).result()


def held(store: Store, identifier: str) -> bool:
    """Whether the person holding ``identifier`` has a document in the store."""
    profile_id = find_profile(store, identifier)
    assert profile_id is not None
    with store.reader() as con:
        return store.documents.read(con, profile_id) is not None


def everyone(store: Store) -> dict[int, dict[str, Any]]:
    return {p: profile(store, p) for p in sorted(store.identity.graph.profile_ids())}


def shop(store: Store) -> None:
    """Three people: one on two devices joined by an email, with orders, consent and a
    store source; one on one device; one known only by a user id."""
    send(store, identify("laptop", "2026-03-01T00:00:00Z", firstName="Ann", city="Leeds",
                         address={"city": "Leeds", "postalCode": "LS1"}))  # fmt: skip
    send(store, identify("phone", "2026-03-05T00:00:00Z", city="York"), source="app")
    send(store, identify("laptop", "2026-03-02T00:00:00Z", email="ann@x.com"))
    send(store, identify("phone", "2026-03-06T00:00:00Z", email="ann@x.com"), source="app")
    send(
        store,
        order({"anonymousId": "laptop"}, "2026-03-07T00:00:00Z", 40.5, category="shoes"),
        order({"anonymousId": "phone"}, "2026-03-08T00:00:00Z", "12.25", category="hats"),
        {"type": "track", "anonymousId": "phone", "event": "Product Viewed",
         "properties": {"category": "hats"}, "timestamp": "2026-03-08T00:00:10Z",
         "context": {"consent": {"categoryPreferences": {"marketing_email": True}}}},
        source="app",
    )  # fmt: skip
    send(store, identify("tablet", "2026-03-09T00:00:00Z", firstName="Bo"))
    send(store, order({"userId": "u9"}, "2026-03-10T00:00:00Z", 99), source="pos")


def test_a_profile_read_from_its_document_equals_one_read_from_the_tables(store: Store) -> None:
    shop(store)
    from_tables = everyone(store)
    assert not any(held(store, f"profile_id:{p}") for p in from_tables)
    build_all(store)
    assert all(held(store, f"profile_id:{p}") for p in from_tables)
    assert everyone(store) == from_tables
    ann = from_tables[find_profile(store, "email:ann@x.com") or 0]
    assert ann["merged_ids"] and ann["computed_traits"]["orders_count"] == 2
    assert ann["consent"]["marketing_email"]["granted"] is True
    assert store.stats()["profile_documents"] == len(from_tables)


def test_many_documents_built_at_once_equal_the_tables_too(store: Store) -> None:
    """Beyond a few dozen people, a step reads everyone's rows with joins, not by index."""
    shop(store)
    send(store, *(identify(f"e{n}", "2026-04-01T00:00:00Z", city=f"c{n}") for n in range(60)))
    send(
        store,
        *(identify(f"d{n}", "2026-04-02T00:00:00Z", email=f"p{n}@x.com") for n in range(60)),
        *(order({"anonymousId": f"d{n}"}, "2026-04-02T00:01:00Z", n + 0.5) for n in range(60)),
    )
    # each e joins its d: 60 merges
    send(
        store, *(identify(f"e{n}", "2026-04-03T00:00:00Z", email=f"p{n}@x.com") for n in range(60))
    )
    from_tables = everyone(store)
    assert len(from_tables) == 63
    assert sum(bool(p["merged_ids"]) for p in from_tables.values()) == 61
    build_all(store)
    assert store.stats()["profile_documents"] == 63
    assert everyone(store) == from_tables


def test_an_event_takes_away_the_document_of_the_person_it_changes(store: Store) -> None:
    shop(store)
    build_all(store)
    send(store, identify("tablet", "2026-03-11T00:00:00Z", city="Hull"))
    assert not held(store, "anonymous_id:tablet")
    assert held(store, "email:ann@x.com") and held(store, "user_id:u9")
    shown = profile(store, find_profile(store, "anonymous_id:tablet") or 0)
    assert shown["traits"]["city"] == "Hull" and shown["traits"]["firstName"] == "Bo"
    build_all(store)
    assert held(store, "anonymous_id:tablet")
    assert profile(store, find_profile(store, "anonymous_id:tablet") or 0) == shown


def test_a_merge_takes_away_both_documents(store: Store) -> None:
    shop(store)
    build_all(store)
    tablet, u9 = find_profile(store, "anonymous_id:tablet"), find_profile(store, "user_id:u9")
    send(store, {"type": "identify", "anonymousId": "tablet", "userId": "u9",
                 "timestamp": "2026-03-12T00:00:00Z"})  # fmt: skip
    kept = find_profile(store, "user_id:u9")
    assert kept in {tablet, u9} and find_profile(store, "anonymous_id:tablet") == kept
    assert not held(store, "user_id:u9")
    before = profile(store, kept or 0)
    assert before["traits"]["firstName"] == "Bo" and before["computed_traits"]["orders_count"] == 1
    build_all(store)
    assert held(store, "user_id:u9") and profile(store, kept or 0) == before


def test_a_merge_made_by_a_match_run_takes_away_both_documents(store: Store) -> None:
    shop(store)
    build_all(store)
    link = Link(Identifier.parse("anonymous_id:tablet"), Identifier.parse("user_id:u9"), 0.99,
                links.BY_MODEL)  # fmt: skip
    store.writer.run(
        lambda con: store.identity.link(con, [link]),
        changes_stages=True,
    ).result()
    assert find_profile(store, "anonymous_id:tablet") == find_profile(store, "user_id:u9")
    assert not held(store, "user_id:u9")
    assert held(store, "email:ann@x.com")
    joined = profile(store, find_profile(store, "user_id:u9") or 0)
    assert joined["traits"]["firstName"] == "Bo" and len(joined["merged_ids"]) == 1


@pytest.mark.parametrize("change", ["recompute", "declare", "unmerge"])
def test_a_recompute_a_new_trait_or_an_unmerge_takes_away_every_document(
    store: Store, change: str
) -> None:
    shop(store)
    build_all(store)
    if change == "recompute":
        store.writer.run(store.profiles.recompute).result()
    elif change == "declare":
        definition = parse("hat_views", {"kind": "count", "event": "Product Viewed"}, "api")
        store.writer.run(
            lambda con: store.computed.declare(con, definition), changes_stages=True
        ).result()
    else:
        record_override(store, "detach", "email:ann@x.com")
    assert store.stats()["profile_documents"] == 0
    from_tables = everyone(store)
    if change == "declare":
        assert (
            from_tables[find_profile(store, "anonymous_id:phone") or 0]["computed_traits"][
                "hat_views"
            ]
            == 1
        )
    build_all(store)
    assert store.stats()["profile_documents"] == len(from_tables)
    assert everyone(store) == from_tables


def test_a_server_builds_documents_when_its_writer_is_idle(tmp_path: Path) -> None:
    with Store.open(tmp_path / "k.duckdb") as store:
        shop(store)
        assert store.stats()["profile_documents"] == 0  # a store opened by a command does not
        store.build_documents()
        deadline = time.monotonic() + 30
        while store.stats()["profile_documents"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.stats()["profile_documents"] == 3
        assert store.documents.due() is None
