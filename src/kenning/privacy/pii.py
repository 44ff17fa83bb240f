"""What is personal: traits and event properties classified as PII, sensitive or public, and
the masking of what a token without ``pii:read`` may not see.

PII identifies a person (an email, a name, an address); sensitive data says something about
them the law guards more closely (health, beliefs; none of Segment's reserved traits, so a
brand declares its own). Both are masked for a token without ``pii:read``; what is not
classified is public. A path covers everything beneath it (``address`` covers
``address.city``).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kenning.errors import FieldError

MASK = "***"


class Sensitivity(StrEnum):
    PII = "pii"
    SENSITIVE = "sensitive"
    PUBLIC = "public"


# Segment's reserved traits, each classified.
RESERVED_TRAITS: dict[str, Sensitivity] = {
    "address": Sensitivity.PII,
    "age": Sensitivity.PUBLIC,
    "avatar": Sensitivity.PII,
    "birthday": Sensitivity.PII,
    "company": Sensitivity.PUBLIC,
    "createdAt": Sensitivity.PUBLIC,
    "description": Sensitivity.PUBLIC,
    "email": Sensitivity.PII,
    "firstName": Sensitivity.PII,
    "gender": Sensitivity.PUBLIC,
    "id": Sensitivity.PII,
    "lastName": Sensitivity.PII,
    "name": Sensitivity.PII,
    "phone": Sensitivity.PII,
    "title": Sensitivity.PUBLIC,
    "username": Sensitivity.PII,
    "website": Sensitivity.PII,
}
# The same names among an event's properties, and where a device gives a person away.
DEFAULT_PROPERTIES: dict[str, Sensitivity] = {
    **{name: s for name, s in RESERVED_TRAITS.items() if s is Sensitivity.PII},
}
# Identifier types whose values are PII themselves (an anonymous id is a random device key).
DEFAULT_IDENTIFIERS: tuple[str, ...] = ("email", "phone")
# Context fields that are personal data whatever the brand declares.
_CONTEXT_PII = ("ip",)


@dataclass(frozen=True)
class PiiSettings:
    """``privacy.pii`` in the configuration::

    pii:
      traits: {loyalty_card: pii, health_notes: sensitive, gender: public}
      properties: {shipping_address: pii}
      identifiers: [email, phone, loyalty_id]
    """

    traits: Mapping[str, Sensitivity] = field(default_factory=lambda: dict(RESERVED_TRAITS))
    properties: Mapping[str, Sensitivity] = field(default_factory=lambda: dict(DEFAULT_PROPERTIES))
    identifiers: tuple[str, ...] = DEFAULT_IDENTIFIERS

    def trait_class(self, path: str) -> Sensitivity:
        return _classify(self.traits, path)

    def is_personal_trait(self, path: str) -> bool:
        return self.trait_class(path) is not Sensitivity.PUBLIC

    def classification(self) -> dict[str, Any]:
        return {
            "traits": {k: str(v) for k, v in sorted(self.traits.items())},
            "properties": {k: str(v) for k, v in sorted(self.properties.items())},
            "identifiers": list(self.identifiers),
        }

    @classmethod
    def from_config(cls, section: object) -> "PiiSettings":
        if section is None:
            return cls()
        if not isinstance(section, Mapping) or set(section) - {
            "traits",
            "properties",
            "identifiers",
        }:
            raise FieldError("takes traits, properties and identifiers", "pii")
        traits = dict(RESERVED_TRAITS) | _classes(section.get("traits"), "pii.traits")
        properties = dict(DEFAULT_PROPERTIES) | _classes(
            section.get("properties"), "pii.properties"
        )
        identifiers = section.get("identifiers", list(DEFAULT_IDENTIFIERS))
        if not isinstance(identifiers, list) or not all(isinstance(i, str) for i in identifiers):
            raise FieldError("a list of identifier types", "pii.identifiers")
        return cls(traits, properties, tuple(identifiers))


def _classes(declared: object, where: str) -> dict[str, Sensitivity]:
    if declared is None:
        return {}
    if not isinstance(declared, Mapping):
        raise FieldError("a mapping of path: pii, sensitive or public", where)
    found: dict[str, Sensitivity] = {}
    for path, value in declared.items():
        try:
            found[str(path)] = Sensitivity(value)
        except ValueError:
            raise FieldError("pii, sensitive or public", f"{where}.{path}") from None
    return found


def _classify(classes: Mapping[str, Sensitivity], path: str) -> Sensitivity:
    """The class of the longest classified prefix of ``path`` (public if none)."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        found = classes.get(".".join(parts[:end]))
        if found is not None:
            return found
    return Sensitivity.PUBLIC


class Masker:
    """Masks what is personal in the shapes the API answers with."""

    def __init__(self, settings: PiiSettings) -> None:
        self.settings = settings

    def traits(self, nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        """Nested trait values with every personal one replaced by ``MASK``."""
        return _masked(nested, self.settings.traits, prefix)

    def identities(self, identities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {**i, "value": MASK} if i.get("type") in self.settings.identifiers else i
            for i in identities
        ]

    def profile(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        """A profile as ``profiles.read.profile`` builds it, masked."""
        masked = dict(profile)
        if "traits" in masked:
            masked["traits"] = self.traits(masked["traits"])
        if "identities" in masked:
            masked["identities"] = self.identities(masked["identities"])
        return masked

    def message(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """A Segment message with its personal traits, properties and context masked, and
        identifiers of the PII types (``context.externalIds``) too."""
        masked = dict(message)
        if isinstance(masked.get("traits"), Mapping):
            masked["traits"] = self.traits(masked["traits"])
        if isinstance(masked.get("properties"), Mapping):
            masked["properties"] = _masked(masked["properties"], self.settings.properties, "")
        context = masked.get("context")
        if isinstance(context, Mapping):
            context = dict(context)
            if isinstance(context.get("traits"), Mapping):
                context["traits"] = self.traits(context["traits"])
            for name in _CONTEXT_PII:
                if name in context:
                    context[name] = MASK
            external = context.get("externalIds")
            if isinstance(external, list):
                context["externalIds"] = [
                    {**e, "id": MASK}
                    if isinstance(e, Mapping) and e.get("type") in self.settings.identifiers
                    else e
                    for e in external
                ]
            masked["context"] = context
        return masked


def _masked(
    node: Mapping[str, Any], classes: Mapping[str, Sensitivity], prefix: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if _classify(classes, path) is not Sensitivity.PUBLIC:
            out[key] = MASK
        elif isinstance(value, Mapping):
            out[key] = _masked(value, classes, path + ".")
        else:
            out[key] = value
    return out
