"""Customer-understanding levels on a real store: a profile exactly at each level and one just
short of the next, worked out per profile (the Profile API's way) and for every profile at once
(SQL), which must agree; the distribution covers every profile; rules from the configuration."""

from pathlib import Path
from typing import Any

import pytest

from kenning.profiles.computed.definitions import parse
from kenning.profiles.read import find_profile, profile
from kenning.profiles.state import ProfileSettings
from kenning.profiles.understanding import (
    LABELS,
    Params,
    Threshold,
    UnderstandingRules,
    has_value,
    understanding_sql,
)
from kenning.settings import ConfigError, load_config
from kenning.store.store import Store
from tests.profiles.test_state import send

AT = "2026-03-01T10:00:00Z"


def identify(ids: dict[str, str], **traits: Any) -> dict[str, Any]:
    return {"type": "identify", **ids, "traits": traits, "timestamp": AT}


def page(ids: dict[str, str], at: str = AT) -> dict[str, Any]:
    return {"type": "page", **ids, "name": "Home", "timestamp": at}


def order(ids: dict[str, str], channel: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"revenue": 20}
    if channel is not None:
        properties["channel"] = channel  # else the channel is the source's name ("src")
    return {
        "type": "track",
        **ids,
        "event": "Order Completed",
        "properties": properties,
        "timestamp": AT,
    }


def anon(name: str) -> dict[str, str]:
    return {"anonymousId": f"a-{name}"}


def user(name: str) -> dict[str, str]:
    return {"userId": f"u-{name}"}


# name -> (messages, expected level, the requirements it misses for the next level)
CASES: dict[str, tuple[list[dict[str, Any]], int, list[str]]] = {
    "anonymous": ([page(anon("anonymous"))], 0, ["contact"]),
    # Everything but a contact identifier: the levels are cumulative.
    "device_only_but_rich": (
        [
            identify(anon("rich"), firstName="Dee", address={"city": "Leeds"}, twitter="@dee"),
            order(anon("rich"), "store"),
            page(anon("rich")),
        ],
        0,
        ["contact"],
    ),
    "email_only": ([identify(anon("email"), email="eo@example.com")], 1, ["name", "demographics"]),
    "named_without_demographics": (
        [identify(user("named"), firstName="Nia")],
        1,
        ["demographics"],
    ),
    "blank_demographics": (
        [
            identify(
                anon("blank"),
                email="blank@example.com",
                lastName="Bo",
                gender="  ",
                address={"city": None, "country": ""},
                age=[],
                birthday={},
            )
        ],
        1,
        ["demographics"],
    ),
    "name_cleared_later": (
        [
            identify(
                anon("cleared"), phone="+44 7700 900123", firstName="Cy", birthday="1990-01-02"
            ),
            {**identify(anon("cleared"), firstName=None), "timestamp": "2026-03-02T00:00:00Z"},
        ],
        1,
        ["name"],
    ),
    "identified": (
        [identify(user("identified"), name="Ola Ray", address={"country": "GB"})],
        2,
        ["transactional_or_social"],
    ),
    # Behaviour without transactions or social data stays at 2.
    "identified_and_engaged": (
        [
            identify(user("engaged"), firstName="En", age=40),
            page(user("engaged")),
            {**order(user("engaged"), "app"), "event": "Product Viewed"},
        ],
        2,
        ["transactional_or_social"],
    ),
    "buyer_on_one_channel": (
        [
            identify(
                user("buyer"), email="buyer@example.com", firstName="Bu", birthday="1980-05-06"
            ),
            order(user("buyer")),
            page(user("buyer")),
        ],
        3,
        ["behavioural"],
    ),
    "social_without_orders": (
        [identify(user("social"), lastName="So", gender="f", social={"instagram": "@so"})],
        3,
        ["behavioural"],
    ),
    "complete": (
        [
            # browsing on a device first, a profile of its own until the login joins them
            page(anon("complete"), "2026-02-01T00:00:00Z"),
            identify(user("complete"), email="co@example.com", firstName="Co", gender="m"),
            order(user("complete"), "store"),
            {**page(user("complete")), **anon("complete")},
        ],
        4,
        [],
    ),
    "complete_through_social": (
        [
            identify(user("cs"), firstName="Cs", address={"postalCode": "LS1"}, instagram="cs"),
            page(user("cs")),
            {**order(user("cs"), "app"), "event": "Product Viewed"},
        ],
        4,
        [],
    ),
}


def _levels_in_sql(store: Store) -> dict[int, dict[str, Any]]:
    store.tallies.now()  # as coverage does: every event in the tallies the SQL reads
    params = Params()
    sql = understanding_sql(
        store.profile_settings.understanding, store.computed.definitions, params
    )
    with store.reader() as con:
        cursor = con.execute(sql, params.values)
        columns = [d[0] for d in cursor.description or ()]
        return {int(row[0]): dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}


def _load(store: Store) -> dict[str, int]:
    for messages, _, _ in CASES.values():
        send(store, *messages)
    found = {}
    for name, (messages, _, _) in CASES.items():
        ids = messages[-1]
        key = (
            f"user_id:{ids['userId']}" if "userId" in ids else f"anonymous_id:{ids['anonymousId']}"
        )
        profile_id = find_profile(store, key)
        assert profile_id is not None
        found[name] = profile_id
    return found


def test_each_level_exactly_and_just_short_of_the_next(store: Store) -> None:
    profiles = _load(store)
    in_sql = _levels_in_sql(store)
    for name, (_, level, missing) in CASES.items():
        shown = profile(store, profiles[name])["understanding"]
        assert (shown["level"], shown["label"]) == (level, LABELS[level]), name
        assert [m["requirement"] for m in shown["missing"]] == missing, name
        row = in_sql[profiles[name]]
        assert row["level"] == level, (name, row)
        assert not any(row[m] for m in missing), (name, row)
    # the merge: the anonymous browsing counts towards the person who logged in
    complete = profile(store, profiles["complete"])
    assert complete["merged_ids"] and set(complete["computed_traits"]["channels_used"]) == {
        "src",
        "store",
    }


def test_the_distribution_covers_every_profile_once(store: Store) -> None:
    profiles = _load(store)
    in_sql = _levels_in_sql(store)
    with store.reader() as con:
        every = con.execute("SELECT DISTINCT profile_id FROM kenning_identifiers").fetchall()
    assert set(in_sql) == set(profiles.values()) == {int(p) for (p,) in every}
    counts = [sum(1 for row in in_sql.values() if row["level"] == lv) for lv in range(5)]
    expected = [sum(1 for _, lv, _ in CASES.values() if lv == level) for level in range(5)]
    assert counts == expected and sum(counts) == len(profiles)


def test_what_each_requirement_says_is_the_configured_rule(store: Store) -> None:
    send(store, identify(anon("x"), email="x@example.com"))
    shown = profile(store, find_profile(store, "email:x@example.com") or 0)["understanding"]
    assert shown["missing"] == [
        {"requirement": "name", "rule": "a name: one of the traits firstName, lastName, name"},
        {
            "requirement": "demographics",
            "rule": "a demographic trait: one of birthday, age, gender, address.city, "
            "address.postalCode, address.country",
        },
    ]


def _open(tmp_path: Path, rules: UnderstandingRules, *declared: dict[str, Any]) -> Store:
    settings = ProfileSettings(
        computed_traits=tuple(parse(str(d["name"]), d["spec"]) for d in declared),
        understanding=rules,
    )
    return Store.open(tmp_path / "k.duckdb", profiles=settings)


def test_thresholds_on_a_declared_trait_and_other_contact_identifiers(tmp_path: Path) -> None:
    rules = UnderstandingRules(
        contact_identifiers=("loyalty_id",),
        transactional=Threshold("lifetime_value", 50),
        social_traits=(),
        behavioural=Threshold("product_views", 3),
    )
    views = {"name": "product_views", "spec": {"kind": "count", "event": "Product Viewed"}}
    with _open(tmp_path, rules, views) as store:
        card = {"context": {"externalIds": [{"type": "loyalty_id", "id": "L1"}]}}

        def viewed(n: int) -> list[dict[str, Any]]:
            return [
                {**order({**anon("l1"), **card}, "web"), "event": "Product Viewed"}
                for _ in range(n)
            ]

        send(store, identify({**anon("l1"), **card}, firstName="Lo", gender="f", twitter="@lo"))
        send(store, identify(user("web"), firstName="We", gender="m", email="we@example.com"))
        loyal = find_profile(store, "loyalty_id:L1")
        assert loyal is not None and find_profile(store, "user_id:u-web") is not None

        def level(profile_id: int) -> tuple[int, int]:
            return profile(store, profile_id)["understanding"]["level"], _levels_in_sql(store)[
                profile_id
            ]["level"]

        # a social trait is no level 3 when the brand lists none; an email is no contact here
        assert level(loyal) == (2, 2)
        web = find_profile(store, "user_id:u-web")
        assert web is not None and level(web) == (0, 0)
        send(
            store,
            order({**anon("l1"), **card}),
            {**order({**anon("l1"), **card}), "properties": {"revenue": 29.5}},
        )
        assert level(loyal) == (2, 2)  # 49.5 < 50
        send(store, {**order({**anon("l1"), **card}), "properties": {"revenue": 0.5}})
        assert level(loyal) == (3, 3)
        send(store, *viewed(2))
        assert level(loyal) == (3, 3)
        send(store, *viewed(1))
        assert level(loyal) == (4, 4)


def test_a_threshold_on_a_trait_with_no_number_is_never_met(tmp_path: Path) -> None:
    rules = UnderstandingRules(behavioural=Threshold("preferred_channel", 1))
    with _open(tmp_path, rules) as store:
        send(
            store,
            identify(user("p"), firstName="Pa", gender="f"),
            order(user("p"), "web"),
            order(user("p"), "app"),
        )
        profile_id = find_profile(store, "user_id:u-p")
        assert profile_id is not None
        shown = profile(store, profile_id)["understanding"]
        assert shown["level"] == 3 == _levels_in_sql(store)[profile_id]["level"]
        assert shown["missing"][0]["rule"] == (
            "behavioural data (preferred_channel >= 1; never met: preferred_channel is no "
            "computed number)"
        )


@pytest.mark.parametrize(
    ("value", "present"),
    [(None, False), ("", False), ("   ", False), ([], False), ({}, False), ("\tx", True),
     (0, True), (False, True), ([None], True), ({"a": None}, True), ("x", True)],
)  # fmt: skip
def test_blank_values_tell_nothing_in_python_and_in_sql(value: Any, present: bool) -> None:
    import duckdb
    import orjson

    from kenning.profiles.understanding import present_sql

    assert has_value(value) is present
    con = duckdb.connect()
    sql = f"SELECT {present_sql('v')} FROM (SELECT ?::JSON AS v)"
    assert con.execute(sql, [orjson.dumps(value).decode()]).fetchone() == (present,)


def test_rules_from_the_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "kenning.yaml"
    config.write_text(
        "profiles:\n  understanding:\n    contact_identifiers: [email, crm_id]\n"
        "    social_traits: []\n    behavioural: {trait: product_views, at_least: 3}\n"
    )
    rules = load_config(config)["profiles"].understanding  # type: ignore[attr-defined]
    assert rules == UnderstandingRules(
        contact_identifiers=("email", "crm_id"),
        social_traits=(),
        behavioural=Threshold("product_views", 3),
    )
    for bad, message in [
        ("colour: red", "profiles.understanding: unknown keys colour"),
        ("name_traits: []", "profiles.understanding.name_traits must be a list of names"),
        ("behavioural: {trait: x, at_least: 0}", "behavioural.at_least must be a number above 0"),
        ("transactional: {trait: x}", "profiles.understanding.transactional must be {trait:"),
        ("contact_identifiers: email", "contact_identifiers must be a list of names"),
    ]:
        config.write_text(f"profiles:\n  understanding:\n    {bad}\n")
        with pytest.raises(ConfigError, match=message.replace("{", r"\{")):
            load_config(config)
