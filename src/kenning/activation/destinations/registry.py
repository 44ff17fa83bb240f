"""Destination kinds, found through the ``kenning.destinations`` entry points.

Kenning's own kinds are registered in its pyproject exactly as a plugin registers one::

    [project.entry-points."kenning.destinations"]
    webhook = "kenning.activation.destinations.webhook:Webhook"

An entry point's name is the kind's name and must equal the class's ``kind``. When two
distributions register the same name, Kenning's own registration wins (a plugin cannot
silently replace a built-in kind); between two plugins, the first on ``sys.path`` does.
Entry points are read on each call (a plugin installed while Kenning runs is found).
"""

from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from kenning.activation.destinations.base import (
    Destination,
    DestinationConfigError,
    DestinationContext,
)

GROUP = "kenning.destinations"


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=GROUP):
        ours = point.dist is not None and point.dist.name == "kenning"
        if point.name not in found or ours:
            found[point.name] = point
    return found


def _load(point: EntryPoint) -> type[Any]:
    try:
        loaded = point.load()
    except Exception as error:
        raise DestinationConfigError(
            f"destination kind {point.name!r} ({point.value}) could not be loaded: {error}",
            "kind",
        ) from error
    if not isinstance(loaded, type) or getattr(loaded, "kind", None) != point.name:
        raise DestinationConfigError(
            f"{point.value} is not a destination class whose kind is {point.name!r}", "kind"
        )
    for method in ("send_many", "close", "config_schema"):
        if not callable(getattr(loaded, method, None)):
            raise DestinationConfigError(f"{point.value} has no {method}()", "kind")
    return loaded


def kinds() -> dict[str, type[Any]]:
    """Every registered kind, by name (loading each one's module)."""
    return {name: _load(point) for name, point in sorted(_entry_points().items())}


def create(
    kind: str, name: str, config: Mapping[str, Any], context: DestinationContext
) -> Destination:
    """A destination of ``kind`` (only that kind's module is loaded).

    Raises ``DestinationConfigError``: field ``kind`` for an unknown kind, ``config.…`` for
    a bad config.
    """
    points = _entry_points()
    point = points.get(kind)
    if point is None:
        known = ", ".join(sorted(points)) or "none"
        raise DestinationConfigError(f"unknown destination kind {kind!r} (known: {known})", "kind")
    destination: Destination = _load(point)(name, config, context)
    return destination
