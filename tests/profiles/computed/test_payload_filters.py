"""Filters read straight from a message's JSON text (journeys, funnels, conversions) decide
as the ingest-time filters do (tally.holds), on random messages."""

from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.profiles.computed.batch import payload_condition_sql
from kenning.profiles.computed.definitions import parse_filters
from kenning.profiles.computed.tally import Event, holds

_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([1.5, -0.5, 2.0]),
    st.sampled_from(["shoes", "hats", "2", "2.5", "", "true"]),
)  # fmt: skip
_MESSAGE = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "page"]), "event": st.sampled_from(["A", "B"])},
    optional={
        "properties": st.fixed_dictionaries(
            {},
            optional={
                "category": _VALUE,
                "n": _VALUE,
                "products": st.one_of(
                    st.lists(st.fixed_dictionaries({}, optional={"category": _VALUE}), max_size=3),
                    _VALUE,
                ),
            },
        )
    },
)
_OPERAND = st.sampled_from(["shoes", "2", 2, 1.5, True, ""])
_FILTER = st.one_of(
    st.tuples(
        st.sampled_from(["properties.category", "properties.n", "properties.products[].category",
                         "event", "source"]),
        st.one_of(
            _OPERAND,
            st.fixed_dictionaries({"ne": _OPERAND}),
            st.fixed_dictionaries({"in": st.lists(_OPERAND, min_size=1, max_size=3)}),
            st.fixed_dictionaries({"not_in": st.lists(_OPERAND, min_size=1, max_size=2)}),
            st.fixed_dictionaries({"gt": st.integers(-2, 2)}),
            st.fixed_dictionaries({"lte": st.sampled_from([1.5, 2])}),
            st.fixed_dictionaries({"exists": st.booleans()}),
        ),
    )
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(st.lists(_MESSAGE, min_size=1, max_size=8), _FILTER)
def test_a_payload_filter_decides_as_ingest_does(
    messages: list[dict[str, Any]], chosen: tuple[str, Any]
) -> None:
    (condition,) = parse_filters({chosen[0]: chosen[1]}, "where")
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INT, type VARCHAR, event VARCHAR, src VARCHAR, p VARCHAR)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, 'web', ?)",
        [(i, m["type"], m["event"], orjson.dumps(m).decode()) for i, m in enumerate(messages)],
    )
    params: list[Any] = []
    test = payload_condition_sql(condition, "p", params, source="src")
    found = [bool(v) for (v,) in con.execute(f"SELECT {test} FROM t ORDER BY i", params).fetchall()]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    expected = [
        holds(condition, Event(i, 1, at, m["type"], m["event"], "web", m))
        for i, m in enumerate(messages)
    ]
    assert found == expected
