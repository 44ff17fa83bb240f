"""Funnels on real stores: the array engine against a plain-Python reference on random logs in
every mode (with exclusions, totals, breakdowns, time ranges, merged profiles), the figures and
their statement, ingested Segment messages, and refused definitions naming their field."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from kenning.errors import FieldError
from kenning.ingest.pipeline import prepare_messages
from kenning.journeys.channel_batch import with_channel_sql
from kenning.journeys.channels import ChannelRules
from kenning.journeys.funnel_definition import parse_funnel
from kenning.journeys.funnels import FunnelResult, run_funnel
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.journeys.funnel_data import T0, LoggedEvent, random_log, reference, write_log

SEEDS = range(8)

# Each case is one funnel, run on every random log. The logs span 300 minutes, so a one-hour
# window closes on many attempts; names repeat across steps so one event can match several.
CASES: dict[str, dict[str, Any]] = {
    "ordered": {"steps": [{"event": "A"}, {"event": "B"}, {"event": "C"}]},
    "ordered, filters": {
        "steps": [
            {"event": "A", "where": {"properties.k": {"in": [1, 2]}}},
            {"event": "B", "where": {"properties.k": {"gte": 2}}},
            {"event": "C", "where": {"properties.cat": "hats"}},
        ]
    },
    "ordered, one event for several steps": {
        "steps": [
            {"event": "A"},
            {"event": "A", "where": {"properties.k": 1}},
            {"event": "B"},
            {"event": ["A", "B"]},
        ]
    },
    "ordered, pages": {"steps": [{"type": "page"}, {"event": "A"}, {"type": "page"}]},
    "strict": {"steps": [{"event": "A"}, {"event": "B"}, {"event": "C"}], "mode": "strict"},
    "strict, repeated": {
        "steps": [{"event": "A"}, {"event": "A"}, {"event": ["B", "C"]}],
        "mode": "strict",
    },
    "any order": {"steps": [{"event": "A"}, {"event": "B"}, {"event": "C"}], "mode": "any_order"},
    "any order, overlapping steps": {
        "steps": [
            {"event": "A"},
            {"event": "B"},
            {"event": "B", "where": {"properties.k": 1}},
            {"event": ["B", "C"], "where": {"properties.k": {"lte": 2}}},
            {"event": "C"},
        ],
        "mode": "any_order",
    },
    "exclusion, first to last": {
        "steps": [{"event": "A"}, {"event": "B"}, {"event": "C"}],
        "exclusions": [{"event": "X"}],
    },
    "exclusions between steps": {
        "steps": [{"event": "A"}, {"event": "B"}, {"event": "C"}, {"event": "B"}],
        "exclusions": [
            {"event": "X", "between": [2, 3]},
            {"event": "C", "where": {"properties.k": 3}, "between": [1, 2]},
        ],
    },
    "strict, exclusion": {
        "steps": [{"event": "A"}, {"event": "B"}],
        "mode": "strict",
        "exclusions": [{"type": "page"}],
    },
    "any order, exclusion": {
        "steps": [{"event": "A"}, {"event": "B"}, {"event": "C"}],
        "mode": "any_order",
        "exclusions": [{"event": "X", "between": [2, 3]}],
    },
    "breakdown": {"steps": [{"event": "A"}, {"event": "B"}], "breakdown": "properties.cat"},
    "breakdown by a number, any order": {
        "steps": [{"event": "A"}, {"event": "C"}, {"event": "B"}],
        "mode": "any_order",
        "breakdown": "properties.k",
    },
    "breakdown by source": {"steps": [{"event": "B"}, {"event": "A"}], "breakdown": "source"},
    "time range": {
        "steps": [{"event": "A"}, {"event": "B"}, {"event": "C"}],
        "since": (T0 + timedelta(minutes=60)).isoformat(),
        "until": (T0 + timedelta(minutes=200)).isoformat(),
        "exclusions": [{"event": "X"}],
    },
    "strict, breakdown by channel, time range, a source filter": {
        "steps": [{"event": "A"}, {"event": "B", "where": {"source": "web"}}],
        "mode": "strict",
        "breakdown": "channel",
        "since": (T0 + timedelta(minutes=30)).isoformat(),
        "until": (T0 + timedelta(minutes=250)).isoformat(),
    },
    "strict, time range": {
        "steps": [{"event": "B"}, {"event": "C"}],
        "mode": "strict",
        "since": (T0 + timedelta(minutes=100)).isoformat(),
        "until": (T0 + timedelta(minutes=150)).isoformat(),
    },
}


@pytest.fixture(scope="module")
def logs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[tuple[Store, list[LoggedEvent]]]]:
    stores = []
    for seed in SEEDS:
        rng = random.Random(seed)
        log = random_log(rng, people=30, events=rng.choice([150, 400]), span_minutes=300)
        store = Store.open(tmp_path_factory.mktemp(f"log{seed}") / "k.duckdb")
        write_log(store, log)
        stores.append((store, log))
    yield stores
    for store, _ in stores:
        store.close()


def _rounded(value: Any) -> Any:
    """Seconds to the microsecond: numpy and the statistics module round differently."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _engine(result: FunnelResult) -> dict[str, Any]:
    """The result in the reference's form."""

    def steps(figures: dict[str, Any]) -> list[dict[str, Any]]:
        rows = []
        for step in figures["steps"]:
            row: dict[str, Any] = {"entered": step["entered"]}
            if step["time_to_convert"] is not None:
                row["time"] = step["time_to_convert"]
            rows.append(row)
        return rows

    document = result.to_dict()
    found: dict[str, Any] = {"overall": steps(document["overall"])}
    if "groups" in document:
        found["groups"] = {g["group"]: steps(g) for g in document["groups"]}
    return found


@pytest.mark.parametrize("count", ["unique", "totals"])
@pytest.mark.parametrize("window", ["1h", "90m"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_engine_counts_what_the_rules_say(
    logs: list[tuple[Store, list[LoggedEvent]]], case: str, count: str, window: str
) -> None:
    definition = parse_funnel({**CASES[case], "count": count, "window": window})
    for store, log in logs:
        with store.reader() as con:
            found = _engine(run_funnel(con, definition))
        assert _rounded(found) == _rounded(reference(definition, log)), case


def test_the_random_logs_reach_every_step() -> None:
    """The comparison above means something: attempts are voided, windows close, every
    step is reached and some people convert in each mode."""
    rng = random.Random(0)
    log = random_log(rng, people=30, events=400, span_minutes=300)
    for case in ("ordered", "strict", "any order", "exclusions between steps"):
        definition = parse_funnel({**CASES[case], "window": "1h"})
        overall = reference(definition, log)["overall"]
        assert overall[-1]["entered"] > 0, case
        assert overall[0]["entered"] > overall[-1]["entered"], case
    with_exclusion = parse_funnel({**CASES["exclusion, first to last"], "window": "1h"})
    without = parse_funnel({**CASES["ordered"], "window": "1h"})
    assert (
        reference(with_exclusion, log)["overall"][0]["entered"]
        < reference(without, log)["overall"][0]["entered"]
    )


# -- known logs -----------------------------------------------------------------------------


def _store_with(store: Store, *events: tuple[str, str, int]) -> Store:
    """(user, event, minutes after T0) track events, ingested as Segment messages."""
    messages = [
        {
            "type": "track",
            "event": name,
            "userId": user,
            "messageId": f"m{i}",
            "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
            "properties": {"plan": "pro" if user < "m" else "basic"},
        }
        for i, (user, name, minutes) in enumerate(events)
    ]
    prepared = prepare_messages(
        messages, source_id="web", received_at=datetime(2026, 6, 1, tzinfo=UTC), limits=Limits()
    )
    assert not prepared.rejections
    store.write_events(prepared.events).result()
    return store


def test_a_funnel_over_ingested_messages(store: Store) -> None:
    _store_with(
        store,
        ("ann", "Signed Up", 0),
        ("ann", "Viewed", 5),
        ("ann", "Ordered", 65),
        ("bob", "Signed Up", 0),
        ("bob", "Ordered", 10),  # skipped a step
        ("cat", "Viewed", 0),
        ("cat", "Signed Up", 1),
        ("cat", "Viewed", 3),
        ("cat", "Ordered", 30),
        ("dan", "Signed Up", 0),
        ("dan", "Viewed", 2),
        ("nia", "Signed Up", 0),
        ("nia", "Viewed", 1),
        ("nia", "Ordered", 60 * 24 * 15),
    )
    funnel = parse_funnel(
        {
            "steps": [{"event": "Signed Up"}, {"event": "Viewed"}, {"event": "Ordered"}],
            "breakdown": "properties.plan",
        }
    )
    with store.reader() as con:
        result = run_funnel(con, funnel)
    document = result.to_dict()
    assert document["statement"] == (
        "Ordered funnel of 3 steps, counting unique people: the conversion window is 14 days."
    )
    assert document["window"] == "14 days" and document["window_seconds"] == 14 * 86_400
    steps = document["overall"]["steps"]
    assert [s["entered"] for s in steps] == [5, 4, 2]  # nia ordered after the window
    assert _rounded(steps[1]) == {
        "step": 2,
        "name": "Viewed",
        "entered": 4,
        "from_previous": 0.8,
        "from_first": 0.8,
        "dropped": 1,
        "dropped_share": 0.2,
        "time_to_convert": {
            "median": 120.0,
            "p25": 105.0,
            "p75": 165.0,
            "p90": 246.0,
            "mean": 150.0,
        },
    }
    assert steps[2]["from_previous"] == 0.5 and steps[2]["from_first"] == 0.4
    # ann 65 minutes, cat 29
    assert steps[2]["time_to_convert"]["median"] == 47 * 60
    assert document["overall"]["conversion"] == 0.4
    assert [(g["group"], [s["entered"] for s in g["steps"]]) for g in document["groups"]] == [
        ("pro", [4, 3, 2]),  # ann, bob, cat, dan
        ("basic", [1, 1, 0]),  # nia
    ]
    rows = result.rows()
    assert len(rows) == 9
    assert [(r["overall"], r["group"]) for r in rows[2:4]] == [(True, None), (False, "pro")]
    assert rows[5] == {**rows[5], "group": "pro", "step": 3, "entered": 2, "dropped": 1}


def test_totals_count_each_attempt(store: Store) -> None:
    _store_with(
        store,
        ("ann", "Signed Up", 0),
        ("ann", "Signed Up", 5),
        ("ann", "Ordered", 10),
        ("ann", "Signed Up", 11),
        ("ann", "Ordered", 12),  # a second attempt, after the first
        ("ann", "Signed Up", 13),  # a third, open
        ("bob", "Signed Up", 0),
        ("bob", "Signed Up", 60 * 25),
        ("bob", "Ordered", 60 * 26),
    )
    spec: dict[str, Any] = {
        "steps": [{"event": "Signed Up"}, {"event": "Ordered"}],
        "window": "1d",
    }
    with store.reader() as con:
        totals = run_funnel(con, parse_funnel({**spec, "count": "totals"}))
        unique = run_funnel(con, parse_funnel(spec))
    assert [s.entered for s in totals.overall.steps] == [5, 3]
    assert [s.entered for s in unique.overall.steps] == [2, 2]
    assert totals.statement.endswith("counting every attempt: the conversion window is 1 day.")
    time = totals.overall.steps[1].time_to_convert
    assert time is not None and time.median == 10 * 60  # 10, 1 and 60 minutes


def test_a_merged_profile_s_events_are_the_person_s(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "k.duckdb")
    try:
        messages = [
            {
                "type": "track",
                "event": "Viewed",
                "anonymousId": "phone",
                "messageId": "1",
                "timestamp": T0.isoformat(),
            },
            {
                "type": "track",
                "event": "Ordered",
                "userId": "u1",
                "messageId": "2",
                "timestamp": (T0 + timedelta(hours=1)).isoformat(),
            },
            # the phone is u1's: its profile merges into u1's
            {
                "type": "identify",
                "anonymousId": "phone",
                "userId": "u1",
                "messageId": "3",
                "timestamp": (T0 + timedelta(hours=2)).isoformat(),
            },
        ]
        prepared = prepare_messages(messages, source_id="web", received_at=T0, limits=Limits())
        store.write_events(prepared.events).result()
        with store.reader() as con:
            merged = con.execute("SELECT count(*) FROM __kenning_profile_redirects").fetchall()
            result = run_funnel(
                con, parse_funnel({"steps": [{"event": "Viewed"}, {"event": "Ordered"}]})
            )
        assert merged == [(1,)]
        assert [s.entered for s in result.overall.steps] == [1, 1]
    finally:
        store.close()


def test_an_empty_log_gives_zeroes(store: Store) -> None:
    with store.reader() as con:
        result = run_funnel(
            con,
            parse_funnel({"steps": [{"event": "A"}, {"event": "B"}], "breakdown": "channel"}),
        )
    assert [(s.entered, s.from_previous, s.time_to_convert) for s in result.overall.steps] == [
        (0, None, None),
        (0, None, None),
    ]
    assert result.to_dict()["groups"] == []


# -- definitions ----------------------------------------------------------------------------


def test_a_definition_s_defaults_are_stated() -> None:
    funnel = parse_funnel({"steps": [{"event": "A", "name": "Start"}, {"type": "page"}]})
    assert funnel.spec() == {
        "steps": [{"event": "A", "name": "Start"}, {"type": "page", "name": "page"}],
        "mode": "ordered",
        "window": "14d",
        "count": "unique",
    }
    assert funnel.window == timedelta(days=14)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ([], ""),
        ({"steps": [{"event": "A"}]}, "steps"),
        ({"steps": [{"event": "A"}, {"where": {"x": 1}}]}, "steps[1].event"),
        ({"steps": [{"event": "A"}, {"event": "B", "when": 1}]}, "steps[1].when"),
        (
            {"steps": [{"event": "A"}, {"event": "B", "where": {"p": {"gt": "x"}}}]},
            "steps[1].where.p.gt",
        ),
        ({"steps": [{"event": "A"}, {"event": 3}]}, "steps[1].event"),
        ({"steps": [{"event": "A"}, {"event": "B"}], "mode": "sideways"}, "mode"),
        ({"steps": [{"event": "A"}, {"event": "B"}], "count": "all"}, "count"),
        ({"steps": [{"event": "A"}, {"event": "B"}], "window": "2y"}, "window"),
        (
            {
                "steps": [{"event": "A"}, {"event": "B"}],
                "exclusions": [{"event": "X", "between": [2, 2]}],
            },
            "exclusions[0].between",
        ),
        (
            {"steps": [{"event": "A"}, {"event": "B"}], "exclusions": [{"where": {}}]},
            "exclusions[0].event",
        ),
        ({"steps": [{"event": "A"}, {"event": "B"}], "breakdown": "a..b"}, "breakdown"),
        ({"steps": [{"event": "A"}, {"event": "B"}], "since": "yesterday"}, "since"),
        (
            {
                "steps": [{"event": "A"}, {"event": "B"}],
                "since": "2026-02-01",
                "until": "2026-01-01",
            },
            "until",
        ),
        ({"steps": [{"event": "A"}] * 11, "mode": "any_order"}, "steps"),
        ({"steps": [{"event": "A"}, {"event": "B"}], "colour": 1}, "colour"),
    ],
)
def test_a_bad_definition_names_its_field(spec: Any, field: str) -> None:
    with pytest.raises(FieldError) as raised:
        parse_funnel(spec)
    assert raised.value.field == field


# -- the channel of the step-1 event --------------------------------------------------------


def _random_message(rng: random.Random) -> dict[str, Any]:
    def some(*options: Any) -> Any:
        return rng.choice((None, *options))

    context: dict[str, Any] = {}
    campaign = {
        k: v
        for k, v in {
            "medium": some("cpc", "CPC", "email", "social", "organic", "display"),
            "source": some("google", "facebook", "newsletter"),
            "channel": some("sms", "nonsense"),
        }.items()
        if v is not None
    }
    if campaign:
        context["campaign"] = campaign
    page = {
        k: v
        for k, v in {
            "referrer": some("https://www.google.com/x", "https://t.co/a", "not a url",
                             "https://shop.example/p", "https://blog.example/"),
            "url": some("https://shop.example/", "https://www.shop.example/sale"),
        }.items()
        if v is not None
    }  # fmt: skip
    if page:
        context["page"] = page
    if rng.random() < 0.2:
        context["app"] = {"name": "Shop"}
    if rng.random() < 0.1:
        context["campaign"] = "a text, not an object"
    kind = rng.choice(["track", "page", "screen"])
    message: dict[str, Any] = {"type": kind, "context": context}
    if kind == "track":
        message["event"] = rng.choice(["A", "Email Opened", "SMS Clicked"])
    channel = some("email", "Paid_Search", 3, "shop")
    if channel is not None:
        message["properties"] = {"channel": channel}
    return message


def test_the_channel_of_many_events_is_each_one_s() -> None:
    rng = random.Random(7)
    rules = ChannelRules.default()
    sources = ["web", "app", "email", "pos", "Facebook"]
    rows = [(i, m, rng.choice(sources)) for i, m in enumerate(_random_message(rng)
                                                               for _ in range(400))]  # fmt: skip
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (i INT, type VARCHAR, event VARCHAR, payload VARCHAR, source_name VARCHAR)"
    )
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
        [(i, m["type"], m.get("event"), orjson.dumps(m).decode(), s) for i, m, s in rows],
    )
    params: list[Any] = []
    sql = with_channel_sql("SELECT * FROM t", rules, "i % 3 <> 0", params)
    found = dict(con.execute(f"SELECT i, channel FROM ({sql})", params).fetchall())
    expected = {i: rules.classify(m, s) if i % 3 else None for i, m, s in rows}
    assert found == expected
    assert len(set(expected.values())) >= 8  # the messages reach many rules
