"""A condition evaluated for one person, in Python: the real-time path, where a person's state
has just been read (``compile.py`` evaluates the same conditions for everyone in SQL)."""

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kenning.audiences.conditions import (
    AllOf,
    AnyOf,
    AudienceTest,
    ComputedTest,
    ConsentTest,
    EventTest,
    HouseholdTest,
    NotOf,
    PredictionTest,
    TraitTest,
)
from kenning.audiences.values import MISSING, test
from kenning.ingest.mapping import set_path


@dataclass(frozen=True)
class Facts:
    """What conditions read about one person. ``traits``: dotted path -> winning value;
    ``computed``: name -> value, the event nodes' counts among them; ``audiences``: the names
    of the audiences the person is in."""

    traits: Mapping[str, Any] = field(default_factory=dict)
    computed: Mapping[str, Any] = field(default_factory=dict)
    consent: Mapping[str, bool] = field(default_factory=dict)
    household: Mapping[str, Any] = field(default_factory=dict)
    predictions: Mapping[str, Any] = field(default_factory=dict)
    audiences: Set[str] = frozenset()

    def trait(self, path: str) -> Any:
        """The value at ``path``; for a path with values under it (``address``), those
        values as an object."""
        if path in self.traits:
            return self.traits[path]
        prefix = path + "."
        nested: dict[str, Any] = {}
        for key, value in self.traits.items():
            if key.startswith(prefix):
                set_path(nested, key[len(prefix) :], value)
        return nested if nested else MISSING


def holds(condition: Any, facts: Facts, now: datetime) -> bool:
    """Whether the person ``facts`` describe meets ``condition`` at ``now``."""
    if isinstance(condition, AllOf):
        return all(holds(c, facts, now) for c in condition.all)
    if isinstance(condition, AnyOf):
        return any(holds(c, facts, now) for c in condition.any)
    if isinstance(condition, NotOf):
        return not holds(condition.not_, facts, now)
    if isinstance(condition, TraitTest):
        return test(*condition.operator, facts.trait(condition.trait), now)
    if isinstance(condition, ComputedTest):
        return test(*condition.operator, facts.computed.get(condition.computed, MISSING), now)
    if isinstance(condition, HouseholdTest):
        return test(*condition.operator, facts.household.get(condition.household, MISSING), now)
    if isinstance(condition, PredictionTest):
        value = facts.predictions.get(condition.prediction, MISSING)
        return test(*condition.operator, value, now)
    if isinstance(condition, EventTest):
        count = int(facts.computed.get(condition.counter.name, 0))
        least, most = condition.bounds
        return count >= least and (most is None or count <= most)
    if isinstance(condition, AudienceTest):
        return (condition.audience in facts.audiences) is condition.member
    if isinstance(condition, ConsentTest):
        return (facts.consent.get(condition.consent) is True) is condition.granted
    raise TypeError(f"not a condition: {condition!r}")
