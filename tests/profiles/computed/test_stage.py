"""Computed traits on a real store: built-ins on the synthetic shapes, definitions from the
configuration kept in step at open, merges combine, unmerges recompute, windows expire."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kenning.identity.unmerge import record_override
from kenning.profiles.computed import batch, stage
from kenning.profiles.computed.definitions import DefinitionError, parse, parse_all
from kenning.profiles.read import find_profile, profile
from kenning.profiles.state import ProfileSettings
from kenning.store.store import Store
from tests.profiles.test_state import send


def computed(store: Store, identifier: str) -> dict[str, Any]:
    profile_id = find_profile(store, identifier)
    assert profile_id is not None
    found: dict[str, Any] = profile(store, profile_id)["computed_traits"]
    return found


def order(who: dict[str, str], at: str, revenue: Any, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        **who,
        "event": "Order Completed",
        "properties": {"revenue": revenue, **properties},
        "timestamp": at,
    }


def test_built_ins_on_a_customer_across_devices_and_channels(store: Store) -> None:
    web, app = {"anonymousId": "w1"}, {"anonymousId": "p1"}
    send(
        store,
        {"type": "page", **web, "properties": {"category": "shoes"},
         "timestamp": "2026-01-01T00:00:00Z"},
        {"type": "page", **web, "timestamp": "2026-01-01T00:00:30Z"},
        {"type": "track", **web, "event": "Product Viewed", "properties": {"category": "shoes"},
         "timestamp": "2026-01-01T00:01:00Z"},
        order(web, "2026-01-01T00:05:00Z", 40.0, category="shoes", channel="web"),
        source="web",
    )  # fmt: skip
    send(
        store,
        {"type": "screen", **app, "context": {"device": {"id": "phone-1"}},
         "timestamp": "2026-02-01T00:00:00Z"},
        {"type": "track", **app, "event": "Product Viewed", "properties": {"category": "hats"},
         "context": {"device": {"id": "phone-1"}}, "timestamp": "2026-02-01T00:01:00Z"},
        {"type": "track", **app, "event": "Product Viewed", "properties": {"category": "hats"},
         "context": {"device": {"id": "phone-1"}}, "timestamp": "2026-02-01T00:02:00Z"},
        source="app",
    )  # fmt: skip
    send(store, {"type": "track", "userId": "c1", "event": "Email Sent",
                 "timestamp": "2026-02-02T00:00:00Z"}, source="email")  # fmt: skip
    send(store, order({"userId": "c1"}, "2026-03-01T00:00:00Z", "20.50", channel="store"),
         source="pos")  # fmt: skip
    before = computed(store, "anonymous_id:w1")
    assert before["orders_count"] == 1 and before["devices_count"] == 1
    # The person signs in on both devices: one profile, the traits combine.
    send(store, {"type": "identify", **web, "userId": "c1", "timestamp": "2026-03-02T00:00:00Z"})
    send(store, {"type": "identify", **app, "userId": "c1", "timestamp": "2026-03-03T00:00:00Z"})
    after = computed(store, "user_id:c1")
    assert after == computed(store, "anonymous_id:p1")
    assert after["orders_count"] == 2
    assert after["lifetime_value"] == 60.5  # "20.50" is a number written as text
    assert after["average_order_value"] == 30.25
    assert after["last_order_at"].startswith("2026-03-01T00:00:00")
    assert after["first_seen"].startswith("2026-01-01T00:00:00")
    assert after["last_seen"].startswith("2026-03-03T00:00:00")
    assert after["devices_count"] == 2  # the browser and the app install
    assert after["favourite_category"] == "hats"  # viewed twice; shoes viewed and bought once
    # web: two pages, a view, an order; app: a screen, two views; an email send is no engagement
    assert after["preferred_channel"] == "web"
    assert set(after["channels_used"]) == {"web", "app", "store"}  # identify is no engagement
    assert after["channels_used"][0] == "web"


def test_configured_traits_are_computed_at_open_and_follow_changes(tmp_path: Path) -> None:
    path = tmp_path / "k.duckdb"

    def configured(**specs: Any) -> ProfileSettings:
        return ProfileSettings(computed_traits=parse_all(specs, "config", "computed_traits"))

    with Store.open(path) as store:
        send(store, order({"userId": "u"}, "2026-01-01T00:00:00Z", 5, currency="EUR"))
        send(store, order({"userId": "u"}, "2026-01-02T00:00:00Z", 7, currency="GBP"))
    euro = {"kind": "sum", "event": "Order Completed", "value": "properties.revenue",
            "where": {"properties.currency": "EUR"}}  # fmt: skip
    with Store.open(path, profiles=configured(spend=euro)) as store:
        assert computed(store, "user_id:u")["spend"] == 5  # backfilled from the log at open
    with Store.open(path, profiles=configured(spend={**euro, "where": {}})) as store:
        assert computed(store, "user_id:u")["spend"] == 12  # changed: computed again
        send(store, order({"userId": "u"}, "2026-01-03T00:00:00Z", 1))
        assert computed(store, "user_id:u")["spend"] == 13  # and kept live
    with Store.open(path) as store:
        assert "spend" not in computed(store, "user_id:u")
        with store.reader() as con:
            left = con.execute(
                "SELECT count(*) FROM __kenning_trait_tallies WHERE trait = 'spend'"
            ).fetchone()
        assert left == (0,)  # a trait no longer defined leaves nothing behind


def test_an_unmerge_recomputes_the_traits_of_both_people(store: Store) -> None:
    for device in ("x1", "x2"):  # two devices joined by one email address
        send(store, {"type": "identify", "anonymousId": device, "traits": {"email": "e@x.com"},
                     "timestamp": "2026-01-01T00:00:00Z"})  # fmt: skip
    send(store, order({"anonymousId": "x1"}, "2026-01-02T00:00:00Z", 10))
    send(store, order({"anonymousId": "x2"}, "2026-01-03T00:00:00Z", 1))
    send(store, order({"anonymousId": "x2"}, "2026-01-04T00:00:00Z", 100))
    assert computed(store, "anonymous_id:x1")["orders_count"] == 3
    record_override(store, "detach", "email:e@x.com")
    one, two = computed(store, "anonymous_id:x1"), computed(store, "anonymous_id:x2")
    assert (one["orders_count"], one["lifetime_value"]) == (1, 10)
    assert (two["orders_count"], two["lifetime_value"]) == (2, 101)


def test_windowed_traits_count_new_events_at_once_and_drop_old_ones_at_refresh(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    specs = {"recent_orders": {"kind": "count", "event": "Order Completed", "window": "7d"}}
    settings = ProfileSettings(computed_traits=parse_all(specs, "config", "computed_traits"))
    with Store.open(tmp_path / "k.duckdb", profiles=settings) as store:
        for days in (10, 3, 1):
            at = (now - timedelta(days=days)).isoformat()
            send(store, order({"userId": "w"}, at, 1), received=now)
        assert computed(store, "user_id:w")["recent_orders"] == 2
        store.writer.run(
            lambda con: store.computed.refresh_windows(con, now + timedelta(days=5))
        ).result()
        assert computed(store, "user_id:w")["recent_orders"] == 1
        assert computed(store, "user_id:w")["orders_count"] == 3


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "median"}, "t.kind"),
        ({"kind": "sum"}, "t.value"),
        ({"kind": "count", "value": "x"}, "t.value"),
        ({"kind": "sum", "value": "timestamp"}, "t.value"),
        (
            {"kind": "count", "where": {"properties.x": {"between": 1}}},
            "t.where.properties.x.between",
        ),
        ({"kind": "count", "where": {"properties.x": {"gt": "a"}}}, "t.where.properties.x.gt"),
        ({"kind": "count", "window": "30 days"}, "t.window"),
        ({"kind": "count", "colour": "red"}, "t.colour"),
        ({"kind": "first", "value": "a..b"}, "t.value"),
    ],
)
def test_a_bad_definition_names_the_bad_part(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        parse("t", spec)
    assert raised.value.field == field


@pytest.mark.parametrize("rebuild_from_rows", [0, 10**9])
def test_a_recompute_rebuilt_beside_the_table_equals_one_deleted_in_place(
    store: Store, monkeypatch: pytest.MonkeyPatch, rebuild_from_rows: int
) -> None:
    """A recompute of most of the tallies writes them into a table built beside the old one
    and swapped in (``batch._cleared``); the values, the rows of the traits not recomputed
    and the indexes come out as deleting in place gives them."""
    monkeypatch.setattr(batch, "REBUILD_MIN_ROWS", rebuild_from_rows)
    for who in ("a", "b", "c"):
        send(store, order({"userId": who}, "2026-01-01T00:00:00Z", 10, category="x"),
             order({"userId": who}, "2026-01-02T00:00:00Z", 30, category="y"),
             {"type": "page", "userId": who, "timestamp": "2026-01-03T00:00:00Z"},
             source="web")  # fmt: skip
    store.tallies.now()  # the tallies as stored, every event in them
    before = {who: computed(store, f"user_id:{who}") for who in ("a", "b", "c")}
    everything = list(store.computed.definitions)
    kept = ["last_seen"]
    with store.reader() as con:
        rows_kept = con.execute(
            "FROM __kenning_trait_tallies WHERE trait = ANY(?) ORDER BY ALL", [kept]
        ).fetchall()
    # most rows replaced: rebuilt when allowed (threshold 0), deleted in place otherwise
    chosen = [name for name in everything if name not in kept]
    store.writer.run(lambda con: store.computed.recompute(con, chosen)).result()
    with store.reader() as con:
        assert (
            con.execute(
                "FROM __kenning_trait_tallies WHERE trait = ANY(?) ORDER BY ALL", [kept]
            ).fetchall()
            == rows_kept
        )
        indexes = {
            table: index
            for index, table in con.execute(
                """SELECT index_name, table_name FROM duckdb_indexes()
                   WHERE table_name LIKE '__kenning_trait_%'"""
            ).fetchall()
        }
        tables = {t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '__kenning_trait_%'"
        ).fetchall()}  # fmt: skip
    assert indexes == {
        "__kenning_trait_tallies": "__kenning_trait_tallies_profile",
        "__kenning_trait_values": "__kenning_trait_values_profile",
    }
    assert not any(t.endswith("_rebuilt") for t in tables)
    assert {who: computed(store, f"user_id:{who}") for who in ("a", "b", "c")} == before
    # and the store goes on: a new event counts, on top of the recomputed tallies
    send(store, order({"userId": "a"}, "2026-01-04T00:00:00Z", 60), source="web")
    assert computed(store, "user_id:a")["orders_count"] == before["a"]["orders_count"] + 1


def _tally_rows(store: Store) -> int:
    with store.reader() as con:
        [(rows,)] = con.execute("SELECT count(*) FROM __kenning_trait_tallies").fetchall()
    return int(rows)


@pytest.mark.parametrize("rebuild_from_rows", [0, 10**9])
def test_the_catch_up_compacts_the_tallies_it_appended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rebuild_from_rows: int
) -> None:
    """Each catch-up appends a row per (profile, trait) its events count in; once the rows
    appended pass the threshold it combines them, in its own transaction, deleting in place
    or (most rows replaced) writing the table afresh beside the old one; the values never
    change, the indexes stay."""
    monkeypatch.setattr(stage, "_COMPACT_AFTER_ROWS", 40)
    monkeypatch.setattr(batch, "REBUILD_MIN_ROWS", rebuild_from_rows)
    day = datetime(2026, 3, 1, tzinfo=UTC)
    with Store.open(tmp_path / "kenning.duckdb") as store:
        who = {"anonymousId": "a1"}
        rows = []
        for n in range(12):  # a catch-up each, appending a row per trait it counts in (9)
            send(store, order(who, (day + timedelta(hours=n)).isoformat(), 10 + n))
            store.tallies.now()
            rows.append(_tally_rows(store))
            assert computed(store, "anonymous_id:a1")["orders_count"] == n + 1
        # 108 rows appended in all: compacted back to one per (profile, trait) on the way,
        # never more than the threshold and one catch-up's rows.
        assert min(rows[1:]) <= 10
        assert max(rows) <= 40 + 9
        expected = computed(store, "anonymous_id:a1")
        with store.reader() as con:
            indexed = {
                table
                for (table,) in con.execute(
                    """SELECT table_name FROM duckdb_indexes()
                       WHERE starts_with(table_name, '__kenning_trait_')"""
                ).fetchall()
            }
        assert indexed == {"__kenning_trait_tallies", "__kenning_trait_values"}
        store.writer.run(lambda con: store.computed.recompute(con)).result()
        assert computed(store, "anonymous_id:a1") == expected


def _watermark(store: Store) -> tuple[int, int]:
    """(the watermark, the last event's log position)."""
    with store.reader() as con:
        [(watermark, last)] = con.execute(
            """SELECT (SELECT seq FROM __kenning_trait_watermark),
                      (SELECT max(seq) FROM __kenning_events)"""
        ).fetchall()
    return int(watermark), int(last)


def test_the_catch_up_tallies_what_was_committed_without_being_asked(store: Store) -> None:
    """The catch-up thread wakes on each commit: the events end up in the stored tallies with
    no call, and a read counts them the same before and after."""
    send(store, order({"userId": "u"}, "2026-01-01T00:00:00Z", 10),
         order({"userId": "u"}, "2026-01-02T00:00:00Z", 15))  # fmt: skip
    seen = computed(store, "user_id:u")
    assert (seen["orders_count"], seen["lifetime_value"]) == (2, 25.0)
    deadline = time.monotonic() + 30
    while _watermark(store)[0] < _watermark(store)[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    watermark, last = _watermark(store)
    assert watermark == last
    with store.reader() as con:
        [(counted,)] = con.execute(
            "SELECT sum(n) FROM __kenning_trait_tallies WHERE trait = 'orders_count'"
        ).fetchall()
    assert counted == 2
    assert computed(store, "user_id:u") == seen


def test_a_recompute_counts_the_events_not_tallied_once(store: Store) -> None:
    """A recompute (a writer job) catches up in its own transaction before it replaces the
    tallies: events after the watermark are neither lost nor counted twice."""
    store.tallies.stop()
    send(store, order({"userId": "u"}, "2026-01-01T00:00:00Z", 10))
    store.tallies.now()
    send(store, order({"userId": "u"}, "2026-01-02T00:00:00Z", 15))
    assert _watermark(store)[0] < _watermark(store)[1]
    store.writer.run(lambda con: store.computed.recompute(con, ["orders_count"])).result()
    watermark, last = _watermark(store)
    assert watermark == last
    found = computed(store, "user_id:u")
    assert (found["orders_count"], found["lifetime_value"]) == (2, 25.0)
