"""Households: normalised addresses, grouping, and the table on a real store."""

from datetime import date
from typing import Any

from kenning.identity.households import (
    address_key,
    compute_households,
    group,
    household_id,
    household_members,
    household_traits,
    normalise_street,
)
from kenning.store.store import Store
from tests.identity.test_stitching import send


def test_the_same_home_typed_differently_has_one_key() -> None:
    assert normalise_street("12, Oak St.") == "12 oak street"
    assert normalise_street("St Albans Rd") == "st albans road"  # only the last word expands
    assert address_key("12 Oak St", "SW1A 1AA", "London", "GB") == address_key(
        "12 OAK STREET", "sw1a1aa", "london", "gb"
    )
    assert address_key("12 Oak St", None, "London", "GB") != address_key(
        "14 Oak St", None, "London", "GB"
    )
    assert address_key(None, "SW1A 1AA", None, None) is None  # no street: no household
    assert address_key("12 Oak St", None, None, None) is None  # nowhere to place it


def test_grouping_by_address_and_optionally_surname() -> None:
    rows = [
        (1, "1 Elm Rd", "AB1 2CD", "Leeds", "GB", "Ng"),
        (2, "1 elm road", "AB12CD", "Leeds", "GB", "Smith"),
        (3, "2 Elm Rd", "AB1 2CD", "Leeds", "GB", "Ng"),
    ]
    by_address = group(rows)
    assert by_address[1] == by_address[2] != by_address[3]
    by_surname = group(rows, by_surname=True)
    assert by_surname[1] != by_surname[2]
    assert by_address[1] == household_id(address_key("1 Elm Rd", "AB1 2CD", "Leeds", "GB") or "")


def identify(message_id: str, anonymous_id: str, **address: str) -> dict[str, Any]:
    return {
        "type": "identify",
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "traits": {"address": address, "lastName": "Ng"},
        "timestamp": "2026-01-01T00:00:00Z",
    }


def test_households_on_a_store_follow_the_latest_address_and_merges(store: Store) -> None:
    send(store, identify("m1", "ann", street="1 Elm Rd", postalCode="AB1 2CD", country="GB"))
    send(store, identify("m2", "bob", street="1 ELM ROAD", postalCode="ab12cd", country="GB"))
    send(store, identify("m3", "cat", street="9 Far Lane", postalCode="ZZ9 9ZZ", country="GB"))
    summary = compute_households(store)
    assert summary.as_dict() == {
        "profiles_with_address": 3,
        "households": 2,
        "sizes": {"1": 1, "2": 1},
        "profiles_in_shared_households": 2,
    }
    ann = store.identity.graph.profile_for(_anon("ann"))
    home = household_id(address_key("1 Elm Rd", "AB1 2CD", None, "GB") or "")
    assert ann in household_members(store, home) and len(household_members(store, home)) == 2

    # cat moves in with them: her latest address decides, as a whole
    moved = identify("m4", "cat", street="1 Elm Road", postalCode="AB1 2CD", country="GB")
    send(store, {**moved, "timestamp": "2026-03-01T00:00:00Z"})
    compute_households(store)
    assert len(household_members(store, home)) == 3


def _anon(value: str) -> Any:
    from kenning.identity.identifiers import Identifier

    return Identifier("anonymous_id", value)


def test_a_merge_after_the_computation_shows_the_profile_once(store: Store) -> None:
    send(store, identify("m1", "ann", street="1 Elm Rd", postalCode="AB1 2CD", country="GB"))
    send(store, identify("m2", "bob", street="1 Elm Rd", postalCode="AB1 2CD", country="GB"))
    compute_households(store)
    home = household_id(address_key("1 Elm Rd", "AB1 2CD", None, "GB") or "")
    assert len(household_members(store, home)) == 2
    # ann and bob turn out to be one person (the same email on both devices)
    for message_id, anonymous_id in (("m3", "ann"), ("m4", "bob")):
        send(
            store,
            {
                "type": "identify",
                "messageId": message_id,
                "anonymousId": anonymous_id,
                "traits": {"email": "one@x.com"},
            },
        )
    assert household_members(store, home) == [store.identity.graph.profile_for(_anon("ann"))]


def test_a_households_composition_is_each_members_traits(store: Store) -> None:
    home = {"street": "3 Oak Close", "postalCode": "OC1 1AA", "country": "GB"}
    today = date.today()
    people = (("mum", date(today.year - 40, 1, 1)), ("kid", date(today.year - 9, 1, 1)))
    for name, born in people:
        message = identify(f"b-{name}", name, **home)
        message["traits"]["birthday"] = born.isoformat()
        send(store, message)
    send(store, identify("b-lodger", "lodger", **home))  # no birthday given
    send(store, identify("b-far", "far", street="8 Elm Rd", postalCode="EL1 1AA", country="GB"))
    # the kid's birthday given again later, in an event without an address: the newest counts
    send(
        store,
        {
            "type": "identify",
            "messageId": "b-kid-grown",
            "anonymousId": "kid",
            "traits": {"birthday": date(today.year - 30, 1, 1).isoformat()},
            "timestamp": "2026-02-01T00:00:00Z",
        },
    )
    compute_households(store)
    mum, kid, lodger = (
        store.identity.graph.profile_for(_anon(n)) for n in ("mum", "kid", "lodger")
    )
    traits = household_traits(store, mum or 0)
    assert traits is not None
    assert traits["household_id"] == household_id(
        address_key("3 Oak Close", "OC11AA", None, "GB") or ""
    )
    assert traits["household_size"] == 3
    assert traits["household_others"] == sorted([kid, lodger])
    assert (
        traits["household_adults"],
        traits["household_children"],
        traits["household_age_unknown"],
    ) == (2, 0, 1)
    far = household_traits(store, store.identity.graph.profile_for(_anon("far")) or 0)
    assert far is not None and far["household_size"] == 1 and far["household_others"] is None
    assert household_traits(store, 10**9) is None
