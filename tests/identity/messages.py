"""Messages for the identity tests: identifiers of every JSON kind at every place stitching
reads, and places that are not mappings where a mapping is expected."""

from typing import Any

from hypothesis import strategies as st

from kenning.identity.rules import IdentityRules

CUSTOM = IdentityRules(
    custom={"loyalty_id": ("traits.loyalty_id", "properties.card.number"), "crm_id": ("crm",)},
    blocked=(*IdentityRules().blocked, "^blocked-.*$"),
)

# Values of every JSON kind, and the ones normalisation cares about: case and spaces, blocked
# placeholders, numbers (integral floats read as integers), phones in several formats.
raw_values = st.one_of(
    st.sampled_from(
        [
            "u1",
            " u1 ",
            "U1",
            "a@x.com",
            " A@X.com",
            "bad-email",
            "null",
            "0000-0000",
            "-1",
            "Test@Test.com",
            "blocked-7",
            "",
            "   ",
            "+44 7700 900123",
            "07700 900123",
            "+447700900123",
            "(415) 555-0100",
            "é\u00a0",
            "\u2028x",
            'quote"d',
        ]
    ),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.just({"nested": "x"}),
    st.just(["x"]),
    st.text(max_size=6),
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), value)


external_ids = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["loyalty_id", "email", "crm_id", ""]), "id": raw_values}
        ),
        st.fixed_dictionaries({"id": raw_values}),
        st.fixed_dictionaries({"type": st.integers(0, 9), "id": raw_values}),
        st.just("not an entry"),
    ),
    max_size=4,
)
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["identify", "track", "page", "alias", "screen"])},
    optional={
        "userId": raw_values,
        "anonymousId": raw_values,
        "previousId": raw_values,
        "traits": st.fixed_dictionaries(
            {}, optional={"email": raw_values, "phone": raw_values, "loyalty_id": raw_values}
        ),
        "context": st.fixed_dictionaries(
            {},
            optional={
                "traits": st.one_of(
                    st.fixed_dictionaries({}, optional={"email": raw_values, "phone": raw_values}),
                    st.just(["not", "a", "mapping"]),
                ),
                "device": st.fixed_dictionaries(
                    {},
                    optional={"id": raw_values, "advertisingId": raw_values, "token": raw_values},
                ),
                "externalIds": st.one_of(external_ids, st.just({"type": "x", "id": "y"})),
            },
        ),
        "properties": st.fixed_dictionaries(
            {}, optional={"card": st.one_of(st.fixed_dictionaries({"number": raw_values}))}
        ),
        "crm": raw_values,
        "event": st.just("Clicked"),
    },
)
# Messages with nothing but their two ids: the events stitching reads from the id columns.
ids_only = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "page", "screen", "identify"])},
    optional={"userId": raw_values, "anonymousId": raw_values},
)
