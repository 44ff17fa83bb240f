"""The ``privacy`` configuration section: consent categories and PII classification.

::

    privacy:
      consent: {categories: {analytics: granted}, profiling: personalisation}
      pii: {traits: {loyalty_card: pii}, identifiers: [email, phone]}
      retention_hours: 24     # how often a server deletes expired events; 0: never
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from kenning.errors import FieldError
from kenning.privacy.consent import ConsentSettings
from kenning.privacy.pii import PiiSettings


@dataclass(frozen=True)
class PrivacySettings:
    consent: ConsentSettings = field(default_factory=ConsentSettings)
    pii: PiiSettings = field(default_factory=PiiSettings)
    retention_hours: float = 24.0

    @classmethod
    def from_config(cls, section: object) -> "PrivacySettings":
        if section is None:
            return cls()
        if not isinstance(section, Mapping) or set(section) - {
            "consent",
            "pii",
            "retention_hours",
        }:
            raise FieldError("takes consent, pii and retention_hours", "privacy")
        hours = section.get("retention_hours", 24.0)
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
            raise FieldError("a number of hours, 0 or more", "privacy.retention_hours")
        return cls(
            ConsentSettings.from_config(section.get("consent")),
            PiiSettings.from_config(section.get("pii")),
            float(hours),
        )
