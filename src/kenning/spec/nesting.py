"""How deep and how long a JSON value is: checked against limits, and written at any depth.

Deep nesting costs every later reader (each recursive walk, each JSON function), and orjson,
which reads up to 1,024 levels, writes only 254: a message nested deeper could be read but
neither stored nor quarantined. So values are held to a depth, walked without recursion, and a
quarantined message too deep for orjson is still written (``dumps_any_depth``), so that
nothing received is dropped.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

import orjson

# One container in the walk: the value, its depth, the frame it sits in and its key there
# (the path is built from these links only when a violation is found).
_Frame = tuple[object, int, "_Frame | None", object]


@dataclass(frozen=True, slots=True)
class Violation:
    """Where a JSON value breaks a limit: ``code`` is ``too_deep`` or ``string_too_long``,
    ``field`` the path of the offending value (None for the value itself)."""

    code: str
    message: str
    field: str | None


def find_violation(
    value: object, *, max_depth: int, max_string_chars: int | None = None
) -> Violation | None:
    """The first place ``value`` is nested deeper than ``max_depth`` containers or holds a
    string (a value or a key) longer than ``max_string_chars``; None when it keeps to both.

    >>> find_violation({"a": [[1]]}, max_depth=2)
    Violation(code='too_deep', message='JSON nested deeper than 2 levels', field='a[0]')
    >>> find_violation({"name": "x" * 9}, max_depth=8, max_string_chars=8).field
    'name'
    >>> find_violation({"a": [{"b": 1}]}, max_depth=3) is None
    True
    """
    if not isinstance(value, dict | list):
        if _too_long(value, max_string_chars):
            return _string_too_long(max_string_chars, None)
        return None
    if max_depth < 1:
        return _too_deep(max_depth, None)
    if max_string_chars is None and _shallow(value, max_depth):
        return None  # the usual case, answered without building paths
    stack: list[_Frame] = [(value, 1, None, None)]
    while stack:
        frame = stack.pop()
        node, depth = frame[0], frame[1]
        items: Iterable[tuple[object, object]] = (
            node.items() if isinstance(node, dict) else enumerate(cast(list[object], node))
        )
        for key, child in items:
            if _too_long(key, max_string_chars):
                return _string_too_long(max_string_chars, _path((None, 0, frame, key)))
            if isinstance(child, dict | list):
                if depth >= max_depth:
                    return _too_deep(max_depth, _path((child, depth + 1, frame, key)))
                stack.append((child, depth + 1, frame, key))
            elif _too_long(child, max_string_chars):
                return _string_too_long(max_string_chars, _path((child, depth + 1, frame, key)))
    return None


def _shallow(value: dict[object, object] | list[object], max_depth: int) -> bool:
    """Whether no container in ``value`` is deeper than ``max_depth``: a pass level by level
    over the containers alone, a fifth of the cost of the walk that finds where one is."""
    level: list[object] = [value]
    for _ in range(max_depth):
        below: list[object] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else cast(list[object], node)
            below.extend([child for child in children if isinstance(child, dict | list)])
        if not below:
            return True
        level = below
    return False


def _too_long(value: object, max_chars: int | None) -> bool:
    return max_chars is not None and isinstance(value, str) and len(value) > max_chars


def _too_deep(max_depth: int, field: str | None) -> Violation:
    return Violation("too_deep", f"JSON nested deeper than {max_depth} levels", field)


def _string_too_long(max_chars: int | None, field: str | None) -> Violation:
    return Violation("string_too_long", f"a string is longer than {max_chars} characters", field)


def _path(frame: _Frame) -> str | None:
    """The house's field path: ``batch[3].context.traits``."""
    parts: list[str] = []
    current: _Frame | None = frame
    while current is not None and current[2] is not None:
        key = current[3]
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
        current = current[2]
    return "".join(reversed(parts)).lstrip(".") or None


def dumps_any_depth(value: object) -> bytes:
    """``orjson.dumps(value)``, also for a value nested deeper than orjson writes.

    >>> deep = []
    >>> for _ in range(300):
    ...     deep = [deep]
    >>> dumps_any_depth(deep) == b"[" * 301 + b"]" * 301
    True
    >>> dumps_any_depth({"a": [1, "b"]})
    b'{"a":[1,"b"]}'
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        if not isinstance(value, dict | list):
            raise
    # Rare (a message only an attacker or a broken client sends), so plain Python: each
    # container is written piece by piece from an explicit stack instead of recursion.
    out: list[bytes] = []
    stack: list[tuple[bytes, Iterator[tuple[bytes, object]]]] = []
    pending: object = value
    while True:
        if isinstance(pending, dict):
            out.append(b"{")
            stack.append((b"}", _members(pending)))
        elif isinstance(pending, list):
            out.append(b"[")
            stack.append((b"]", ((b"," if i else b"", item) for i, item in enumerate(pending))))
        else:
            out.append(orjson.dumps(pending))
        while stack:
            closer, children = stack[-1]
            step = next(children, None)
            if step is None:
                out.append(closer)
                stack.pop()
                continue
            prefix, pending = step
            out.append(prefix)
            break
        else:
            return b"".join(out)


def _members(mapping: dict[object, object]) -> Iterator[tuple[bytes, object]]:
    for i, (key, item) in enumerate(mapping.items()):
        if not isinstance(key, str):
            raise orjson.JSONEncodeError("Dict key must be str")
        yield (b"," if i else b"") + orjson.dumps(key) + b":", item
