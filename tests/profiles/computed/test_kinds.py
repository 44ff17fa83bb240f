"""Every computed-trait kind on random event logs, three ways: read live (the events after the
watermark tallied in Python, those before it by the catch-up in SQL, then all of them caught
up and compacted), recomputed from the log in SQL, and computed here by brute force from the
messages, written plainly from the rules in docs/profiles.md (not from Kenning's code)."""

import math
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kenning.ingest.pipeline import prepare_messages
from kenning.profiles.computed.definitions import TraitDefinition, parse_all
from kenning.profiles.read import find_profile, profile
from kenning.profiles.state import ProfileSettings
from kenning.spec.limits import Limits
from kenning.store.store import Store

RECEIVED = datetime.now(UTC).replace(microsecond=0)
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")

TRAITS = {
    "n_orders": {"kind": "count", "event": "Order"},
    "n_big": {"kind": "count", "event": "Order", "where": {"properties.x": {"gte": 10}}},
    "n_eur": {"kind": "count", "where": {"properties.c": "EUR", "properties.flag": {"ne": True}}},
    "n_in": {"kind": "count", "where": {"properties.c": {"in": ["EUR", 1, True]}}},
    "n_not_in": {"kind": "count", "type": ["track"], "where": {"properties.c": {"not_in": ["x"]}}},
    "n_has": {"kind": "count", "where": {"properties.x": {"exists": True}}},
    "n_hasnt": {"kind": "count", "where": {"properties.x": {"exists": False}}},
    "n_one": {"kind": "count", "where": {"properties.x": 1}},
    "total": {"kind": "sum", "value": "properties.x"},
    "mean": {"kind": "average", "value": ["properties.x", "properties.y"]},
    "low": {"kind": "min", "value": "properties.x", "where": {"properties.x": {"lt": 1e6}}},
    "high": {"kind": "max", "value": "properties.x"},
    "first_c": {"kind": "first", "value": "properties.c"},
    "last_c": {"kind": "last", "value": ["properties.c", "source"], "event": ["Order", "View"]},
    "first_at": {"kind": "first", "value": "timestamp", "event": "View"},
    "last_at": {"kind": "last", "value": "timestamp"},
    "top": {"kind": "most_frequent", "value": "properties.c"},
    "seen": {"kind": "unique_list", "value": "properties.x"},
    "kinds": {"kind": "unique_count", "value": ["properties.c", "event"]},
    "recent": {"kind": "count", "window": "30d"},
    "recent_sum": {"kind": "sum", "value": "properties.x", "window": "10d"},
    # Array filters: some item passes (none equals, for ne and not_in).
    "n_items_eur": {"kind": "count", "where": {"properties.items[].c": "EUR"}},
    "n_items_big": {"kind": "count", "where": {"properties.items[].x": {"gte": 10}}},
    "n_items_not": {"kind": "count", "where": {"properties.items[].c": {"not_in": ["x", 1]}}},
    "n_items_has": {"kind": "count", "where": {"properties.items[].x": {"exists": True}}},
    "n_items_hasnt": {"kind": "count", "where": {"properties.items[].x": {"exists": False}}},
    "items_total": {
        "kind": "sum",
        "value": "properties.x",
        "where": {"properties.items[].c": {"ne": "EUR"}},
    },
}
DEFINITIONS = parse_all(TRAITS, "config", "computed_traits")
_SETTINGS = ProfileSettings(computed_traits=DEFINITIONS)

# Values that are easy to get wrong: numbers as text, floats JSON writes in exponent form,
# large integers, unicode, booleans (never numbers), null (no value), objects (no scalar).
values = st.one_of(
    st.sampled_from(
        ["EUR", "x", "é日", "10", "2.5", "1e3", "1e999", " 7", "-0", True, False, None, {"a": 1}]
    ),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(-1e15, 1e15, allow_nan=False),
    st.sampled_from([1, 1.0, 10, 0.1, 0.2, 1e16, 3.5e-7, 123456789.125]),
)
# An array of items (or, to be refused as one, another value).
items = st.one_of(
    st.lists(st.dictionaries(st.sampled_from(["x", "c"]), values, max_size=2), max_size=3),
    values,
)
events = st.fixed_dictionaries(
    {
        "who": st.integers(0, 3),
        "kind": st.sampled_from(["Order", "View", "Other", "page", "identify"]),
        "day": st.integers(0, 40),  # days before now
        "props": st.dictionaries(st.sampled_from(["x", "y", "c", "flag"]), values, max_size=4),
    },
    optional={"items": items},
)


def as_message(drawn: dict[str, Any], index: int) -> dict[str, Any]:
    # Noon-ish offsets keep every event far from a window's edge.
    at = RECEIVED - timedelta(days=drawn["day"], hours=12, seconds=index)
    message: dict[str, Any] = {"anonymousId": f"a{drawn['who']}", "timestamp": at.isoformat()}
    if drawn["kind"] in {"page", "identify"}:
        message["type"] = drawn["kind"]
    else:
        message.update(type="track", event=drawn["kind"])
    if drawn["kind"] == "identify":
        message["userId"] = f"u{drawn['who'] % 2}"  # joins a0 with a2, a1 with a3
    message["properties"] = drawn["props"]
    if "items" in drawn:
        message["properties"] = {**drawn["props"], "items": drawn["items"]}
    return message


# -- brute force ------------------------------------------------------------------------------

_ABSENT = object()


def _at(message: dict[str, Any], path: str, source: str) -> Any:
    if path == "timestamp":
        return datetime.fromisoformat(message["timestamp"])
    if path == "source":
        return source
    if path == "event":
        return message.get("event", _ABSENT)
    if path == "type":
        return message["type"]
    node: Any = message
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return _ABSENT
        node = node[key]
    return node


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value) and math.isfinite(float(value)):
        return float(value)
    return None


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return type(value) is type(wanted) and value == wanted
    if isinstance(wanted, int | float):
        return isinstance(value, int | float) and float(value) == float(wanted)
    return isinstance(value, str) and value == wanted


def _passes(test: Any, value: Any) -> bool:
    if not isinstance(test, dict):
        return _same(value, test)
    ((op, operand),) = test.items()
    if op == "exists":
        return (value is not _ABSENT and value is not None) is operand
    if op in {"ne", "not_in"}:
        options = operand if op == "not_in" else [operand]
        return not any(_same(value, o) for o in options)
    if op == "in":
        return any(_same(value, o) for o in operand)
    n = _as_number(value)
    return n is not None and {"gt": n > operand, "gte": n >= operand, "lt": n < operand,
                              "lte": n <= operand}[op]  # fmt: skip


def _items_at(message: dict[str, Any], path: str) -> list[Any]:
    """``properties.items[].c``: the ``c`` of each item that has one (none unless a list)."""
    head, tail = path.split("[].")
    found = _at(message, head, "src")
    if not isinstance(found, list):
        return []
    return [item[tail] for item in found if isinstance(item, dict) and tail in item]


def _passes_some(test: Any, found: list[Any]) -> bool:
    """Some item passes; ``ne``/``not_in``: no item equals; ``exists: false``: no item has
    it."""
    if isinstance(test, dict) and next(iter(test)) in {"ne", "not_in"}:
        ((op, operand),) = test.items()
        options = operand if op == "not_in" else [operand]
        return not any(_same(v, o) for v in found for o in options)
    if test == {"exists": False}:
        return not any(_passes({"exists": True}, v) for v in found)
    return any(_passes(test, v) for v in found)


def _filter_passes(message: dict[str, Any], path: str, test: Any) -> bool:
    if "[]" in path:
        return _passes_some(test, _items_at(message, path))
    return _passes(test, _at(message, path, "src"))


def _scalar_json(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float) else _ABSENT


def brute_force(spec: dict[str, Any], log: list[tuple[int, dict[str, Any]]]) -> Any:
    """``log``: (seq, message) of one person, any order."""
    names = spec.get("event")
    names = [names] if isinstance(names, str) else names
    paths = spec.get("value", [])
    paths = [paths] if isinstance(paths, str) else paths
    window = {"30d": timedelta(days=30), "10d": timedelta(days=10)}.get(spec.get("window", ""))
    picked = []
    for seq, message in sorted(log, key=lambda e: (e[1]["timestamp"], e[0])):
        at = datetime.fromisoformat(message["timestamp"])
        if window and at <= RECEIVED - window:
            continue
        if names and message.get("event") not in names:
            continue
        if "type" in spec and message["type"] not in spec["type"]:
            continue
        if not all(_filter_passes(message, p, t) for p, t in spec.get("where", {}).items()):
            continue
        value: Any = None
        for path in paths:
            found = _at(message, path, "src")
            if found is not _ABSENT and found is not None:
                value = found
                break
        picked.append((seq, at, value))
    kind = spec["kind"]
    if kind == "count":
        return len(picked)
    if kind in {"sum", "average", "min", "max"}:
        numbers = [n for _, _, v in picked if (n := _as_number(v)) is not None]
        if kind == "sum":
            return math.fsum(numbers)
        if not numbers:
            return None
        return {"average": math.fsum(numbers) / max(len(numbers), 1), "min": min(numbers),
                "max": max(numbers)}[kind]  # fmt: skip
    if paths == ["timestamp"]:
        times = [at for _, at, _ in picked]
        return (times[0] if kind == "first" else times[-1]).isoformat() if times else None
    scalars = [(seq, at, v) for seq, at, v in picked if _scalar_json(v) is not _ABSENT]
    if kind in {"first", "last"}:
        return (scalars[0] if kind == "first" else scalars[-1])[2] if scalars else None
    # Distinct by JSON value: 1 and 1.0 are different values, as JSON writes them.
    counts: dict[str, tuple[int, Any, Any]] = {}
    for _, _, v in scalars:  # in time order, so the last one seen is the latest
        key = repr(v) if isinstance(v, float) else f"{type(v).__name__}:{v}"
        counts[key] = (counts.get(key, (0, None, None))[0] + 1, len(counts), v)
    if kind == "unique_count":
        return len(counts)
    return counts


def _equal_values(a: Any, b: Any) -> bool:
    """Equal, floats up to rounding; lists, dicts and types exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal_values(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal_values(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return bool(a == b) and type(a) is type(b)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b) and type(a) is type(b)


def assert_matches_brute_force(name: str, got: Any, expected: Any) -> None:
    kind = TRAITS[name]["kind"]
    if kind in {"most_frequent", "unique_list"}:
        values = {
            repr(v) if isinstance(v, float) else f"{type(v).__name__}:{v}"
            for v in (got if kind == "unique_list" else [got] if got is not None else [])
        }
        if kind == "unique_list":
            assert values == set(expected), name
        elif expected:
            top = max(n for n, _, _ in expected.values())
            assert values <= {k for k, (n, _, _) in expected.items() if n == top}, name
            assert len(values) == 1, name
        else:
            assert got is None, name
        return
    assert _close(got, expected), (name, got, expected)


def _event(who: int, kind: str, day: int, **props: Any) -> dict[str, Any]:
    return {"who": who, "kind": kind, "day": day, "props": props}


# Edges: a filter's bound itself, a number as text, 1 and 1.0, true beside 1, null, a tie.
_EDGES = [
    _event(0, "Order", 1, x=10, c="EUR"),
    _event(0, "Order", 2, x="10", c=1.0, flag=True),
    _event(1, "Order", 3, x=9.5, c=1, y=2),
    _event(1, "View", 35, x=None, c=True),
    _event(2, "identify", 5, x="1e999", c="EUR"),
    _event(3, "page", 11, x=1e16, c="x"),
    _event(3, "Other", 0, y="2.5", c="x", flag=False),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(_EDGES, 1)
@example(_EDGES, 100)
@example(  # the order of additions decides 1e16 + 1 + 2
    [_event(0, "Order", 0, x=1e16), _event(0, "Order", 0, x=1), _event(0, "Order", 0, x=2)], 1
)
@given(st.lists(events, min_size=1, max_size=30), st.sampled_from([1, 4, 100]))
def test_live_equals_recompute_equals_brute_force(drawn: list[dict[str, Any]], group: int) -> None:
    messages = [as_message(d, i) for i, d in enumerate(drawn)]
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb", profiles=_SETTINGS) as store,
    ):
        # Catch-ups only when the test says: the first half of the groups is tallied in
        # SQL, the rest is read as events not tallied yet and tallied in Python.
        store.tallies.stop()
        starts = range(0, len(messages), group)
        for n, start in enumerate(starts):
            if n == len(starts) // 2:
                store.tallies.now()
            prepared = prepare_messages(
                messages[start : start + group],
                source_id="src",
                received_at=RECEIVED,
                limits=Limits(),
            )
            assert not prepared.rejections
            store.write_events(prepared.events).result()
        assert store.tail_plan() is not None  # the last group is not tallied
        people = {find_profile(store, f"anonymous_id:a{who}") for who in range(4)} - {None}
        live = {p: profile(store, p)["computed_traits"] for p in people if p is not None}
        store.tallies.now()
        assert store.tail_plan() is None
        caught_up = {p: profile(store, p)["computed_traits"] for p in people if p is not None}
        assert _equal_values(caught_up, live)
        # Catch-ups append tallies; compacting them changes no value (sums up to the order of
        # floating-point additions: 1e16 + 1 + 2 depends on which two meet first).
        store.writer.run(store.computed.compact).result()
        compacted = {p: profile(store, p)["computed_traits"] for p in people if p is not None}
        assert _equal_values(compacted, live)
        store.writer.run(store.computed.recompute).result()
        recomputed = {p: profile(store, p)["computed_traits"] for p in people if p is not None}
        assert _equal_values(recomputed, live)
        for who in range(4):
            profile_id = find_profile(store, f"anonymous_id:a{who}")
            if profile_id is None:
                continue
            mine = {
                f"a{w}" for w in range(4) if find_profile(store, f"anonymous_id:a{w}") == profile_id
            }
            log = [(i, m) for i, m in enumerate(messages) if m["anonymousId"] in mine]
            for definition in DEFINITIONS:
                expected = brute_force(TRAITS[definition.name], log)
                assert_matches_brute_force(
                    definition.name, live[profile_id].get(definition.name), expected
                )


def test_definitions_round_trip() -> None:
    again: tuple[TraitDefinition, ...] = parse_all(
        {d.name: d.spec for d in DEFINITIONS}, "config", "computed_traits"
    )
    assert [d.fingerprint for d in again] == [d.fingerprint for d in DEFINITIONS]
