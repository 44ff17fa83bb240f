"""Consent categories: which purposes a person may grant or refuse, and what an undecided
person counts as.

A choice is stated by events (``context.consent.categoryPreferences``), or through the API
(``PUT /v1/profiles/{id}/consent``, which writes such an event to the log: the log stays the
one truth, and the history, merges and rebuilds treat both alike). Checked wherever data
flows: at send time (activation), when predictions profile a person (the ``profiling``
category), for lookalike seeds and candidates, in file exports to destinations, and in the
Profile API (predictions are shown only to whom profiling is granted).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kenning.errors import FieldError

NECESSARY = "necessary"

# What a brand starts with: category -> what it covers. Every category but ``necessary`` (the
# processing without which the service cannot run, which cannot be refused) waits for a yes:
# an undecided person counts as refusing (opt-in, as the GDPR and ePrivacy ask).
DEFAULT_CATEGORIES: dict[str, str] = {
    NECESSARY: "what the service needs to run; cannot be refused",
    "analytics": "measuring use of the brand's sites and apps",
    "personalisation": "profiling: predictions, lookalikes, personalised content",
    "marketing_email": "marketing by email",
    "marketing_sms": "marketing by SMS",
    "marketing_push": "marketing by push notification",
    "advertising": "advertising audiences sent to ad platforms",
}


@dataclass(frozen=True)
class ConsentSettings:
    """``privacy.consent`` in the configuration::

    consent:
      categories:                 # added to the defaults: name -> what it covers
        loyalty_partners: sharing with the loyalty programme's partners
      profiling: personalisation  # the category predictions and lookalikes need
    """

    categories: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    profiling: str = "personalisation"

    def __post_init__(self) -> None:
        if self.profiling not in self.categories:
            raise FieldError(
                f"one of the categories ({', '.join(self.categories)})", "consent.profiling"
            )

    @staticmethod
    def is_granted(category: str, stated: Mapping[str, bool]) -> bool:
        """Whether a person who stated ``stated`` (category -> granted) grants ``category``:
        only a stated yes grants, but ``necessary`` always holds."""
        return category == NECESSARY or stated.get(category) is True

    def check_choices(self, choices: object, field_path: str) -> dict[str, bool]:
        """A request's choices (category -> true/false), each category a known one."""
        if not isinstance(choices, Mapping) or not choices:
            raise FieldError("an object of category: true or false", field_path)
        checked: dict[str, bool] = {}
        for category, granted in choices.items():
            if category not in self.categories:
                raise FieldError(
                    f"no such consent category; the categories are "
                    f"{', '.join(sorted(self.categories))}",
                    f"{field_path}.{category}",
                )
            if not isinstance(granted, bool):
                raise FieldError("true or false", f"{field_path}.{category}")
            if category == NECESSARY and not granted:
                raise FieldError(
                    "necessary processing cannot be refused", f"{field_path}.{category}"
                )
            checked[str(category)] = granted
        return checked

    @classmethod
    def from_config(cls, section: object) -> "ConsentSettings":
        if section is None:
            return cls()
        if not isinstance(section, Mapping) or set(section) - {"categories", "profiling"}:
            raise FieldError("takes categories and profiling", "consent")
        categories = dict(DEFAULT_CATEGORIES)
        declared = section.get("categories") or {}
        if not isinstance(declared, Mapping):
            raise FieldError("a mapping of category: what it covers", "consent.categories")
        for name, covers in declared.items():
            if not isinstance(name, str) or not name.replace("_", "").isalnum():
                raise FieldError(
                    "a category is a name of letters, digits and _", "consent.categories"
                )
            if not isinstance(covers, str):
                raise FieldError("what the category covers, as text", f"consent.categories.{name}")
            categories[name] = covers
        profiling = section.get("profiling", "personalisation")
        if not isinstance(profiling, str):
            raise FieldError("a category name", "consent.profiling")
        return cls(categories, profiling)

    def as_dict(self) -> dict[str, Any]:
        return {
            "categories": [
                {"name": name, "covers": covers, "refusable": name != NECESSARY}
                for name, covers in self.categories.items()
            ],
            "profiling": self.profiling,
        }
