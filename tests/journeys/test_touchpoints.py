"""Touchpoints read from a real store: a visit is one touch, sends and server events are
none, a person's touches cross the devices identity joined."""

from datetime import UTC, datetime, timedelta
from typing import Any

from kenning.ingest.pipeline import prepare_messages
from kenning.journeys.channels import ChannelRules
from kenning.journeys.touchpoints import TouchOptions, touches_sql
from kenning.spec.limits import Limits
from kenning.store.store import Store

START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


def send(store: Store, source: str, *messages: dict[str, Any]) -> None:
    # received well after the events: no timestamp is in the future, so none is corrected
    received = START + timedelta(days=365)
    prepared = prepare_messages(list(messages), source_id=source, received_at=received,
                                limits=Limits())  # fmt: skip
    assert not prepared.rejections
    store.write_events(prepared.events).result()


def touches(store: Store, **options: Any) -> list[tuple[Any, ...]]:
    params: list[Any] = []
    sql = touches_sql(TouchOptions(ChannelRules.default(), **options), params)
    with store.reader() as con:
        return con.execute(
            f"SELECT profile_id, channel, campaign, utm_source, medium, event, ts "
            f"FROM ({sql}) ORDER BY profile_id, ts, seq",
            params,
        ).fetchall()


def visit(anonymous_id: str, minutes: float, *, utm: dict[str, str] | None = None,
          **extra: Any) -> dict[str, Any]:  # fmt: skip
    context: dict[str, Any] = {"page": {"url": "https://shop.example/"}}
    if utm:
        context["campaign"] = utm
    return {"type": "page", "anonymousId": anonymous_id, "name": "Home", "context": context,
            "timestamp": at(minutes), **extra}  # fmt: skip


def test_a_visit_is_one_touch_and_a_new_channel_or_a_pause_starts_another(store: Store) -> None:
    cpc = {"source": "google", "medium": "cpc", "name": "brand"}
    send(
        store,
        "web",
        visit("a", 0, utm=cpc),
        visit("a", 5, utm=cpc),  # the same visit
        visit("a", 20, utm=cpc),  # 15 minutes after the previous page: the same visit
        visit("a", 100, utm=cpc),  # a pause of 80 minutes: a new touch
        visit("a", 101),  # direct now: a new touch
        {"type": "track", "anonymousId": "a", "event": "Product Viewed", "timestamp": at(102)},
        {"type": "identify", "anonymousId": "a", "traits": {"x": 1}, "timestamp": at(103)},
    )
    found = touches(store)
    assert [(c, camp, src, med) for _, c, camp, src, med, _, _ in found] == [
        ("paid_search", "brand", "google", "cpc"),
        ("paid_search", "brand", "google", "cpc"),
        ("direct", None, None, None),
    ]
    assert [ts for *_, ts in found] == [START, START + timedelta(minutes=100),
                                        START + timedelta(minutes=101)]  # fmt: skip


def test_sends_and_unevidenced_server_events_are_not_touches(store: Store) -> None:
    user = {"userId": "u1"}
    send(
        store,
        "esp",
        {"type": "track", **user, "event": "Email Sent", "timestamp": at(0)},
        {"type": "track", **user, "event": "Email Opened", "timestamp": at(60)},
    )
    send(store, "loyalty", {"type": "track", **user, "event": "Points Earned", "timestamp": at(90)})
    send(store, "pos", {"type": "track", **user, "event": "Order Completed", "timestamp": at(120)})
    assert [(c, e) for _, c, *_, e, _ in touches(store)] == [
        ("email", "Email Opened"),
        ("store", "Order Completed"),
    ]
    params: list[Any] = []
    sql = touches_sql(TouchOptions(ChannelRules.default()), params, exclude=["Order Completed"])
    with store.reader() as con:
        assert [c for (c,) in con.execute(f"SELECT channel FROM ({sql})", params).fetchall()] == [
            "email"
        ]


def test_a_journey_crosses_the_devices_identity_joined(store: Store) -> None:
    send(store, "web", visit("phone", 0, utm={"source": "facebook", "medium": "paid_social"}))
    send(store, "web", visit("laptop", 600, utm={"source": "google", "medium": "cpc"}))
    before = touches(store)
    assert len({p for p, *_ in before}) == 2
    # the same person signs in on both devices: one profile, one journey over both
    send(
        store,
        "web",
        {"type": "identify", "anonymousId": "phone", "userId": "u9", "timestamp": at(700)},
        {"type": "identify", "anonymousId": "laptop", "userId": "u9", "timestamp": at(701)},
    )
    after = touches(store)
    assert len({p for p, *_ in after}) == 1
    assert [c for _, c, *_ in after] == ["paid_social", "paid_search"]


def test_touches_can_be_limited_to_a_time_range_and_to_people(store: Store) -> None:
    send(store, "web", visit("a", 0), visit("a", 200), visit("b", 300))
    assert len(touches(store, since=START + timedelta(minutes=100))) == 2
    assert len(touches(store, until=START + timedelta(minutes=100))) == 1
    people = {p for p, *_ in touches(store)}
    chosen = min(people)
    assert {p for p, *_ in touches(store, profiles=[chosen])} == {chosen}
