"""The condition language: what parses (and comes back unchanged through ``dump``), what is
refused and the path each refusal names, the published JSON Schema, the audience around a
condition (``parse_audience``) and the order audiences are evaluated in (``in_order``)."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kenning.audiences.audience import Audience, in_order, parse_audience
from kenning.audiences.conditions import (
    CONDITION_SCHEMA,
    VALUE_OPERATORS,
    ConditionError,
    EventTest,
    dump,
    parse,
    walk,
)

DOCS = Path(__file__).parents[2] / "docs" / "audiences.md"
KINDS = ("all", "any", "not", "trait", "computed", "event", "audience", "consent", "household",
         "prediction")  # fmt: skip

# -- conditions that parse ----------------------------------------------------------------------

# Each parses, and dumps back as written.
GOOD: list[dict[str, Any]] = [
    {"trait": "email", "exists": True},
    {"trait": "email", "exists": False},
    {"trait": "plan", "eq": "pro"},
    {"trait": "plan", "eq": 1},
    {"trait": "plan", "eq": 1.5},
    {"trait": "plan", "eq": True},
    {"trait": "plan", "ne": "pro"},
    {"trait": "address.city", "in": ["Leeds", "York"]},
    {"trait": "x", "in": [1, "1", True, 1.5]},  # each keeps its type
    {"trait": "x", "not_in": [False]},
    {"trait": "score", "gt": 10},
    {"trait": "score", "gte": 9.5},
    {"trait": "score", "lt": -1},
    {"trait": "signup", "lte": "2026-01-31"},
    {"trait": "signup", "gte": "2024-01-01T10:00:00+02:00"},
    {"trait": "signup", "gt": "2024-01-01 10:00"},
    {"trait": "tags", "contains": "vip"},
    {"trait": "tags", "contains": 3},
    {"trait": "signup", "within_last": "30d"},
    {"trait": "signup", "before_last": "12h"},
    {"trait": "renewal", "within_next": "36h"},
    {"trait": "birthday", "anniversary_within": "7d"},
    {"computed": "lifetime_value", "gte": 1000},
    {"computed": "channels_used", "contains": "email"},
    {"household": "children", "gte": 1},
    {"household": "id", "exists": True},
    {"prediction": "churn_30d", "gt": 0.5},
    {"event": "Order Completed"},
    {"event": ["Order Completed", "Order Returned"], "type": ["track", "page"]},
    {"event": "Order Completed", "performed": False},
    {"event": "Order Completed", "at_least": 2, "at_most": 2, "within": "90d"},
    {"event": "Order Completed", "at_least": 0},
    {"event": "Order Completed", "at_most": 0},
    {
        "event": "Order Completed",
        "where": {
            "properties.category": "shoes",
            "properties.revenue": {"gte": 100},
            "properties.coupon": {"exists": False},
            "properties.items": {"in": ["a", 1]},
        },
    },
    {"audience": "vips"},
    {"audience": "vips", "member": False},
    {"consent": "marketing_email"},
    {"consent": "marketing_email", "granted": False},
    {"all": [{"trait": "a", "exists": True}]},
    {"any": [{"trait": "a", "exists": True}, {"consent": "sms"}]},
    {"not": {"not": {"audience": "vips"}}},
    {
        "all": [
            {"any": [{"trait": "a", "eq": 1}, {"not": {"event": "X", "within": "14d"}}]},
            {"household": "size", "gte": 2},
        ]
    },
]

# Written one way, kept another (what the store keeps and the API answers).
NORMALISED: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"event": "X", "within": 30}, {"event": "X", "within": "30d"}),  # a number of days
    ({"event": "X", "within": " 2w "}, {"event": "X", "within": "14d"}),
    ({"event": "X", "within": "48h"}, {"event": "X", "within": "2d"}),
    ({"trait": "t", "within_last": "1w"}, {"trait": "t", "within_last": "7d"}),
]


@pytest.mark.parametrize("spec", GOOD, ids=[str(i) for i in range(len(GOOD))])
def test_a_good_condition_parses_and_round_trips(spec: dict[str, Any]) -> None:
    condition = parse(spec)
    assert dump(condition) == spec
    assert parse(dump(condition)) == condition


@pytest.mark.parametrize(("spec", "kept"), NORMALISED)
def test_a_condition_is_kept_in_its_plain_form(spec: dict[str, Any], kept: dict[str, Any]) -> None:
    assert dump(parse(spec)) == kept
    assert parse(kept) == parse(spec)


def test_operands_keep_their_json_type() -> None:
    """1, 1.0, "1" and true are four different operands (like with like)."""
    operands = parse({"trait": "x", "in": [1, 1.0, "1", True]}).operator[1]
    assert [type(o) for o in operands] == [int, float, str, bool]
    assert parse({"trait": "x", "eq": True}).operator == ("eq", True)
    assert parse({"trait": "x", "eq": "1"}).operator == ("eq", "1")


def test_an_event_node_counts_by_its_bounds() -> None:
    def bounds(**spec: Any) -> tuple[int, int | None]:
        node = parse({"event": "X", **spec})
        assert isinstance(node, EventTest)
        return node.bounds

    assert bounds() == (1, None)
    assert bounds(performed=True) == (1, None)
    assert bounds(performed=False) == (0, 0)
    assert bounds(at_least=3) == (3, None)
    assert bounds(at_most=2) == (0, 2)
    assert bounds(at_least=1, at_most=4) == (1, 4)


def test_event_nodes_alike_share_one_counter() -> None:
    def counter(spec: dict[str, Any]) -> str:
        node = parse(spec)
        assert isinstance(node, EventTest)
        return node.counter.name

    shoes = {"event": "Order Completed", "where": {"properties.category": "shoes"}}
    assert counter(shoes) == counter({**shoes, "at_least": 3})  # bounds are not counted
    assert counter(shoes) == counter({**shoes, "performed": False})
    assert counter(shoes) != counter({**shoes, "within": "30d"})
    assert counter(shoes) != counter({"event": "Order Completed"})
    assert counter(shoes) != counter({**shoes, "type": ["track"]})
    assert counter(shoes).startswith("audience_events_")


def test_walk_names_every_node_by_its_path() -> None:
    condition = parse(
        {"all": [{"trait": "a", "eq": 1}, {"not": {"any": [{"consent": "x"}, {"audience": "b"}]}}]}
    )
    assert [path for path, _ in walk(condition)] == [
        "condition",
        "condition.all[0]",
        "condition.all[1]",
        "condition.all[1].not",
        "condition.all[1].not.any[0]",
        "condition.all[1].not.any[1]",
    ]


# -- conditions refused, and the path each refusal names --------------------------------------

ONE_OPERATOR = "give exactly one operator"
KIND = "a condition is an object with one of"
DURATION = "a duration is like 30d"

# (spec, the field named, a part of the message)
BAD: list[tuple[Any, str, str]] = [
    # not a condition at all
    ("x", "condition", KIND),
    ([], "condition", KIND),
    (None, "condition", KIND),
    ({}, "condition", KIND),
    ({"bogus": 1}, "condition", KIND),
    ({"any": [{"nope": 1}]}, "condition.any[0]", KIND),
    ({"all": [{"trait": "a", "eq": 1}, "text"]}, "condition.all[1]", KIND),
    # unknown keys, named where they are
    ({"not": {"trait": "a", "eq": 1, "bogus": 1}}, "condition.not.bogus", "Extra inputs"),
    ({"not": {"not": {"consent": "a", "zz": 1}}}, "condition.not.not.zz", "Extra inputs"),
    (
        {"all": [{"trait": "a", "eq": 1}, {"any": [{"consent": "a", "zz": 1}]}]},
        "condition.all[1].any[0].zz",
        "Extra inputs",
    ),
    ({"event": "X", "bogus": True}, "condition.bogus", "Extra inputs"),
    # operators: one, and the right kind of operand
    ({"trait": "x"}, "condition", ONE_OPERATOR),
    ({"trait": "x", "eq": 1, "ne": 2}, "condition", ONE_OPERATOR),
    (
        {"all": [{"trait": "a", "exists": True}, {"computed": "b"}]},
        "condition.all[1]",
        ONE_OPERATOR,
    ),
    ({"household": "size", "gt": 1, "lt": 3}, "condition", ONE_OPERATOR),
    (
        {"all": [{"trait": "a", "eq": 1}, {"trait": "b", "gte": "abc"}]},
        "condition.all[1].gte",
        "compare with a number or a date",
    ),
    ({"trait": "x", "gt": "10"}, "condition.gt", "compare with a number or a date"),
    ({"trait": "x", "lt": "2024-02-30"}, "condition.lt", "compare with a number or a date"),
    ({"not": {"not": {"trait": "x", "lte": "soon"}}}, "condition.not.not.lte", "compare with"),
    ({"any": [{"all": [{"trait": "x", "in": []}]}]}, "condition.any[0].all[0].in", "at least 1"),
    ({"trait": "x", "not_in": []}, "condition.not_in", "at least 1"),
    ({"trait": "", "eq": 1}, "condition.trait", "at least 1 character"),
    ({"household": "pets", "eq": 1}, "condition.household", "'children'"),
    # durations
    ({"event": "X", "within": "3m"}, "condition.within", DURATION),
    ({"event": "X", "within": "0d"}, "condition.within", DURATION),
    ({"event": "X", "within": -3}, "condition.within", DURATION),
    ({"event": "X", "within": True}, "condition.within", DURATION),
    ({"all": [{"trait": "x", "within_last": "soon"}]}, "condition.all[0].within_last", DURATION),
    ({"trait": "x", "anniversary_within": "7"}, "condition.anniversary_within", DURATION),
    # event nodes
    ({"event": "X", "at_least": 3, "at_most": 2}, "condition", "at_least is more than at_most"),
    ({"event": "X", "performed": False, "at_least": 1}, "condition", "performed, or at_least"),
    ({"event": "X", "at_least": -1}, "condition.at_least", "greater than or equal to 0"),
    ({"event": []}, "condition", "name at least one event"),
    ({"event": "X", "type": ["bogus"]}, "condition.type[0]", "'track'"),
    (
        {"all": [{"event": "X", "where": {"properties.x": {"zz": 1}}}]},
        "condition.all[0].where.properties.x.zz",
        "operators are",
    ),
    (
        {"event": "X", "where": {"properties.x": {"gt": "abc"}}},
        "condition.where.properties.x.gt",
        "takes a number",
    ),
    ({"not": {"event": "X", "where": "shoes"}}, "condition.not.where", "dictionary"),
    # combinations
    ({"all": []}, "condition.all", "at least 1"),
    ({"any": []}, "condition.any", "at least 1"),
    ({"not": {"all": []}}, "condition.not.all", "at least 1"),
    ({"consent": "m", "granted": "maybe"}, "condition.granted", "boolean"),
    ({"audience": "", "member": True}, "condition.audience", "at least 1 character"),
]


@pytest.mark.parametrize(
    ("spec", "field", "message"), BAD, ids=[f"{i}-{row[1]}" for i, row in enumerate(BAD)]
)
def test_a_bad_condition_names_its_path(spec: Any, field: str, message: str) -> None:
    with pytest.raises(ConditionError) as raised:
        parse(spec)
    assert raised.value.field == field
    assert message in str(raised.value)


def test_the_root_of_the_path_is_the_callers() -> None:
    with pytest.raises(ConditionError) as raised:
        parse({"all": [{"trait": "x"}]}, "body.condition")
    assert raised.value.field == "body.condition.all[0]"


# An operand of the wrong JSON type is named by the operator's path, not by the name of the
# Python type pydantic tried last (``condition.eq.str``).
WRONG_TYPE: list[tuple[dict[str, Any], str]] = [
    ({"trait": "x", "eq": [1]}, "condition.eq"),
    ({"trait": "x", "gt": [1]}, "condition.gt"),
    ({"trait": "x", "in": [[1]]}, "condition.in[0]"),
    ({"all": [{"trait": "x", "contains": {}}]}, "condition.all[0].contains"),
    ({"event": 5}, "condition.event"),
]


@pytest.mark.parametrize(("spec", "field"), WRONG_TYPE)
def test_an_operand_of_the_wrong_type_names_the_operator(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ConditionError) as raised:
        parse(spec)
    assert raised.value.field == field


# null is no operand: ``{"gt": null}`` would otherwise pass as the one operator, and then
# fail to compare (a TypeError while evaluating) or hold for everyone (``ne: null``).
NULL_OPERANDS = [
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "contains", "within_last",
    "before_last", "within_next", "anniversary_within",
]  # fmt: skip


@pytest.mark.parametrize("operator", NULL_OPERANDS)
def test_null_is_no_operand(operator: str) -> None:
    with pytest.raises(ConditionError) as raised:
        parse({"all": [{"trait": "x", operator: None}]})
    assert raised.value.field in {"condition.all[0]", f"condition.all[0].{operator}"}


# -- the JSON Schema --------------------------------------------------------------------------


class SchemaError(AssertionError):
    pass


def _resolve(ref: str) -> dict[str, Any]:
    assert ref.startswith("#/$defs/"), ref  # draft 2020-12 keeps definitions in $defs
    found: dict[str, Any] = CONDITION_SCHEMA["$defs"][ref.removeprefix("#/$defs/")]
    return found


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}
# What the checker below understands; the schema is expected to use nothing else.
KNOWN_KEYWORDS = {
    "$schema",
    "$defs",
    "$ref",
    "title",
    "description",
    "default",
    "examples",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "items",
    "minItems",
    "minLength",
    "minimum",
    "enum",
    "pattern",
}


def valid(schema: dict[str, Any], value: Any) -> bool:
    """``value`` against ``schema``: the draft 2020-12 keywords the schema uses (the checker
    jsonschema would be, were it installed)."""
    if "$ref" in schema and not valid(_resolve(schema["$ref"]), value):
        return False
    if "type" in schema and not _TYPES[schema["type"]](value):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "anyOf" in schema and not any(valid(s, value) for s in schema["anyOf"]):
        return False
    if "oneOf" in schema and sum(valid(s, value) for s in schema["oneOf"]) != 1:
        return False
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
        if len(value) < schema.get("minLength", 0):
            return False
    if _TYPES["number"](value) and "minimum" in schema and value < schema["minimum"]:
        return False
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return False
        if "items" in schema and not all(valid(schema["items"], v) for v in value):
            return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if any(key not in value for key in schema.get("required", ())):
            return False
        for key, item in value.items():
            if key in properties:
                if not valid(properties[key], item):
                    return False
            elif schema.get("additionalProperties") is False:
                return False
    return True


def _keywords(schema: Any, found: set[str]) -> set[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in {"properties", "$defs"}:
                for sub in value.values():
                    _keywords(sub, found)
            elif key not in {"examples", "default", "enum", "required"}:
                _keywords(value, found)
    elif isinstance(schema, list):
        for item in schema:
            _keywords(item, found)
    return found


def test_the_schema_is_draft_2020_12() -> None:
    assert CONDITION_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "definitions" not in CONDITION_SCHEMA
    assert _keywords(CONDITION_SCHEMA, set()) <= KNOWN_KEYWORDS
    refs: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(CONDITION_SCHEMA)
    for ref in refs:
        assert _resolve(ref)["type"] == "object"


def test_the_schema_lists_every_kind_and_operator() -> None:
    top = [_resolve(option["$ref"]) for option in CONDITION_SCHEMA["oneOf"]]
    kinds = {next(k for k in KINDS if k in d.get("required", ())) for d in top}
    assert kinds == set(KINDS)
    for definition in top:
        assert definition["additionalProperties"] is False
    for kind in ("trait", "computed", "household", "prediction"):
        (definition,) = [d for d in top if kind in d.get("required", ())]
        assert set(VALUE_OPERATORS) <= set(definition["properties"])
    for kind in ("all", "any", "not"):
        (definition,) = [d for d in top if kind in d.get("required", ())]
        nested = definition["properties"][kind]
        nested = nested.get("items", nested)
        assert nested["oneOf"] == CONDITION_SCHEMA["oneOf"]  # any condition nests


@pytest.mark.parametrize("spec", GOOD, ids=[str(i) for i in range(len(GOOD))])
def test_the_schema_takes_every_good_condition(spec: dict[str, Any]) -> None:
    assert valid(CONDITION_SCHEMA, spec)


SCHEMA_REFUSES: list[Any] = [
    "x",
    {},
    {"bogus": 1},
    {"trait": "x", "eq": 1, "bogus": 2},
    {"trait": "x", "eq": [1]},
    {"trait": "x", "in": []},
    {"event": "X", "within": "3m"},
    {"event": "X", "type": ["bogus"]},
    {"event": "X", "at_least": -1},
    {"household": "pets", "eq": 1},
    {"all": []},
    {"all": [{"trait": "x", "eq": 1}, {"nope": 1}]},
    {"not": {"any": [{"consent": 1}]}},
    {"consent": "x", "granted": "maybe"},
]


@pytest.mark.parametrize("spec", SCHEMA_REFUSES)
def test_the_schema_refuses_what_parse_refuses(spec: Any) -> None:
    assert not valid(CONDITION_SCHEMA, spec)
    with pytest.raises(ConditionError):
        parse(spec)


# Parse takes no more than the schema publishes: a boolean is not a number (``gt: true`` is
# no ``gt: 1``), text is not a boolean or a count.
LAX: list[dict[str, Any]] = [
    {"trait": "x", "gt": True},
    {"trait": "x", "exists": "yes"},
    {"trait": "x", "exists": 1},
    {"consent": "a", "granted": "no"},
    {"audience": "a", "member": "false"},
    {"event": "X", "performed": 0},
    {"event": "X", "at_least": "2"},
]


@pytest.mark.parametrize("spec", LAX)
def test_parse_is_as_strict_as_the_schema(spec: dict[str, Any]) -> None:
    assert not valid(CONDITION_SCHEMA, spec)
    with pytest.raises(ConditionError):
        parse(spec)


def _documented() -> list[Any]:
    """The YAML examples in docs/audiences.md: whole audiences, and conditions separated by
    blank lines."""
    text = DOCS.read_text()
    found: list[Any] = []
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        for part in re.split(r"\n\s*\n", block):
            if part.strip():
                found.append(yaml.safe_load(part))
    return found


def test_every_documented_example_parses_and_fits_the_schema() -> None:
    examples = _documented()
    assert len(examples) >= 5
    for example in examples:
        if "name" in example:
            audience = parse_audience(example)
            assert valid(CONDITION_SCHEMA, dump(audience.condition))
        else:
            assert valid(CONDITION_SCHEMA, example)
            assert dump(parse(example)) == example


def test_the_docs_name_every_kind_and_operator() -> None:
    text = DOCS.read_text()
    for name in (*KINDS, *VALUE_OPERATORS):
        assert f"`{name}`" in text or f'"{name}"' in text, name


# -- audiences --------------------------------------------------------------------------------

CONDITION = {"trait": "email", "exists": True}

# (spec, name given by the URL, field named, a part of the message)
BAD_AUDIENCES: list[tuple[Any, str | None, str, str]] = [
    ("lapsed", None, "", "an audience is an object"),
    (["lapsed"], None, "", "an audience is an object"),
    ({"name": "a", "condition": CONDITION, "bogus": 1}, None, "bogus", "unknown key 'bogus'"),
    ({"name": "a", "condition": CONDITION, "size": 1, "owner": 2}, None, "owner", "'owner'"),
    ({"condition": CONDITION}, None, "name", "lower case letters"),
    ({"name": "Lapsed", "condition": CONDITION}, None, "name", "lower case"),
    ({"name": "9lives", "condition": CONDITION}, None, "name", "starting with a letter"),
    ({"name": "_x", "condition": CONDITION}, None, "name", "starting with a letter"),
    ({"name": "a-b", "condition": CONDITION}, None, "name", "lower case"),
    ({"name": "a b", "condition": CONDITION}, None, "name", "lower case"),
    ({"name": "a" * 65, "condition": CONDITION}, None, "name", "at most 64"),
    ({"name": 7, "condition": CONDITION}, None, "name", "lower case"),
    ({"name": "a\n", "condition": CONDITION}, None, "name", "lower case"),
    ({"name": "other", "condition": CONDITION}, "mine", "name", "the name in the body is not"),
    ({"condition": CONDITION}, "Mine", "name", "lower case"),
    ({"name": "a", "description": 3, "condition": CONDITION}, None, "description", "text"),
    ({"name": "a"}, None, "condition", "needs a condition"),
    ({"name": "a", "condition": {"all": [{"trait": "x"}]}}, None, "condition.all[0]", "operator"),
]


@pytest.mark.parametrize(("spec", "name", "field", "message"), BAD_AUDIENCES)
def test_a_bad_audience_names_the_bad_part(
    spec: Any, name: str | None, field: str, message: str
) -> None:
    with pytest.raises(ConditionError) as raised:
        parse_audience(spec, name)
    assert raised.value.field == field
    assert message in str(raised.value)


def test_an_audience_parses() -> None:
    a = parse_audience({"name": "a" * 64, "condition": CONDITION})
    assert (a.name, a.description, dump(a.condition)) == ("a" * 64, "", CONDITION)
    b = parse_audience({"description": "d", "condition": CONDITION}, "b_2")
    assert b.name == "b_2" and b.description == "d"
    assert parse_audience({"name": "b_2", "condition": CONDITION}, "b_2").name == "b_2"
    assert b.spec == {"name": "b_2", "description": "d", "condition": CONDITION}
    assert parse_audience(b.spec) == b


def test_an_audience_knows_what_it_reads() -> None:
    a = parse_audience(
        {
            "name": "a",
            "condition": {
                "all": [
                    {"audience": "x"},
                    {"not": {"audience": "y", "member": False}},
                    {"event": "E", "within": "7d"},
                    {"any": [{"event": "E", "within": "7d", "at_least": 3}, {"event": "F"}]},
                ]
            },
        }
    )
    assert a.reads_audiences == {"x", "y"}
    assert len(a.counters) == 2  # the two E nodes count alike
    assert {c.events for c in a.counters} == {("E",), ("F",)}
    assert all(c.origin == "audience" for c in a.counters)


def _audience(name: str, *reads: str) -> Audience:
    nodes: list[dict[str, Any]] = [{"audience": r} for r in reads]
    return parse_audience({"name": name, "condition": {"all": [CONDITION, *nodes]}})


def test_audiences_are_ordered_with_what_they_read_first() -> None:
    audiences = [
        _audience("a", "d", "b"),
        _audience("b", "c"),
        _audience("c"),
        _audience("d", "c"),
        _audience("e"),
    ]
    ordered = [a.name for a in in_order(audiences)]
    assert sorted(ordered) == ["a", "b", "c", "d", "e"]
    for audience in audiences:
        for read in audience.reads_audiences:
            assert ordered.index(read) < ordered.index(audience.name), (read, audience.name)
    # The order is a function of the audiences, not of the order they come in.
    assert [a.name for a in in_order(reversed(audiences))] == ordered


@pytest.mark.parametrize(
    ("audiences", "cycle"),
    [
        ([_audience("a", "a")], "a -> a"),
        ([_audience("a", "b"), _audience("b", "a")], "a -> b -> a"),
        (
            [_audience("x"), _audience("b", "c"), _audience("c", "d"), _audience("d", "b")],
            "b -> c -> d -> b",
        ),
    ],
)
def test_a_cycle_is_refused_and_named(audiences: list[Audience], cycle: str) -> None:
    with pytest.raises(ConditionError) as raised:
        in_order(audiences)
    assert cycle in str(raised.value)
    assert raised.value.field == "condition"


def test_an_audience_reading_an_unknown_one_is_refused() -> None:
    with pytest.raises(ConditionError) as raised:
        in_order([_audience("a", "b"), _audience("b", "ghost")])
    assert "no audience is named 'ghost'" in str(raised.value)
    assert raised.value.field == "condition"
