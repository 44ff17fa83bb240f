"""The two evaluators agree: Python (``holds`` over ``person_facts``, the real-time path) and
SQL (``evaluate_all``, the batch) choose the same members, for random people on a real store
and random conditions built from every kind of node. Also: one value rule at a time, on random
values; and computed traits' values for everyone in SQL (``computed_values_sql``) against the
values ``computed/read.py`` gives one profile."""

import math
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kenning.audiences.audience import Audience, in_order, parse_audience
from kenning.audiences.conditions import HOUSEHOLD_FIELDS, parse, walk
from kenning.audiences.evaluate import holds
from kenning.audiences.membership import (
    ENTERED,
    apply_batch,
    evaluate_all,
    evaluate_people,
    person_facts,
)
from kenning.audiences.realtime import batch_evaluate
from kenning.audiences.values import as_time
from kenning.identity.households import compute_households, household_traits
from kenning.ingest.pipeline import prepare_messages
from kenning.predictions.scores import people_scores, replace_scores
from kenning.profiles.computed.current import computed_values_sql
from kenning.profiles.computed.read import computed_traits
from kenning.profiles.rows import read_people
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.audiences.test_values import TYPICAL, in_python, in_sql

# The events' clock. Events sit whole days and 6 hours before it, so no window's edge (whole
# days, 12h, 36h) comes near one while the test runs.
NOW = datetime.now(UTC).replace(microsecond=0)
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _day(days: int) -> datetime:
    return NOW + timedelta(days=days)


def _birthday(days: int) -> str:
    day = _day(days).date()
    return day.replace(year=1992).isoformat()  # 1992 is a leap year: 29 February is fine


# Trait values that are easy to read differently: numbers, numbers as text (one not finite,
# one with a space), booleans, null, objects, lists, dates and times with and without offsets,
# text that looks like a time and is none.
TIMES = [
    *(_day(d).date().isoformat() for d in (-400, -30, -7, -3, -1, 0, 1, 3, 7, 30, 400)),
    *(_birthday(d) for d in (-3, 0, 1, 6, 7, 200)),
    *(_day(d).isoformat() for d in (-45, -8, -1, 2)),
    *((_day(d) - timedelta(hours=6)).replace(tzinfo=None).isoformat() for d in (-29, -3, 5)),
    *((_day(d) + timedelta(hours=3)).astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") for d in (-2, 10)),
    (_day(-3) - timedelta(hours=30)).isoformat().replace("+00:00", "+05:30"),
    (_day(1)).isoformat().replace("+00:00", "-08:00"),
    "2000-02-29",
    "2024-02-29T23:30:00-01:00",
    "1990-12-31T23:30:00-02:00",
    "2024-02-30",
    "2023-02-29",
    "2024-13-01",
    "2024-01-01T25:00:00",
    "2024-01-01T10:00:00.1234567",
    "not a date",
]
VALUES = [
    0, 1, 1.0, -1, 9.5, 10, 100, 1e16, 2**63 - 1, "1", "10", " 7", "1e3", "1e999", "-0",
    "9.5", True, False, None, "", "pro", "Leeds", "é日", "vip", {"city": "Leeds"},
    {"city": None}, {}, ["vip", "x"], [1, "1", True], [], [{"a": 1}], ["web"], *TIMES,
]  # fmt: skip
ADDRESSES: list[Any] = [
    {"street": "12 Oak St", "city": "Leeds", "postalCode": "LS1 1AA"},
    {"street": "12 OAK STREET", "city": "leeds", "postalCode": "ls11aa"},  # the same home
    {"street": "1 High St", "city": "York"},
    {"city": "Leeds"},  # nowhere to live: no household
    "12 Oak St",
    None,
]
TRAIT_KEYS = ["plan", "score", "when", "tags", "vip", "birthday"]
CATEGORIES = ["marketing_email", "sms"]
EVENTS = ["Order Completed", "Order Completed", "Product Viewed", "Signed Up"]
PROPERTIES = {
    "category": st.sampled_from(["shoes", "shoes", "hats", 1, None]),
    "revenue": st.sampled_from([10, "25.5", 100.0, 600, None, "x", -5]),
    "channel": st.sampled_from(["web", "app", 1]),
}

drawn_messages = st.fixed_dictionaries(
    {
        "who": st.integers(0, 3),
        "device": st.integers(0, 1),
        "kind": st.sampled_from(["identify", "identify", "track", "track", "track", "page"]),
        "user": st.sampled_from([True, True, False]),
        "day": st.integers(0, 60),
    },
    optional={
        "traits": st.dictionaries(st.sampled_from(TRAIT_KEYS), st.sampled_from(VALUES), max_size=3),
        "address": st.sampled_from(ADDRESSES),
        "event": st.sampled_from(EVENTS),
        "properties": st.fixed_dictionaries({}, optional=PROPERTIES),
        "consent": st.dictionaries(st.sampled_from(CATEGORIES), st.booleans(), max_size=2),
    },
)


@st.composite
def logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Drawn messages, with identifies joining a browser to its person's user id here and
    there: browsers seen before are merged, and events can follow the merge."""
    drawn = draw(st.lists(drawn_messages, min_size=1, max_size=24))
    joins = draw(
        st.lists(
            st.tuples(st.integers(0, len(drawn)), st.integers(0, 3), st.integers(0, 1)),
            max_size=4,
        )
    )
    for position, who, device in sorted(joins, reverse=True):
        day = draw(st.integers(0, 60))
        joining = {"who": who, "device": device, "kind": "identify", "user": True, "day": day}
        drawn.insert(position, joining)
    return drawn


def as_message(drawn: dict[str, Any], index: int) -> dict[str, Any]:
    at = NOW - timedelta(days=drawn["day"], hours=6, seconds=index)
    who = drawn["who"]
    # Two browsers per person; a person who identifies joins them under one user id, which
    # people 0 and 2, 1 and 3 share: current profiles combine several.
    message: dict[str, Any] = {
        "anonymousId": f"a{who}_{drawn['device']}",
        "timestamp": at.isoformat(),
    }
    if "consent" in drawn:
        message["context"] = {"consent": {"categoryPreferences": drawn["consent"]}}
    if drawn["kind"] == "identify":
        traits = dict(drawn.get("traits", {}))
        if "address" in drawn:
            traits["address"] = drawn["address"]
        message.update(type="identify", traits=traits)
        if drawn["user"]:
            message["userId"] = f"u{who % 2}"
    elif drawn["kind"] == "track":
        message.update(type="track", event=drawn.get("event", "Order Completed"))
        message["properties"] = drawn.get("properties", {})
    else:
        message.update(type="page", properties=drawn.get("properties", {}))
    return message


# -- conditions --------------------------------------------------------------------------------

SCALARS = [1, 1.0, "1", True, False, 0, 2, 10, 9.5, "pro", "Leeds", "vip", "web", "app", "src",
           "shoes", "hats", "", "2000-02-29"]  # fmt: skip
ORDERED = [0, 1, 2, 9.5, 10, 50, 100, 600.0, 1000, -1, 1e16, "2024-01-01",
           "2000-02-29T12:00:00+02:00", _day(-20).date().isoformat(), _day(3).isoformat(),
           _day(-2).replace(tzinfo=None).isoformat()]  # fmt: skip
SPANS = ["1d", "7d", "30d", "12h", "36h", "2w", "400d"]
PREDICTIONS = ["churn_30d", "rfm_segment", "never_made"]
TRAIT_PATHS = [*TRAIT_KEYS, "address", "address.city", "address.street", "nothing"]
COMPUTED = ["lifetime_value", "orders_count", "last_order_at", "channels_used",
            "favourite_category", "average_order_value", "first_seen", "last_seen",
            "devices_count", "preferred_channel", "nope"]  # fmt: skip
WHERES: list[dict[str, Any]] = [
    {"properties.category": "shoes"},
    {"properties.revenue": {"gte": 50}},
    {"properties.category": {"in": ["shoes", 1]}},
    {"properties.revenue": {"exists": False}},
    {"properties.channel": {"ne": "web"}},
]
COUNTS: list[dict[str, Any]] = [
    {}, {"performed": True}, {"performed": False}, {"at_least": 2}, {"at_most": 1},
    {"at_least": 1, "at_most": 2}, {"at_least": 0}, {"at_most": 0},
]  # fmt: skip

operators = st.one_of(
    st.tuples(st.sampled_from(["eq", "ne", "contains"]), st.sampled_from(SCALARS)),
    st.tuples(
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(SCALARS), min_size=1, max_size=3),
    ),
    st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), st.sampled_from(ORDERED)),
    st.tuples(st.just("exists"), st.booleans()),
    st.tuples(
        st.sampled_from(["within_last", "before_last", "within_next", "anniversary_within"]),
        st.sampled_from(SPANS),
    ),
)


def _value_node(kind: str, names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda name, op: {kind: name, op[0]: op[1]}, st.sampled_from(names), operators)


event_nodes = st.builds(
    lambda base, counts: {**base, **counts},
    st.fixed_dictionaries(
        {
            "event": st.sampled_from(
                ["Order Completed", "Product Viewed", ["Order Completed", "Signed Up"], "Nope"]
            )
        },
        optional={
            "type": st.sampled_from([["track"], ["page", "track"], ["identify"]]),
            "where": st.sampled_from(WHERES),
            "within": st.sampled_from(["7d", "30d", "45d", "36h"]),
        },
    ),
    st.sampled_from(COUNTS),
)
consent_nodes = st.fixed_dictionaries(
    {"consent": st.sampled_from([*CATEGORIES, "never_asked"])}, optional={"granted": st.booleans()}
)


def conditions(readable: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Any condition; audience nodes read the audiences ``readable`` names."""
    leaves = [
        _value_node("trait", TRAIT_PATHS),
        _value_node("computed", COMPUTED),
        _value_node("household", list(HOUSEHOLD_FIELDS)),
        _value_node("prediction", PREDICTIONS),
        event_nodes,
        consent_nodes,
    ]
    if readable:
        leaves.append(
            st.fixed_dictionaries(
                {"audience": st.sampled_from(readable)}, optional={"member": st.booleans()}
            )
        )
    return st.recursive(
        st.one_of(leaves),
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3).map(lambda c: {"all": c}),
            st.lists(children, min_size=1, max_size=3).map(lambda c: {"any": c}),
            children.map(lambda c: {"not": c}),
        ),
        max_leaves=5,
    )


@st.composite
def audience_specs(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 4))
    specs: list[dict[str, Any]] = []
    for i in range(count):
        # Each may read those before it; names sort the other way, so the order to evaluate
        # them in is not the order of their names.
        readable = tuple(s["name"] for s in specs)
        specs.append({"name": f"aud_{count - i}", "condition": draw(conditions(readable))})
    return specs


# Other moments to evaluate at: a leap day, the 28th of a February without one, next year.
OTHER_NOWS = [
    datetime(2024, 2, 29, 0, 0, tzinfo=UTC),
    datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC),
    datetime(2027, 12, 31, 12, 0, tzinfo=UTC),
    NOW + timedelta(days=200, hours=7),
]


# Every trait path by every operator, and the built-ins by what suits them: compared in each
# example besides the drawn conditions, so each drawn person meets each rule.
PROBE_OPERATORS: list[tuple[str, Any]] = [
    ("eq", 1), ("eq", "1"), ("eq", True), ("eq", "pro"), ("ne", 1), ("in", [1, "vip"]),
    ("not_in", ["pro", 10]), ("gt", 5), ("gte", 9.5), ("lt", 10), ("lte", 0),
    ("gt", "2000-01-01"), ("lt", _day(-5).isoformat()), ("gte", _day(-20).date().isoformat()),
    ("exists", True), ("exists", False), ("contains", "vip"), ("contains", 1), ("contains", "e"),
    ("within_last", "7d"), ("within_last", "36h"), ("within_last", "30d"),
    ("before_last", "7d"), ("before_last", "400d"), ("within_next", "7d"),
    ("within_next", "400d"), ("anniversary_within", "7d"), ("anniversary_within", "1d"),
    ("anniversary_within", "12h"),
]  # fmt: skip
PROBES: list[dict[str, Any]] = [
    *({"trait": path, op: operand} for path in TRAIT_PATHS for op, operand in PROBE_OPERATORS),
    {"computed": "lifetime_value", "gte": 100}, {"computed": "lifetime_value", "lt": 0},
    {"computed": "lifetime_value", "eq": 0}, {"computed": "average_order_value", "gt": 20},
    {"computed": "orders_count", "in": [1, 2]}, {"computed": "devices_count", "gte": 2},
    {"computed": "last_order_at", "within_last": "7d"},
    {"computed": "last_order_at", "before_last": "30d"},
    {"computed": "first_seen", "lt": _day(-30).isoformat()},
    {"computed": "last_seen", "exists": False}, {"computed": "channels_used", "contains": "web"},
    {"computed": "channels_used", "contains": 1}, {"computed": "channels_used", "eq": "src"},
    {"computed": "preferred_channel", "in": ["app", "src"]},
    {"computed": "favourite_category", "eq": "shoes"},
    {"computed": "favourite_category", "eq": 1}, {"computed": "favourite_category", "ne": "hats"},
    {"household": "size", "gte": 2}, {"household": "others", "exists": True},
    {"household": "adults", "gt": 0}, {"household": "age_unknown", "eq": 1},
]  # fmt: skip


# -- the evaluations ---------------------------------------------------------------------------


def _people(con: duckdb.DuckDBPyConnection) -> list[int]:
    return sorted(
        int(p)
        for (p,) in con.execute("SELECT DISTINCT profile_id FROM kenning_identifiers").fetchall()
    )


def python_members(
    store: Store, con: duckdb.DuckDBPyConnection, audiences: list[Audience], now: datetime
) -> set[tuple[str, int]]:
    """``audiences`` (in dependency order) for every current profile, from scratch, in
    Python."""
    definitions = list(store.computed.definitions.values())
    found: set[tuple[str, int]] = set()
    predictions = people_scores(con, _people(con))
    for person, (_, rows) in read_people(con, _people(con)).items():
        household = {
            key.removeprefix("household_"): value
            for key, value in (household_traits(store, person) or {}).items()
        }
        inside: set[str] = set()
        for audience in audiences:
            facts = person_facts(rows, definitions, household, inside, predictions.get(person))
            if holds(audience.condition, facts, now):
                inside.add(audience.name)
        found |= {(name, person) for name in inside}
    return found


def sql_members(
    store: Store, con: duckdb.DuckDBPyConnection, audiences: list[Audience], now: datetime
) -> set[tuple[str, int]]:
    table = evaluate_all(con, audiences, store.computed.definitions, now)
    return {(str(a), int(p)) for a, p in zip(*table.to_pydict().values(), strict=True)}


def every_node(store: Store) -> list[Audience]:
    """The declared audiences in dependency order, then each node of each of them as an
    audience of its own: a node an ``all`` hides is compared too."""
    declared = in_order(store.audiences.audiences)
    nodes = [node for a in declared for _, node in walk(a.condition)]
    return declared + [Audience(f"node_{i}", node) for i, node in enumerate(nodes)]


def held_members(con: duckdb.DuckDBPyConnection) -> set[tuple[str, int]]:
    rows = con.execute("SELECT audience, profile_id FROM __kenning_audience_members").fetchall()
    return {(str(a), int(p)) for a, p in rows}


def _write(store: Store, messages: list[dict[str, Any]], group: int) -> None:
    for start in range(0, len(messages), group):
        prepared = prepare_messages(
            messages[start : start + group], source_id="src", received_at=NOW, limits=Limits()
        )
        assert not prepared.rejections, prepared.rejections
        store.write_events(prepared.events).result()
    # Both evaluators are compared on the tallies as stored, every event in them (a read
    # of the events not tallied yet is tested in tests/profiles/computed).
    store.tallies.now()


def _declare(store: Store, specs: list[dict[str, Any]]) -> None:
    for spec in specs:
        audience = parse_audience(spec)

        def declare(con: duckdb.DuckDBPyConnection, a: Audience = audience) -> None:
            store.audiences.declare(con, a)

        store.writer.run(declare, changes_stages=True).result()


def check_agreement(store: Store, other_now: datetime) -> None:
    recorded = batch_evaluate(store, store.audiences)
    with store.reader() as con:
        row = con.execute("SELECT max(measured_at) FROM __kenning_audience_sizes").fetchone()
        assert row is not None
        at: datetime = row[0]  # the batch's moment
        held = held_members(con)
        assert held == python_members(store, con, in_order(store.audiences.audiences), at)
        # What the batch recorded: everyone entered (no one was in), and each size.
        logged = con.execute(
            """SELECT audience, profile_id, change FROM __kenning_audience_changes
               WHERE cause = 'batch'"""
        ).fetchall()
        assert {(a, p) for a, p, _ in logged} == held and len(logged) == len(held)
        assert {c for _, _, c in logged} <= {ENTERED}
        assert recorded.count(ENTERED) == len(held) == len(recorded)
        sizes = dict(
            con.execute(
                "SELECT audience, size FROM __kenning_audience_sizes WHERE measured_at = ?", [at]
            ).fetchall()
        )
        assert sizes == {
            a.name: sum(1 for name, _ in held if name == a.name) for a in store.audiences.audiences
        }
        # The real-time path, given everyone, finds nothing to change.
        definitions = list(store.computed.definitions.values())
        assert evaluate_people(con, _people(con), store.audiences.audiences, definitions, at) == []
        members = evaluate_all(con, store.audiences.audiences, store.computed.definitions, at)
    # Applied again, the same members change nothing.
    names = [a.name for a in store.audiences.audiences]
    again = store.writer.run(lambda con: apply_batch(con, members, names, at, skip=set()))
    assert len(again.result()) == 0
    # Every node, and the probes, at the batch's moment; every node at another moment.
    nodes = every_node(store)
    probes = [Audience(f"probe_{i}", parse(spec)) for i, spec in enumerate(PROBES)]
    with store.reader() as con:
        for now, chosen in ((at, nodes + probes), (other_now, nodes)):
            sql = sql_members(store, con, chosen, now)
            assert sql == python_members(store, con, chosen, now)


def _m(
    who: int, kind: str, day: int, device: int = 0, user: bool = False, **rest: Any
) -> dict[str, Any]:
    return {"who": who, "device": device, "kind": kind, "user": user, "day": day, **rest}


# People covering the rules, with audiences of every kind of node: a worked example that runs
# every time, before the random ones.
EDGES = [
    _m(
        0,
        "identify",
        50,
        traits={"plan": "pro", "score": "10", "tags": ["vip", "x"], "birthday": _birthday(2)},
        address=ADDRESSES[0],
        consent={"marketing_email": True},
    ),
    _m(0, "track", 40, event="Order Completed", properties={"category": "shoes", "revenue": 600}),
    _m(
        0,
        "track",
        3,
        device=1,
        event="Order Completed",
        properties={"category": "shoes", "revenue": "25.5", "channel": "app"},
    ),
    _m(0, "identify", 2, device=1, user=True, consent={"marketing_email": False}),
    _m(0, "identify", 1, user=True),  # both browsers now one profile
    _m(
        3,
        "identify",
        20,
        traits={"plan": 1, "when": _day(-3).isoformat(), "vip": True},
        address=ADDRESSES[1],
    ),
    _m(3, "track", 10, event="Product Viewed", properties={"category": "hats", "channel": "web"}),
    _m(
        1,
        "identify",
        30,
        traits={"plan": None, "score": 9.5, "birthday": "2000-02-29"},
        address=ADDRESSES[2],
        consent={"sms": True},
    ),
    _m(1, "page", 5, properties={"channel": "web"}),
    _m(2, "track", 59, event="Signed Up", properties={}),
    _m(2, "identify", 4, traits={"when": "2024-02-30", "score": " 7", "tags": []}),
    _m(5, "identify", 7, user=True, traits={"plan": "1", "address": {"city": None}}),
]
EVERY_KIND = [
    {
        "name": "rich",
        "condition": {
            "all": [
                {"computed": "lifetime_value", "gte": 600},
                {"computed": "orders_count", "eq": 2},
            ]
        },
    },
    {
        "name": "mailable",
        "condition": {"any": [{"consent": "marketing_email"}, {"consent": "sms", "granted": True}]},
    },
    {
        "name": "shoes_twice",
        "condition": {
            "event": "Order Completed",
            "where": {"properties.category": "shoes"},
            "within": "45d",
            "at_least": 2,
        },
    },
    {
        "name": "leeds",
        "condition": {
            "all": [
                {"trait": "address.city", "in": ["Leeds", "leeds"]},
                {"household": "size", "gte": 1},
            ]
        },
    },
    {
        "name": "a_rich_few",
        "condition": {
            "all": [
                {"audience": "rich"},
                {"not": {"audience": "mailable"}},
                {"trait": "tags", "contains": "vip"},
                {"trait": "score", "gte": 10},
            ]
        },
    },
    {
        "name": "b_dated",
        "condition": {
            "any": [
                {"trait": "birthday", "anniversary_within": "7d"},
                {"trait": "when", "within_last": "30d"},
                {"computed": "last_order_at", "within_last": "7d"},
            ]
        },
    },
    {
        "name": "c_rest",
        "condition": {
            "all": [
                {"not": {"event": "Order Completed", "performed": True}},
                {"prediction": "churn_30d", "exists": False},
                {"computed": "channels_used", "contains": "web"},
                {"trait": "plan", "ne": "pro"},
            ]
        },
    },
]


@SETTINGS
@example(EDGES, 100, EVERY_KIND, OTHER_NOWS[0])
@example(EDGES, 1, EVERY_KIND, OTHER_NOWS[1])
@given(
    logs(),
    st.sampled_from([1, 3, 100]),
    audience_specs(),
    st.sampled_from(OTHER_NOWS),
)
def test_python_and_sql_choose_the_same_members(
    drawn: list[dict[str, Any]], group: int, specs: list[dict[str, Any]], other_now: datetime
) -> None:
    messages = [as_message(d, i) for i, d in enumerate(drawn)]
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb") as store,
    ):
        _write(store, messages, group)
        compute_households(store)
        _declare(store, specs)
        check_agreement(store, other_now)


@SETTINGS
@given(
    logs(),
    st.lists(st.sampled_from(VALUES), min_size=12, max_size=12),
    st.lists(_value_node("prediction", PREDICTIONS), min_size=1, max_size=6),
)
def test_predictions_are_read_alike(
    drawn: list[dict[str, Any]], values: list[Any], nodes: list[dict[str, Any]]
) -> None:
    """Scores written by two runs on profiles that merges since joined: the newest value of
    each name is the person's, to both evaluators."""
    messages = [as_message(d, i) for i, d in enumerate(drawn)]
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb") as store,
    ):
        _write(store, messages, 100)
        with store.reader() as con:
            profiles = sorted(
                int(p)
                for (p,) in con.execute(
                    "SELECT DISTINCT profile_id FROM __kenning_event_profiles"
                ).fetchall()
            )
        runs = {"older": (values[:6], NOW - timedelta(days=1)), "newer": (values[6:], NOW)}
        for model, (drawn_values, at) in runs.items():
            ids, names, texts = [], [], []
            for i, profile in enumerate(profiles):
                for j, name in enumerate(("churn_30d", "rfm_segment")):
                    if (i + j + len(model)) % 3:
                        ids.append(profile)
                        names.append(name)
                        texts.append(orjson.dumps(drawn_values[(i + j) % 6]).decode())
            rows = pa.table({"profile_id": pa.array(ids, pa.int64()), "name": names,
                             "value": texts})  # fmt: skip
            store.writer.run(
                lambda con, m=model, r=rows, t=at: replace_scores(con, m, r, t, {})
            ).result()
        audiences = [Audience(f"n{i}", parse(node)) for i, node in enumerate(nodes)]
        with store.reader() as con:
            assert python_members(store, con, audiences, NOW) == sql_members(
                store, con, audiences, NOW
            )


def test_the_worked_example_has_members() -> None:
    """The worked example above is not vacuous: most of its audiences have members."""
    messages = [as_message(d, i) for i, d in enumerate(EDGES)]
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb") as store,
    ):
        _write(store, messages, 100)
        compute_households(store)
        _declare(store, EVERY_KIND)
        batch_evaluate(store, store.audiences)
        with store.reader() as con:
            held = held_members(con)
            people = {
                who: con.execute(
                    "SELECT profile_id FROM kenning_identifiers WHERE value = ?", [f"a{who}_0"]
                ).fetchone()[0]  # type: ignore[index]
                for who in (0, 1, 2, 3)
            }
    by_audience: dict[str, set[int]] = {}
    for name, person in held:
        by_audience.setdefault(name, set()).add(person)
    assert by_audience["rich"] == {people[0]}
    assert by_audience["shoes_twice"] == {people[0]}
    # Person 0's latest consent refuses email: the browsers' choices combine, newest wins.
    assert people[0] not in by_audience.get("mailable", set())
    assert people[1] in by_audience["mailable"]
    assert by_audience["a_rich_few"] == {people[0]}
    assert people[0] in by_audience["b_dated"]  # a birthday in two days
    assert people[0] in by_audience["leeds"] and people[3] in by_audience["leeds"]
    assert people[1] in by_audience["c_rest"]


def test_many_people_are_evaluated_alike() -> None:
    """Past 32 people the real-time path reads them with joins instead of by index."""
    messages: list[dict[str, Any]] = []
    for who in range(45):
        messages.append(
            {
                "type": "identify",
                "anonymousId": f"m{who}",
                "userId": f"mu{who % 40}",  # 40 to 44 merge into 0 to 4
                "traits": {"score": who % 7, "tags": ["vip"] if who % 3 else []},
                "timestamp": (NOW - timedelta(days=who % 9, hours=6)).isoformat(),
                "context": {"consent": {"categoryPreferences": {"sms": who % 2 == 0}}},
            }
        )
        for n in range(who % 3):
            messages.append(
                {
                    "type": "track",
                    "anonymousId": f"m{who}",
                    "event": "Order Completed",
                    "properties": {"revenue": who * 10 + n, "category": ["shoes", "hats"][n]},
                    "timestamp": (NOW - timedelta(days=n * 20, hours=6)).isoformat(),
                }
            )
    specs = [
        {"name": "a", "condition": {"all": [{"trait": "score", "gte": 3}, {"consent": "sms"}]}},
        {
            "name": "b",
            "condition": {"any": [{"trait": "tags", "contains": "vip"}, {"audience": "a"}]},
        },
        {"name": "c", "condition": {"event": "Order Completed", "within": "7d", "at_least": 1}},
        {"name": "d", "condition": {"computed": "lifetime_value", "gt": 200}},
    ]
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb") as store,
    ):
        _write(store, messages, 20)
        _declare(store, specs)
        check_agreement(store, OTHER_NOWS[3])
        with store.reader() as con:
            assert len(_people(con)) == 40
            assert len({name for name, _ in held_members(con)}) == 4


# Every operator on a node no one has a value for: a prediction never made, a trait no one
# has, a computed trait not defined, a household no one is in. Only exists: false, ne and
# not_in hold, in both evaluators.
NO_VALUE = [("prediction", "churn_30d"), ("trait", "nothing"), ("computed", "nope"),
            ("household", "size")]  # fmt: skip


@pytest.mark.parametrize(("kind", "name"), NO_VALUE)
def test_a_node_on_no_value(store: Store, kind: str, name: str) -> None:
    _write(store, [as_message(_m(0, "identify", 1, traits={"plan": "pro"}), 0)], 1)
    operands = {**TYPICAL, "exists": False}
    audiences = [
        Audience(f"x_{op}", parse({kind: name, op: operand})) for op, operand in operands.items()
    ] + [Audience("x_present", parse({kind: name, "exists": True}))]
    expected = {"x_ne", "x_not_in", "x_exists"}
    with store.reader() as con:
        (person,) = _people(con)
        assert python_members(store, con, audiences, NOW) == {(a, person) for a in expected}
        assert sql_members(store, con, audiences, NOW) == {(a, person) for a in expected}


def test_a_computed_time_is_the_same_text_to_both(store: Store) -> None:
    """A computed time is text: ``eq`` on it compares text, so both evaluators must write it
    alike (read.py: ``isoformat()``, no fraction when there is none)."""
    _write(store, [as_message(_m(0, "track", 2, event="Order Completed"), 0)], 1)
    with store.reader() as con:
        (person,) = _people(con)
        definitions = list(store.computed.definitions.values())
        ((_, (_, rows)),) = read_people(con, [person]).items()
        written = computed_traits(rows, definitions)["last_order_at"]
        assert written == (NOW - timedelta(days=2, hours=6)).isoformat()
        audiences = [
            Audience("same", parse({"computed": "last_order_at", "eq": written})),
            Audience("listed", parse({"computed": "first_seen", "in": [written]})),
            Audience("fraction", parse({"computed": "last_seen", "contains": ".000000"})),
        ]
        assert python_members(store, con, audiences, NOW) == {("same", person), ("listed", person)}
        assert sql_members(store, con, audiences, NOW) == {("same", person), ("listed", person)}


# -- one value rule at a time -------------------------------------------------------------------


def _time_text(year: int, month: int, day: int, rest: str) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}{rest}"


# Time text both readers should take or refuse alike: any month and day (2024-02-30 is no
# date), hours, minutes, seconds and fractions, offsets. Hours of 24, offsets of 24 hours and
# more and the year 0 are the rows of test_values.TIME_EDGES (read differently today).
time_texts = st.builds(
    _time_text,
    st.sampled_from([1, 1970, 1990, 2000, 2023, 2024, 2025, 9998]),
    st.integers(0, 13),
    st.integers(0, 32),
    st.one_of(
        st.just(""),
        st.builds(
            lambda sep, h, m, s, off: f"{sep}{h:02d}:{m:02d}{s}{off}",
            st.sampled_from(["T", " ", "t"]),
            st.integers(0, 23),
            st.integers(0, 59),
            st.sampled_from(["", ":00", ":59", ":07.5", ":07.123456", ":07.1234567", ":61"]),
            st.sampled_from(
                ["", "Z", "+00:00", "-00:00", "+05:30", "-08:00", "+23:59", "+0530", "z"]
            ),
        ),
    ),
)
json_values = st.one_of(
    st.sampled_from(VALUES),
    time_texts,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(-1e300, 1e300, allow_nan=False),
    st.text(max_size=4),
    st.lists(st.sampled_from([1, 1.0, "1", True, "vip", None, "2024-01-01"]), max_size=3),
)


def parse_ok(spec: dict[str, Any]) -> bool:
    try:
        parse(spec)
    except ValueError:
        return False
    return True


SCALAR_VALUES = [v for v in VALUES if isinstance(v, str | int | float)]  # bools are ints
TIME_OPERANDS = [t for t in TIMES if parse_ok({"trait": "x", "gt": t})]
rule_operands = st.one_of(
    operators,
    st.tuples(st.sampled_from(["eq", "ne", "contains"]), st.sampled_from(SCALAR_VALUES)),
    st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), st.sampled_from(TIME_OPERANDS)),
)


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


@settings(max_examples=400, deadline=None)
@given(
    value=json_values,
    rule=rule_operands,
    now=st.sampled_from([*OTHER_NOWS, NOW]),
)
def test_one_rule_on_one_value_alike(
    con: duckdb.DuckDBPyConnection, value: Any, rule: tuple[str, Any], now: datetime
) -> None:
    op, operand = rule
    python = in_python(con, op, operand, value, now)
    assert isinstance(python, bool)
    assert in_sql(con, op, operand, value, now) is python, (op, operand, value)


# -- computed traits for everyone ------------------------------------------------------------


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str) and as_time(a) is not None:
        # The same instant (the same text: test_a_computed_time_is_the_same_text_to_both).
        return as_time(a) == as_time(b)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example([_m(0, "track", 3, event="Order Completed", properties={"revenue": 5})], 1)
@given(logs(), st.sampled_from([1, 100]))
def test_computed_values_in_sql_are_those_read_gives(
    drawn: list[dict[str, Any]], group: int
) -> None:
    """Each built-in's value for each current profile, merged profiles combined: the same
    JSON value (floats up to rounding; times the same instant)."""
    messages = [as_message(d, i) for i, d in enumerate(drawn)]
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb") as store,
    ):
        _write(store, messages, group)
        definitions = list(store.computed.definitions.values())
        with store.reader() as con:
            python = {
                person: computed_traits(rows, definitions)
                for person, (_, rows) in read_people(con, _people(con)).items()
            }
            for definition in definitions:
                params: list[Any] = []
                found = {
                    int(p): orjson.loads(v)
                    for p, v in con.execute(
                        computed_values_sql(definition, params), params
                    ).fetchall()
                }
                for person, values in python.items():
                    if person in found:
                        assert _same_value(found[person], values.get(definition.name)), (
                            definition.name,
                            found[person],
                            values.get(definition.name),
                        )
                    else:  # no tallies: read.py gives a zero (facts_sql's ZERO_SQL) or nothing
                        assert values.get(definition.name) in (None, 0, 0.0, []), definition.name
