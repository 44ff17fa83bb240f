"""An audience: a name, a description and a condition (conditions.py), declared as JSON through
the API or as a YAML file through the CLI::

    name: lapsed_vips
    description: spent over 1,000 and no order for 90 days
    condition:
      all:
        - {computed: lifetime_value, gte: 1000}
        - {computed: last_order_at, before_last: 90d}
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from kenning.audiences.conditions import (
    AudienceTest,
    ConditionError,
    EventTest,
    dump,
    parse,
    walk,
)
from kenning.profiles.computed.definitions import TraitDefinition

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_KEYS = frozenset({"name", "description", "condition"})
# Owned audiences' names hold a ':', which a declared name cannot: what lists audiences for
# people leaves them out with ``NOT contains(audience, ':')``.


@dataclass(frozen=True)
class Audience:
    name: str
    condition: Any
    description: str = ""
    # The campaign that keeps this audience for its trigger (activation/campaigns.py); such
    # an audience is evaluated as any other and listed with none.
    owner: str | None = None

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "condition": dump(self.condition),
        }

    @cached_property
    def reads_audiences(self) -> frozenset[str]:
        return frozenset(
            node.audience for _, node in walk(self.condition) if isinstance(node, AudienceTest)
        )

    @cached_property
    def counters(self) -> tuple[TraitDefinition, ...]:
        """The computed traits that count what its event nodes count."""
        found = {
            node.counter.name: node.counter
            for _, node in walk(self.condition)
            if isinstance(node, EventTest)
        }
        return tuple(found.values())


def parse_audience(spec: object, name: str | None = None) -> Audience:
    """An audience from its declared form (``name`` given by the URL or taken from the spec),
    or a ``ConditionError`` naming the bad part."""
    if not isinstance(spec, Mapping):
        raise ConditionError("an audience is an object with name, description and condition", "")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise ConditionError(f"unknown key {unknown[0]!r}", unknown[0])
    given = spec.get("name", name)
    if name is not None and given != name:
        raise ConditionError(f"the name in the body is not {name!r}", "name")
    if not isinstance(given, str) or not _NAME.fullmatch(given):
        raise ConditionError(
            "an audience's name is lower case letters, digits and _, starting with a letter, "
            "at most 64 characters",
            "name",
        )
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ConditionError("description must be text", "description")
    if "condition" not in spec:
        raise ConditionError("an audience needs a condition", "condition")
    return Audience(given, parse(spec["condition"], "condition"), description)


def in_order(audiences: Iterable[Audience]) -> list[Audience]:
    """Audiences with those they read first; a ``ConditionError`` for a cycle or an audience
    that reads one not declared."""
    by_name = {a.name: a for a in audiences}
    ordered: list[Audience] = []
    state: dict[str, str] = {}

    def visit(audience: Audience, trail: tuple[str, ...]) -> None:
        if state.get(audience.name) == "done":
            return
        if state.get(audience.name) == "visiting":
            cycle = " -> ".join((*trail, audience.name))
            raise ConditionError(f"audiences read each other in a cycle: {cycle}", "condition")
        state[audience.name] = "visiting"
        for name in sorted(audience.reads_audiences):
            if name not in by_name:
                raise ConditionError(f"no audience is named {name!r}", "condition")
            visit(by_name[name], (*trail, audience.name))
        state[audience.name] = "done"
        ordered.append(audience)

    for audience in sorted(by_name.values(), key=lambda a: a.name):
        visit(audience, ())
    return ordered
