"""Depth and string limits of JSON values, and writing values deeper than orjson does."""

import doctest
from datetime import UTC, datetime

import orjson
import pytest

from kenning.spec import nesting
from kenning.spec.limits import Limits
from kenning.spec.messages import InvalidMessage, validate_message
from kenning.spec.nesting import Violation, dumps_any_depth, find_violation

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def nested(depth: int) -> object:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_the_docstring_examples() -> None:
    result = doctest.testmod(nesting)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize(
    ("value", "max_depth", "max_chars", "expected"),
    [
        ("x" * 5, 1, 5, None),
        ("x" * 6, 1, 5, Violation("string_too_long", "a string is longer than 5 characters", None)),
        ({}, 1, None, None),
        ({"a": {}}, 1, None, Violation("too_deep", "JSON nested deeper than 1 levels", "a")),
        ([[], [[]]], 2, None, Violation("too_deep", "JSON nested deeper than 2 levels", "[1][0]")),
        ({"a": [{"b": "xyz"}]}, 3, 2, Violation(
            "string_too_long", "a string is longer than 2 characters", "a[0].b")),
        ({"long-key": 1}, 3, 4, Violation(
            "string_too_long", "a string is longer than 4 characters", "long-key")),
        ({"a": "x" * 100}, 3, None, None),
        (nested(32), 32, None, None),
        (17, 1, 1, None),
    ],
)  # fmt: skip
def test_find_violation(
    value: object, max_depth: int, max_chars: int | None, expected: Violation | None
) -> None:
    assert find_violation(value, max_depth=max_depth, max_string_chars=max_chars) == expected


def test_a_very_deep_value_is_walked_without_recursion() -> None:
    violation = find_violation(nested(100_000), max_depth=32)
    assert violation is not None and violation.field == "[0]" * 32


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"a": [1, 2.5, None, True, 'é\n"', {"b": {}}], "c": []},
            b'{"a":[1,2.5,null,true,"\xc3\xa9\\n\\"",{"b":{}}],"c":[]}',
        ),
        (nested(255), b"[" * 255 + b"]" * 255),
        (
            {"deep": nested(1_000), "after": ["x", {"y": 1}]},
            b'{"deep":' + b"[" * 1_000 + b"]" * 1_000 + b',"after":["x",{"y":1}]}',
        ),
    ],
)
def test_dumps_any_depth_writes_json(value: object, expected: bytes) -> None:
    written = dumps_any_depth(value)
    assert written == expected
    orjson.loads(written)  # what it writes, orjson reads (up to its 1,024 levels)


def test_dumps_any_depth_refuses_what_is_not_json() -> None:
    with pytest.raises(orjson.JSONEncodeError):
        dumps_any_depth({"a": nested(300), "b": object()})
    with pytest.raises(orjson.JSONEncodeError):
        dumps_any_depth({1: nested(300)})


def _validate(properties: object) -> None:
    message = {"type": "track", "userId": "u", "event": "E", "properties": properties}
    validate_message(message, received_at=NOW, limits=Limits())


def test_a_message_is_held_to_the_depth_limit() -> None:
    # The message is level 1 and properties level 2: 30 more are allowed.
    _validate({"a": nested(30)})
    for depth in (31, 300):  # the second is deeper than orjson writes
        with pytest.raises(InvalidMessage) as refused:
            _validate({"a": nested(depth)})
        assert (refused.value.code, refused.value.field) == (
            "too_deep",
            "properties.a" + "[0]" * 30,
        )


def test_many_shallow_containers_are_not_too_deep() -> None:
    """More brackets than the limit, but flat: the quick count sends it to the walk, which
    finds nothing."""
    _validate({"products": [{"id": i, "tags": []} for i in range(100)]})
