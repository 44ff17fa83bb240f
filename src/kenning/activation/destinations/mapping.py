"""A destination's field mapping: the receiver's field names, filled from the delivery.

A mapping is ``{output path: source path}``, both dotted. The source path reads the webhook
envelope (``id``, ``kind``, ``destination``, ``profile_id``, ``created_at``, ``data``; a number
picks a list's item); the output path says where the value goes in the body sent. With a mapping
only the mapped fields are sent, and a source path the delivery does not have is left out (not
sent as null), so a receiver can tell "unknown" from "empty"::

    >>> m = FieldMapping.parse({"user.id": "profile_id", "email": "data.to.email",
    ...                         "first_sku": "data.items.0.sku", "phone": "data.to.phone"})
    >>> m.apply({"profile_id": 7, "data": {"to": {"email": "a@example.com"},
    ...                                    "items": [{"sku": "S-1"}]}})
    {'user': {'id': 7}, 'email': 'a@example.com', 'first_sku': 'S-1'}
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kenning.activation.destinations.base import DestinationConfigError

ENVELOPE_FIELDS = ("id", "kind", "destination", "profile_id", "created_at", "data")
_MISSING = object()


@dataclass(frozen=True)
class FieldMapping:
    pairs: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]

    @classmethod
    def parse(cls, mapping: Mapping[str, str], field: str = "config.mapping") -> "FieldMapping":
        """Check the paths; the error names the output path at fault
        (``config.mapping.user.id``)."""
        if not mapping:
            raise DestinationConfigError("map at least one field, or leave mapping out", field)
        pairs = []
        outputs: list[tuple[str, ...]] = []
        for output, source in mapping.items():
            at = f"{field}.{output}"
            out_path = _split(output)
            if out_path is None:
                raise DestinationConfigError("an output path is dotted names, e.g. user.id", at)
            src_path = _split(source) if isinstance(source, str) else None
            if src_path is None:
                raise DestinationConfigError("a source path is dotted names, e.g. data.to", at)
            if src_path[0] not in ENVELOPE_FIELDS:
                raise DestinationConfigError(
                    f"a source path starts with one of {', '.join(ENVELOPE_FIELDS)}", at
                )
            for other in outputs:
                shorter = min(len(other), len(out_path))
                if other[:shorter] == out_path[:shorter]:
                    raise DestinationConfigError(
                        f"output paths overlap: {'.'.join(other)} and {output}", at
                    )
            outputs.append(out_path)
            pairs.append((out_path, src_path))
        return cls(tuple(pairs))

    def apply(self, envelope: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for out_path, src_path in self.pairs:
            value = _get(envelope, src_path)
            if value is _MISSING:
                continue
            node = body
            for name in out_path[:-1]:
                node = node.setdefault(name, {})
            node[out_path[-1]] = value
        return body


def _split(path: str) -> tuple[str, ...] | None:
    parts = tuple(path.split("."))
    if not path or any(not part.strip() for part in parts):
        return None
    return parts


def _get(value: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if isinstance(value, Mapping):
            value = value.get(name, _MISSING)
        elif isinstance(value, list | tuple) and name.isdigit():
            index = int(name)
            value = value[index] if index < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value
