from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.identity.identifiers import (
    FIXED_PLACES,
    Identifier,
    _parsed_phone,
    extract_identifiers,
    holds_other_identifiers,
    id_identifiers,
    normalise,
    normalise_phone,
)
from kenning.identity.rules import IdentityRules
from tests.identity.messages import CUSTOM, messages

GB = IdentityRules(phone_region="GB")


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("email", "  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("email", "not-an-email", None),
        ("email", "test@test.com", None),
        ("phone", "07700 900123", "+447700900123"),
        ("phone", "+44 (0)7700-900123", "+447700900123"),
        ("phone", "447700900123", "+447700900123"),  # the country code without its +
        ("phone", "12", None),
        ("user_id", 12345, "12345"),
        ("user_id", " u-1 ", "u-1"),
        ("user_id", "0000", None),
        ("user_id", "-1", None),
        ("anonymous_id", "undefined", None),
        ("anonymous_id", "NULL", None),
        ("anonymous_id", "", None),
        ("anonymous_id", "x" * 1025, None),
        ("anonymous_id", True, None),
        ("device_id", "00000000-0000-0000-0000-000000000000", None),
    ],
)
def test_normalise(type_: str, raw: object, expected: str | None) -> None:
    assert normalise(type_, raw, GB) == expected


def test_every_identifier_kind_is_read_and_ordered_by_priority() -> None:
    message = {
        "type": "identify",
        "userId": "u1",
        "anonymousId": "a1",
        "traits": {"email": "A@B.com", "phone": "07700900123", "loyalty": "L-9"},
        "context": {
            "traits": {"email": "a@b.com"},
            "device": {"id": "dev-1", "advertisingId": "ad-1", "token": "push-1"},
            "externalIds": [{"id": "C-7", "type": "crm_id", "collection": "users"}],
        },
    }
    rules = IdentityRules(phone_region="GB", custom={"loyalty_id": ("traits.loyalty",)})
    assert [str(i) for i in extract_identifiers(message, rules)] == [
        "user_id:u1",
        "email:a@b.com",
        "phone:+447700900123",
        "advertising_id:ad-1",
        "device_id:dev-1",
        "push_token:push-1",
        "anonymous_id:a1",
        "crm_id:C-7",
        "loyalty_id:L-9",
    ]


def test_track_traits_are_not_identity_but_context_traits_are() -> None:
    message = {
        "type": "track",
        "userId": "u",
        "event": "E",
        "traits": {"email": "x@y.com"},
        "context": {"traits": {"phone": "07700900123"}},
    }
    assert [i.type for i in extract_identifiers(message, GB)] == ["user_id", "phone"]


def test_parse() -> None:
    assert Identifier.parse("email:a:b@c.com") == Identifier("email", "a:b@c.com")
    with pytest.raises(ValueError, match="TYPE:VALUE"):
        Identifier.parse("nocolon")


spaced_phones = st.builds(
    lambda plus, body: plus + body,
    st.sampled_from(["", "+"]),
    st.text(alphabet="0123456789" * 4 + " ()-.", max_size=22),
)


@settings(max_examples=3_000, deadline=None)
@given(spaced_phones, st.sampled_from(["GB", "US", "FR", "DE", "IT", "BR", "IN"]))
def test_a_phone_is_normalised_as_phonenumbers_reads_it_as_written(value: str, region: str) -> None:
    """Spacing is dropped before parsing (so each spacing of a number is parsed once), which
    must never change what the number normalises to."""
    assert normalise_phone(value, region) == _parsed_phone(value, region)


@pytest.mark.parametrize(
    "value", ["8.7", "+(+1(2274734983", "+)+6-5949.83(715377-", "0044 (0) 7700 900123", "+"]
)
def test_texts_that_parse_apart_from_their_bare_digits_are_parsed_as_written(value: str) -> None:
    for region in ("GB", "DE", "US"):
        assert normalise_phone(value, region) == _parsed_phone(value, region)


def _followed(message: Mapping[str, Any], dotted: str) -> object:
    """The value at a dotted path, followed key by key; None where a step is missing."""
    node: object = message
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _plainly(message: Mapping[str, Any], rules: IdentityRules) -> list[Identifier]:
    """The reading as first written, each path followed from the message by its dotted name,
    every value normalised and the duplicates dropped by a set: the reference for the fast
    one."""
    identify = message.get("type") == "identify"
    raw = [
        (type_, _followed(message, path))
        for path, type_, only in FIXED_PLACES
        if identify or not only
    ]
    external = _followed(message, "context.externalIds")
    if isinstance(external, list):
        raw += [
            (entry["type"], entry.get("id"))
            for entry in external
            if isinstance(entry, Mapping) and isinstance(entry.get("type"), str)
        ]
    raw += [
        (type_, _followed(message, path)) for type_, paths in rules.custom.items() for path in paths
    ]
    seen: set[Identifier] = set()
    found: list[Identifier] = []
    for type_, value in raw:
        text = normalise(type_, value, rules)
        if text is not None and Identifier(type_, text) not in seen:
            seen.add(Identifier(type_, text))
            found.append(Identifier(type_, text))
    return sorted(found, key=lambda i: rules.rank(i.type))


def _as_proxies(value: Any) -> Any:
    """The same message with every mapping a read-only proxy: a mapping that is not a dict."""
    if isinstance(value, dict):
        return MappingProxyType({k: _as_proxies(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_as_proxies(v) for v in value]
    return value


@settings(max_examples=500, deadline=None)
@given(
    messages,
    st.sampled_from([IdentityRules(), CUSTOM, IdentityRules(priority=("user_id",))]),
    st.booleans(),
)
def test_identifiers_are_read_as_each_path_followed_from_the_message_reads_them(
    message: dict[str, Any], rules: IdentityRules, proxied: bool
) -> None:
    """The fast reading (paths split once, dicts recognised before any mapping, missing values
    skipped before normalising) finds what following each dotted path finds, in its order;
    the shortened priority leaves most types tied, so the reading order shows."""
    read = _as_proxies(message) if proxied else message
    assert extract_identifiers(read, rules) == _plainly(read, rules)


@settings(max_examples=500, deadline=None)
@given(messages, st.booleans())
def test_a_message_said_to_hold_no_other_identifiers_holds_only_its_ids(
    message: dict[str, Any], proxied: bool
) -> None:
    """What a rebuild relies on to read an event's identifiers from the log's userId and
    anonymousId columns instead of its payload."""
    read = _as_proxies(message) if proxied else message
    if not holds_other_identifiers(read):
        ids = {k: read[k] for k in ("userId", "anonymousId") if k in read}
        assert extract_identifiers(read, IdentityRules()) == extract_identifiers(
            ids, IdentityRules()
        )


@settings(max_examples=500, deadline=None)
@given(messages, st.booleans())
def test_a_message_holds_other_identifiers_when_a_value_is_at_one_of_their_places(
    message: dict[str, Any], proxied: bool
) -> None:
    """The one walk of the places' tree answers as following each place's dotted path from the
    message does: the identify-only traits too (the hint does not know the call), externalIds
    and an alias's previousId."""
    read = _as_proxies(message) if proxied else message
    places = [path for path, _, _ in FIXED_PLACES if path not in ("userId", "anonymousId")]
    places += ["context.externalIds", "previousId"]
    assert holds_other_identifiers(read) == any(
        _followed(read, path) is not None for path in places
    )


_ids = st.one_of(
    st.none(),
    st.sampled_from(["", "  ", "null", "-1", "0", "anonymous", " u1 ", "a-9"]),
    st.text(max_size=12),
)


@settings(max_examples=500, deadline=None)
@given(
    _ids,
    _ids,
    st.sampled_from(
        [
            IdentityRules(),
            IdentityRules(priority=("anonymous_id", "user_id")),
            IdentityRules(priority=("email",)),
            IdentityRules(blocked=("^u",)),
        ]
    ),
)
def test_the_two_ids_are_read_as_a_message_holding_only_them_is(
    user_id: str | None, anonymous_id: str | None, rules: IdentityRules
) -> None:
    """What stitching reads from the log's two id columns: the same identifiers, in the same
    order, as from the message (a priority ranking the anonymous id first, or neither)."""
    message = {
        k: v for k, v in (("userId", user_id), ("anonymousId", anonymous_id)) if v is not None
    }
    assert id_identifiers(user_id, anonymous_id, rules) == extract_identifiers(message, rules)
