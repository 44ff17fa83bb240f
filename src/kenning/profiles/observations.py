"""What one event says about its person: trait values and consent choices.

Traits come from an identify call's ``traits`` and from any event's ``context.traits`` (imports
arrive as identify calls). Nested objects are merged field by field, so each leaf is a trait of
its own, named by its dotted path (``address.city``): a later event giving only the city keeps
the street an earlier one gave. Arrays and scalars are values as they are; ``null`` is a value
too (the newest ``null`` clears a trait, as a source that blanks a field means to).

Consent comes from Segment's ``context.consent.categoryPreferences`` (category -> granted), and
from ``traits.consent.categoryPreferences`` where a source sends it with the traits.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# The trait holding consent, when a source sends it among the traits: consent, not a trait.
_CONSENT_TRAIT = "consent"


@dataclass(frozen=True, slots=True)
class Observation:
    traits: dict[str, Any]  # dotted path -> value
    consent: dict[str, bool]  # category -> granted


def observe(message: Mapping[str, Any]) -> Observation:
    """The traits and consent ``message`` states (either may be empty)."""
    traits: dict[str, Any] = {}
    consent: dict[str, bool] = {}
    context = message.get("context")
    context = context if isinstance(context, Mapping) else {}
    sources = [context.get("traits")]
    if message.get("type") == "identify":
        sources.append(message.get("traits"))  # the call's own traits win over context's
    for source in sources:
        if isinstance(source, Mapping):
            for path, value in flatten(source):
                if path.split(".", 1)[0] != _CONSENT_TRAIT:
                    traits[path] = value
            consent.update(_preferences(source.get(_CONSENT_TRAIT)))
    consent.update(_preferences(context.get("consent")))
    return Observation(traits, consent)


def flatten(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf paths of nested objects: ``{"address": {"city": "X"}}`` -> ``("address.city", "X")``.

    An empty object is a leaf (a source saying "no address fields"), not nothing.
    """
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            yield from flatten(item, f"{path}.")
        else:
            yield path, item


def _preferences(consent: object) -> dict[str, bool]:
    if not isinstance(consent, Mapping):
        return {}
    preferences = consent.get("categoryPreferences")
    if not isinstance(preferences, Mapping):
        return {}
    # Only true and false decide; anything else (a string, null) is no decision.
    return {str(k): v for k, v in preferences.items() if isinstance(v, bool)}
