"""Unmerge: record or lift an identity override and rebuild the graph under it, atomically."""

from dataclasses import dataclass
from typing import Any

from kenning.identity import overrides
from kenning.identity.overrides import Override
from kenning.identity.rebuild import Progress, Rebuilt, rebuild_identity
from kenning.store.store import Store


@dataclass
class Applied:
    override: Override
    rebuilt: Rebuilt

    def as_dict(self) -> dict[str, Any]:
        return {"override": self.override.as_dict(), "rebuild": self.rebuilt.as_dict()}


def record_override(
    store: Store,
    kind: str,
    a: str,
    b: str | None = None,
    reason: str | None = None,
    *,
    progress: Progress | None = None,
) -> Applied:
    """Validate, record and apply an override. Raises ``OverrideError`` on bad input."""
    rules = store.identity.rules
    first = overrides.parse_identifier(a, rules, "a")
    second = overrides.parse_identifier(b, rules, "b") if b else None
    overrides.validate(kind, first, second)
    recorded: list[Override] = []
    rebuilt = rebuild_identity(
        store,
        first=lambda con: recorded.append(overrides.insert(con, kind, first, second, reason)),
        watch=[first] if second is None else [first, second],
        progress=progress,
    )
    return Applied(recorded[0], rebuilt)


def lift_override(
    store: Store, override_id: int, *, progress: Progress | None = None
) -> Applied | None:
    """Lift an active override and rebuild without it; None if there is no such override."""
    current = {o.id: o for o in store.identity.overrides}.get(override_id)
    if current is None:
        return None
    rebuilt = rebuild_identity(
        store,
        first=lambda con: overrides.remove(con, override_id),
        watch=[current.a] if current.b is None else [current.a, current.b],
        progress=progress,
    )
    return Applied(current, rebuilt)
