"""Conversions read from a real store: by name and filters, their value from the first path
that holds a number, and a person's first one only when asked."""

from datetime import timedelta
from typing import Any

from kenning.journeys.channels import ChannelRules
from kenning.journeys.conversions import Conversion, conversions_sql
from kenning.journeys.touchpoints import TouchOptions
from kenning.store.store import Store
from tests.journeys.test_touchpoints import START, at, send


def order(user: str, minutes: float, **properties: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": "Order Completed",
            "properties": properties, "timestamp": at(minutes)}  # fmt: skip


def found(store: Store, conversion: Conversion, **options: Any) -> list[tuple[Any, ...]]:
    params: list[Any] = []
    sql = conversions_sql(conversion, TouchOptions(ChannelRules.default(), **options), params)
    with store.reader() as con:
        return con.execute(
            f"""SELECT i.value, c.ts, c.value FROM ({sql}) c
                JOIN kenning_identifiers i ON i.profile_id = c.profile_id AND i.type = 'user_id'
                ORDER BY c.ts""",
            params,
        ).fetchall()


def test_conversions_by_name_filter_and_value(store: Store) -> None:
    send(
        store,
        "web",
        order("u1", 0, revenue=10, currency="EUR"),
        order("u1", 10, total="12.5", currency="EUR"),  # text that spells a number
        order("u2", 20, revenue="n/a", value=7, currency="USD"),  # revenue is no number
        order("u2", 30, currency="EUR"),  # no value at all
        {"type": "track", "userId": "u2", "event": "Signed Up", "timestamp": at(1)},
    )
    everything = found(store, Conversion.parse("Order Completed"))
    assert [(u, v) for u, _, v in everything] == [("u1", 10.0), ("u1", 12.5), ("u2", 7.0),
                                                  ("u2", 0.0)]  # fmt: skip
    euro = found(store, Conversion.parse("Order Completed", {"properties.currency": "EUR"}))
    assert [(u, v) for u, _, v in euro] == [("u1", 10.0), ("u1", 12.5), ("u2", 0.0)]
    signups = found(store, Conversion.parse("Signed Up"))
    assert [(u, v) for u, _, v in signups] == [("u2", 0.0)]


def test_first_only_takes_each_persons_first_conversion_ever(store: Store) -> None:
    send(store, "web", order("u1", 0, revenue=1), order("u1", 100, revenue=2),
         order("u2", 200, revenue=3), order("u2", 300, revenue=4))  # fmt: skip
    first = Conversion.parse("Order Completed", first_only=True)
    assert [(u, v) for u, _, v in found(store, first)] == [("u1", 1.0), ("u2", 3.0)]
    # a range keeps the first conversions inside it; u1's first came before it
    later = found(store, first, since=START + timedelta(minutes=50))
    assert [(u, v) for u, _, v in later] == [("u2", 3.0)]
    assert [(u, v) for u, _, v in found(store, Conversion.parse("Order Completed"),
                                        since=START + timedelta(minutes=50))] == [
        ("u1", 2.0), ("u2", 3.0), ("u2", 4.0)]  # fmt: skip
