"""The rules identity resolution follows, with Segment-compatible defaults.

Configurable in the ``identity:`` section of the configuration file; documented in
docs/identity.md.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

# Values that identify nobody: SDK placeholders, test data, empty strings (compared lower-cased).
DEFAULT_BLOCKED = (
    r"^[0-]*$",
    r"^-1$",
    r"^(null|undefined|nil|none|nan|n/a|na|unknown|anonymous|guest|test)$",
    r"^test@test\.com$",
    r"^\s*$",
)
MAX_VALUE_CHARS = 1_024

DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` values of a type per profile; with ``window``, counted among the values
    first seen within that window of the event."""

    count: int
    window: timedelta | None = None


DEFAULT_LIMITS: dict[str, Limit] = {
    "user_id": Limit(1),
    "email": Limit(5, 365 * DAY),
    "anonymous_id": Limit(5, 7 * DAY),
}
DEFAULT_OTHER_LIMIT = Limit(5)
# Highest first. A merge that would break a limit drops the incoming event's lowest-priority
# identifier from matching and tries again.
DEFAULT_PRIORITY = (
    "user_id",
    "email",
    "phone",
    "advertising_id",
    "device_id",
    "push_token",
    "anonymous_id",
)
# Custom identifier types read from messages: type -> dotted paths in the message.
DEFAULT_CUSTOM: dict[str, tuple[str, ...]] = {}


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class IdentityRules:
    blocked: tuple[str, ...] = DEFAULT_BLOCKED
    limits: dict[str, Limit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    other_limit: Limit = DEFAULT_OTHER_LIMIT
    max_identifiers_per_profile: int = 100
    priority: tuple[str, ...] = DEFAULT_PRIORITY
    phone_region: str = "US"
    custom: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CUSTOM))
    # By default two different user_ids never share a profile: the user_id limit is 1.
    _blocked_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _ranks: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile("|".join(f"(?:{p})" for p in self.blocked), re.IGNORECASE)
        except re.error as error:
            raise RulesError(f"identity.blocked has an invalid pattern: {error}") from None
        object.__setattr__(self, "_blocked_re", compiled)
        object.__setattr__(self, "_ranks", {type_: i for i, type_ in enumerate(self.priority)})

    def is_blocked(self, value: str) -> bool:
        return len(value) > MAX_VALUE_CHARS or bool(self._blocked_re.search(value))

    def limit(self, type_: str) -> Limit:
        return self.limits.get(type_, self.other_limit)

    def rank(self, type_: str) -> int:
        """Lower is more important; types not listed rank after all listed ones."""
        return self._ranks.get(type_, len(self.priority))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "IdentityRules":
        """Rules from the ``identity:`` section of a configuration file::

        phone_region: GB
        blocked_extra: ["^guest-.*$"]
        limits: {email: {count: 3, window_days: 365}, loyalty_id: {count: 1}}
        priority: [user_id, loyalty_id, email, phone, anonymous_id]
        max_identifiers_per_profile: 50
        custom: {loyalty_id: [traits.loyalty_id, properties.loyalty_id]}
        """
        known = {
            "phone_region",
            "blocked",
            "blocked_extra",
            "limits",
            "priority",
            "max_identifiers_per_profile",
            "custom",
        }
        unknown = sorted(set(config) - known)
        if unknown:
            raise RulesError(f"unknown identity settings: {', '.join(unknown)}")
        limits = dict(DEFAULT_LIMITS)
        for type_, spec in (config.get("limits") or {}).items():
            if not isinstance(spec, Mapping) or not isinstance(spec.get("count"), int):
                raise RulesError(f"identity.limits.{type_} needs an integer count")
            days = spec.get("window_days")
            limits[type_] = Limit(spec["count"], timedelta(days=days) if days else None)
        blocked = tuple(config.get("blocked", DEFAULT_BLOCKED)) + tuple(
            config.get("blocked_extra", ())
        )
        custom = {k: tuple(v) for k, v in (config.get("custom") or {}).items()}
        return cls(
            blocked=blocked,
            limits=limits,
            priority=tuple(config.get("priority", DEFAULT_PRIORITY)),
            phone_region=str(config.get("phone_region", "US")),
            max_identifiers_per_profile=int(config.get("max_identifiers_per_profile", 100)),
            custom=custom,
        )
