"""The ``journeys`` configuration section: how events become channels and touches.

::

    journeys:
      session_minutes: 30
      not_touches: [Email Sent, SMS Sent, Push Sent]
      channels:
        rules:
          - {channel: affiliate, where: {context.campaign.source: [awin, cj]}}
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kenning.errors import FieldError
from kenning.journeys.channels import ChannelRules
from kenning.journeys.touchpoints import SENDS, SESSION_MINUTES, TouchOptions


@dataclass(frozen=True)
class JourneySettings:
    rules: ChannelRules = field(default_factory=ChannelRules.default)
    session_minutes: float = SESSION_MINUTES
    not_touches: tuple[str, ...] = SENDS

    @classmethod
    def from_config(cls, section: object) -> "JourneySettings":
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            raise FieldError("journeys is a mapping", "journeys")
        unknown = sorted(set(section) - {"channels", "session_minutes", "not_touches"})
        if unknown:
            raise FieldError(f"unknown setting {unknown[0]!r}", f"journeys.{unknown[0]}")
        minutes = section.get("session_minutes", SESSION_MINUTES)
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0:
            raise FieldError("a positive number of minutes", "journeys.session_minutes")
        not_touches = section.get("not_touches", list(SENDS))
        if not isinstance(not_touches, list) or not all(isinstance(n, str) for n in not_touches):
            raise FieldError("a list of event names", "journeys.not_touches")
        rules = ChannelRules.from_config(section.get("channels"), "journeys.channels")
        return cls(rules, float(minutes), tuple(not_touches))

    def touches(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        profiles: Sequence[int] | None = None,
    ) -> TouchOptions:
        """Touch options under these settings, for events in [since, until) of ``profiles``."""
        return TouchOptions(
            self.rules,
            session_minutes=self.session_minutes,
            not_touches=self.not_touches,
            since=since,
            until=until,
            profiles=profiles,
        )
