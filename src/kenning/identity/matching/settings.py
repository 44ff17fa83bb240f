"""What probabilistic matching compares and how sure it must be: the ``matching:`` section of
the configuration file, with defaults on Segment's reserved traits.
"""

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

# How a field is compared. Each kind names a Splink comparison (see model.py) and a SQL
# normalisation (see features.py).
Kind = Literal["name", "date", "street", "text", "postcode", "exact", "id", "email", "phone"]
KINDS: tuple[str, ...] = (
    "name",
    "date",
    "street",
    "text",
    "postcode",
    "exact",
    "id",
    "email",
    "phone",
)
_TRAIT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class MatchSettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MatchField:
    """One compared column: its name in the model, the trait it is read from, how compared."""

    name: str
    trait: str  # dotted path under ``traits`` (``address.postalCode``)
    kind: Kind


# Segment's reserved traits. ``name`` is read too, to fill first and last names when only a full
# name is known; it is not compared on its own (it says the same as the two parts).
DEFAULT_FIELDS = (
    MatchField("first_name", "firstName", "name"),
    MatchField("last_name", "lastName", "name"),
    MatchField("birthday", "birthday", "date"),
    MatchField("street", "address.street", "street"),
    MatchField("postcode", "address.postalCode", "postcode"),
    MatchField("city", "address.city", "exact"),
    MatchField("state", "address.state", "exact"),
    MatchField("country", "address.country", "exact"),
    MatchField("email", "email", "email"),
    MatchField("phone", "phone", "phone"),
)


@dataclass(frozen=True)
class MatchSettings:
    """``match_probability``: pairs at or above it merge. ``review_probability``: pairs from it
    up to ``match_probability`` wait in the review queue. ``min_fields``: a profile needs this
    many populated fields to take part (a bare email says too little to compare).
    ``training_sample``: profiles drawn at random to train the model on (the parameters do not
    depend on how many records there are, so a sample trains as well and much faster).
    """

    fields: tuple[MatchField, ...] = DEFAULT_FIELDS
    match_probability: float = 0.99
    review_probability: float = 0.80
    min_fields: int = 3
    training_sample: int = 200_000
    seed: int = 42
    # match each new profile as it is created, with the last run's model (see realtime.py)
    realtime: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.review_probability <= self.match_probability < 1:
            raise MatchSettingsError(
                "matching needs 0 < review_probability <= match_probability < 1"
            )
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise MatchSettingsError("matching.fields has a name twice")

    def with_thresholds(
        self, match_probability: float | None, review_probability: float | None
    ) -> "MatchSettings":
        return dataclasses.replace(
            self,
            match_probability=match_probability or self.match_probability,
            review_probability=review_probability or self.review_probability,
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "MatchSettings":
        """Settings from the ``matching:`` section of a configuration file::

        match_probability: 0.99
        review_probability: 0.8
        min_fields: 3
        fields:                       # added to the defaults (a name of a default replaces it)
          ssn: {trait: socSecId, kind: id}
          state: null                 # a default left out
        only_fields: false            # true: compare the fields listed here and no default
        realtime: true                # match new profiles as they are created
        """
        known = {
            "match_probability",
            "review_probability",
            "min_fields",
            "training_sample",
            "fields",
            "only_fields",
            "seed",
            "realtime",
        }
        unknown = sorted(set(config) - known)
        if unknown:
            raise MatchSettingsError(f"unknown matching settings: {', '.join(unknown)}")
        fields: dict[str, MatchField] = (
            {} if config.get("only_fields") else {f.name: f for f in DEFAULT_FIELDS}
        )
        for name, spec in (config.get("fields") or {}).items():
            if spec is None:
                fields.pop(name, None)
                continue
            if not isinstance(spec, Mapping) or not isinstance(spec.get("trait"), str):
                raise MatchSettingsError(f"matching.fields.{name} needs a trait")
            if not _FIELD_NAME.match(str(name)):
                raise MatchSettingsError(
                    f"matching.fields.{name}: a field name is lower-case letters, digits and _"
                )
            if not _TRAIT_PATH.match(spec["trait"]):
                raise MatchSettingsError(
                    f"matching.fields.{name}.trait must be a dotted trait name (address.city)"
                )
            kind = spec.get("kind", "text")
            if kind not in KINDS:
                raise MatchSettingsError(
                    f"matching.fields.{name}.kind must be one of {', '.join(KINDS)}"
                )
            fields[name] = MatchField(str(name), spec["trait"], kind)
        if not fields:
            raise MatchSettingsError("matching compares no field")
        defaults = cls()
        return cls(
            fields=tuple(fields.values()),
            match_probability=float(config.get("match_probability", defaults.match_probability)),
            review_probability=float(config.get("review_probability", defaults.review_probability)),
            min_fields=int(config.get("min_fields", defaults.min_fields)),
            training_sample=int(config.get("training_sample", defaults.training_sample)),
            seed=int(config.get("seed", defaults.seed)),
            realtime=bool(config.get("realtime", defaults.realtime)),
        )
