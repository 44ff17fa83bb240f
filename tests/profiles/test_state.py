"""Profile state on a real store: traits merged field by field, newest wins, merges combine,
unmerges rebuild, consent and its history, source priority, live equals a recompute."""

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.identity.stitching import RebuiltProfiles
from kenning.identity.unmerge import record_override
from kenning.ingest.pipeline import prepare_messages
from kenning.profiles.read import consent_history, find_profile, profile
from kenning.profiles.rows import profile_ids
from kenning.profiles.state import ProfileSettings
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.identity.test_stitching import NOW


def send(
    store: Store, *messages: dict[str, Any], source: str = "src", received: datetime = NOW
) -> None:
    prepared = prepare_messages(
        list(messages), source_id=source, received_at=received, limits=Limits()
    )
    assert not prepared.rejections
    store.write_events(prepared.events).result()


def identify(anonymous_id: str, at: str, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "anonymousId": anonymous_id, "traits": traits, "timestamp": at}


def shown(store: Store, identifier: str) -> dict[str, Any]:
    profile_id = find_profile(store, identifier)
    assert profile_id is not None
    return profile(store, profile_id)


def test_nested_traits_merge_field_by_field_and_the_newest_wins(store: Store) -> None:
    send(
        store,
        identify(
            "a1",
            "2026-03-01T00:00:00Z",
            firstName="Ann",
            address={"street": "1 Elm Rd", "city": "Leeds"},
        ),
    )
    send(store, identify("a1", "2026-04-01T00:00:00Z", address={"city": "York"}))
    # history imported late: older than what we know, it changes nothing it competes with
    send(store, identify("a1", "2025-01-01T00:00:00Z", firstName="Anne", gender="f"))
    found = shown(store, "anonymous_id:a1")
    assert found["traits"] == {
        "firstName": "Ann",
        "address": {"street": "1 Elm Rd", "city": "York"},
        "gender": "f",
    }
    assert found["trait_sources"]["address.city"]["at"].startswith("2026-04-01")


def test_context_traits_count_and_identify_traits_win_within_one_call(store: Store) -> None:
    send(
        store,
        {
            "type": "track",
            "event": "Viewed",
            "anonymousId": "a1",
            "context": {"traits": {"plan": "free"}},
            "timestamp": "2026-03-01T00:00:00Z",
        },
        {
            "type": "identify",
            "anonymousId": "a1",
            "traits": {"tier": "gold"},
            "context": {"traits": {"tier": "silver"}},
            "timestamp": "2026-03-02T00:00:00Z",
        },
    )
    assert shown(store, "anonymous_id:a1")["traits"] == {"plan": "free", "tier": "gold"}


def test_a_merge_combines_state_and_an_unmerge_rebuilds_it(store: Store) -> None:
    send(store, identify("laptop", "2026-03-01T00:00:00Z", firstName="Ann", city="Leeds"))
    send(store, identify("phone", "2026-03-05T00:00:00Z", city="York", phone="+447700900001"))
    laptop, phone = (
        find_profile(store, "anonymous_id:laptop"),
        find_profile(store, "anonymous_id:phone"),
    )
    assert laptop != phone
    # the email joins the two devices: one person, newest values win across both
    send(store, identify("laptop", "2026-03-02T00:00:00Z", email="ann@x.com"))
    send(store, identify("phone", "2026-03-06T00:00:00Z", email="ann@x.com"))
    merged = shown(store, "email:ann@x.com")
    assert merged["traits"]["city"] == "York" and merged["traits"]["firstName"] == "Ann"
    assert merged["profile_id"] == laptop and merged["merged_ids"] == [phone]
    assert shown(store, f"profile_id:{phone}")["profile_id"] == laptop  # a merged id leads on

    record_override(store, "detach", "email:ann@x.com")
    laptop_now = shown(store, "anonymous_id:laptop")
    phone_now = shown(store, "anonymous_id:phone")
    assert laptop_now["profile_id"] != phone_now["profile_id"]
    assert laptop_now["traits"]["city"] == "Leeds" and "phone" not in laptop_now["traits"]
    assert phone_now["traits"]["city"] == "York" and "firstName" not in phone_now["traits"]


def test_consent_from_context_and_traits_with_its_history(store: Store) -> None:
    def choose(at: str, **preferences: bool) -> dict[str, Any]:
        return {
            "type": "track",
            "event": "Consent Updated",
            "anonymousId": "a1",
            "context": {"consent": {"categoryPreferences": preferences}},
            "timestamp": at,
        }

    send(store, choose("2026-03-01T00:00:00Z", marketing_email=True, analytics=True))
    send(store, choose("2026-03-02T00:00:00Z", marketing_email=True))  # no change
    send(
        store,
        identify(
            "a1",
            "2026-03-03T00:00:00Z",
            consent={"categoryPreferences": {"marketing_email": False, "advertising": "yes"}},
        ),
    )
    found = shown(store, "anonymous_id:a1")
    assert {c: v["granted"] for c, v in found["consent"].items()} == {
        "analytics": True,
        "marketing_email": False,  # "yes" is no decision
    }
    assert "consent" not in found["traits"]
    with store.reader() as con:
        history = consent_history(con, profile_ids(con, found["profile_id"]))
    assert [(h["category"], h["granted"]) for h in history] == [
        ("analytics", True),
        ("marketing_email", True),
        ("marketing_email", False),
    ]


def test_a_trusted_source_wins_over_newer_values(tmp_path: Path) -> None:
    with Store.open(
        tmp_path / "k.duckdb", profiles=ProfileSettings(source_priority=("crm",))
    ) as store:
        crm = store.sources.create("crm").source.id
        web = store.sources.create("web").source.id
        send(store, identify("a1", "2026-03-01T00:00:00Z", lastName="Smith"), source=crm)
        send(
            store, identify("a1", "2026-03-09T00:00:00Z", lastName="Smyth", city="Hull"), source=web
        )
        found = shown(store, "anonymous_id:a1")
        assert found["traits"] == {"lastName": "Smith", "city": "Hull"}
        assert found["trait_sources"]["lastName"]["source"] == "crm"


def test_unknown_identifiers_and_ids_find_nothing(store: Store) -> None:
    send(store, identify("a1", "2026-03-01T00:00:00Z", email="Ann@X.com"))
    assert find_profile(store, "email: ANN@x.com") == find_profile(store, "anonymous_id:a1")
    assert find_profile(store, "email:nobody@x.com") is None
    assert find_profile(store, "profile_id:999") is None


trait_value = st.one_of(st.integers(0, 3), st.sampled_from(["x", "y", None]))
message = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["identify", "track"]),
        "anonymousId": st.sampled_from(["a1", "a2", "a3"]),
        "day": st.integers(1, 9),
    },
    optional={
        "email": st.sampled_from(["e1@x.com", "e2@x.com"]),
        "traits": st.dictionaries(
            st.sampled_from(["plan", "city", "address"]),
            st.one_of(trait_value, st.fixed_dictionaries({}, optional={"zip": trait_value})),
            max_size=3,
        ),
        "consent": st.dictionaries(
            st.sampled_from(["ads", "email"]), st.booleans(), min_size=1, max_size=2
        ),
    },
)


def as_message(drawn: dict[str, Any]) -> dict[str, Any]:
    built: dict[str, Any] = {
        "type": drawn["type"],
        "anonymousId": drawn["anonymousId"],
        "timestamp": f"2026-03-0{drawn['day']}T00:00:00Z",
        "context": {},
    }
    traits = dict(drawn.get("traits", {}))
    if "email" in drawn:
        traits["email"] = drawn["email"]
    if drawn["type"] == "track":
        built["event"] = "E"
        built["context"]["traits"] = traits
    else:
        built["traits"] = traits
    if "consent" in drawn:
        built["context"]["consent"] = {"categoryPreferences": drawn["consent"]}
    return built


@settings(max_examples=40, deadline=None)
@given(st.lists(message, min_size=1, max_size=25), st.integers(1, 5))
def test_live_state_equals_a_recompute_from_the_log(
    drawn: list[dict[str, Any]], group: int
) -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb") as store,
    ):
        messages = [as_message(d) for d in drawn]
        for start in range(0, len(messages), group):
            send(store, *messages[start : start + group])
        profiles = sorted(store.identity.graph.partition())
        live = {p: profile(store, p) for p in profiles}
        store.writer.run(store.profiles.recompute).result()
        assert {p: profile(store, p) for p in profiles} == live


def test_many_traits_at_once_take_the_bulk_path_with_the_same_result(store: Store) -> None:
    many = {f"t{i:02d}": i for i in range(40)}  # more than the few written with parameters
    send(store, identify("a1", "2026-03-01T00:00:00Z", **many))
    send(store, identify("a1", "2026-02-01T00:00:00Z", **{k: -1 for k in many}))  # older
    found = shown(store, "anonymous_id:a1")
    assert found["traits"] == many
    store.writer.run(store.profiles.recompute).result()
    assert shown(store, "anonymous_id:a1") == found


override = st.one_of(
    st.tuples(
        st.just("never_join"),
        st.sampled_from(["anonymous_id:a1", "anonymous_id:a2", "email:e1@x.com"]),
        st.sampled_from(["anonymous_id:a3", "email:e2@x.com"]),
    ),
    st.tuples(st.just("detach"), st.sampled_from(["email:e1@x.com", "email:e2@x.com"]), st.none()),
)


def crowd() -> list[dict[str, Any]]:
    """People the overrides below never touch, with traits, consent and orders: their events
    outnumber the others', so a rebuild recomputes the people it changed, not everyone."""
    messages: list[dict[str, Any]] = []
    for n in range(6):
        for day in range(1, 6):
            messages.append(identify(f"c{n}", f"2026-03-0{day}T00:00:00Z", plan=f"p{day % 3}"))
            messages.append(
                {"type": "track", "event": "Order Completed", "anonymousId": f"c{n}",
                 "timestamp": f"2026-03-0{day}T00:00:00Z", "properties": {"revenue": day},
                 "context": {"consent": {"categoryPreferences": {"ads": day % 2 == 0}}}}
            )  # fmt: skip
    return messages


@settings(max_examples=40, deadline=None)
@given(st.lists(message, min_size=1, max_size=25), override)
def test_a_rebuild_recomputes_the_state_of_the_people_it_changed_as_a_whole_recompute_would(
    drawn: list[dict[str, Any]], chosen: tuple[str, str, str | None]
) -> None:
    """An override's rebuild recomputes profile state and computed traits only for the profiles
    whose events it moved (stable ids leave everyone else's where they were): every profile
    then reads as after recomputing everyone's from the log."""
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb") as store,
    ):
        send(store, *crowd())
        for d in drawn:
            send(store, as_message(d))
            if d["type"] == "track":  # an order too, for computed traits to count and sum
                send(store, {**as_message(d), "event": "Order Completed",
                             "properties": {"revenue": d["day"]}})  # fmt: skip
        told: list[RebuiltProfiles | None] = []
        store.identity.on_rebuilt.insert(0, lambda _, changed: told.append(changed))
        kind, a, b = chosen
        record_override(store, kind, a, b)
        assert len(told) == 1 and told[0] is not None  # the people changed, not everyone
        profiles = sorted(store.identity.graph.partition())
        rebuilt = {p: profile(store, p) for p in profiles}

        def recompute_everyone(con: Any) -> None:
            store.profiles.recompute(con)
            store.computed.recompute(con)

        store.writer.run(recompute_everyone).result()
        assert {p: profile(store, p) for p in profiles} == rebuilt
