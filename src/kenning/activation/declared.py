"""A destination as declared through the API: its kind and config (destinations/), the consent
categories it is mapped to, and what it receives besides campaign messages::

    {"name": "crm", "kind": "webhook",
     "config": {"url": "https://crm.example.com/kenning", "secret": "..."},
     "consent": ["analytics"],          # every category granted at send time, or no send
     "audiences": ["vip", "lapsed"],    # their entries and exits, as they happen
     "events": {"names": ["Order Completed"]},   # the raw event stream (or true: every event)
     "enabled": true}

The config is checked by making the destination once (``registry.create``). Secrets in it are
kept (the sender needs them) and never shown: ``public`` masks them.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kenning.activation.destinations.base import DestinationConfigError, DestinationContext
from kenning.activation.destinations.registry import create

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_KEYS = frozenset({"name", "kind", "config", "consent", "audiences", "events", "enabled"})
_EVENT_KEYS = frozenset({"names", "types"})
# Config keys whose values are secrets (and every header value, which may carry a credential).
SECRET_KEYS = frozenset({"secret", "password", "write_key", "token", "api_key"})
MASK = "********"


@dataclass(frozen=True)
class EventStream:
    """Which stored events a destination receives: by name and by type (empty: any)."""

    names: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()

    def wants(self, type_: str, event: str | None) -> bool:
        if self.types and type_ not in self.types:
            return False
        return not self.names or event in self.names


@dataclass(frozen=True)
class DeclaredDestination:
    name: str
    kind: str
    config: Mapping[str, Any]
    consent: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    events: EventStream | None = None
    enabled: bool = True
    spec: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def public(self) -> dict[str, Any]:
        """The declared form with secrets masked (what the API and the CLI show)."""
        return {**self.spec, "config": masked(self.config)}


def masked(config: Mapping[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, value in config.items():
        if key in SECRET_KEYS and value is not None:
            shown[key] = MASK
        elif key == "headers" and isinstance(value, Mapping):
            shown[key] = {name: MASK for name in value}
        else:
            shown[key] = value
    return shown


def parse_destination(
    spec: object, name: str | None = None, *, context: DestinationContext | None = None
) -> DeclaredDestination:
    """A destination from its declared form; ``DestinationConfigError`` names the bad key.
    With ``context``, the config is checked by making the destination (and closing it)."""
    if not isinstance(spec, Mapping):
        raise DestinationConfigError("a destination is an object; see docs/destinations.md", "")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise DestinationConfigError("unknown key", unknown[0])
    given = spec.get("name", name)
    if name is not None and given != name:
        raise DestinationConfigError(f"the name in the body is not {name!r}", "name")
    if not isinstance(given, str) or not _NAME.fullmatch(given):
        raise DestinationConfigError(
            "a destination's name is lower case letters, digits and _, starting with a letter,"
            " at most 64 characters",
            "name",
        )
    kind = spec.get("kind")
    if not isinstance(kind, str) or not kind:
        raise DestinationConfigError("a destination needs a kind", "kind")
    config = spec.get("config", {})
    if not isinstance(config, Mapping):
        raise DestinationConfigError("the config is an object of keys and values", "config")
    consent = _names(spec.get("consent", []), "consent")
    audiences = _names(spec.get("audiences", []), "audiences")
    events = _events(spec.get("events"))
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise DestinationConfigError("enabled is true or false", "enabled")
    if context is not None:
        create(kind, given, config, context).close()
    document = {
        "name": given,
        "kind": kind,
        "config": dict(config),
        "consent": list(consent),
        "audiences": list(audiences),
        "events": _events_document(events),
        "enabled": enabled,
    }
    return DeclaredDestination(
        given, kind, dict(config), consent, audiences, events, enabled, document
    )


def _names(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DestinationConfigError("a list of names", field)
    return tuple(dict.fromkeys(value))


def _events(value: object) -> EventStream | None:
    if value is None or value is False:
        return None
    if value is True:
        return EventStream()
    if not isinstance(value, Mapping):
        raise DestinationConfigError("true, or {names: [...], types: [...]}", "events")
    unknown = sorted(set(value) - _EVENT_KEYS)
    if unknown:
        raise DestinationConfigError("unknown key", f"events.{unknown[0]}")
    names = _names(value.get("names", []), "events.names")
    types = _names(value.get("types", []), "events.types")
    return EventStream(frozenset(names), frozenset(types))


def _events_document(events: EventStream | None) -> Any:
    if events is None:
        return None
    return {"names": sorted(events.names), "types": sorted(events.types)}
