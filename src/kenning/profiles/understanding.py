"""How well Kenning knows each person: the four levels of customer understanding marketers use,
as exact rules over what Kenning holds (docs/understanding.md).

====  =============  ==========================================================================
 0    unknown        no contact identifier: anonymous and device ids only
 1    contact        a contact identifier (email, phone or user_id)
 2    identified     and a name, and a demographic trait (birthday, age, gender, city, ...)
 3    transactional  and transactional data (orders_count >= 1) or social data (a social trait)
 4    complete       and behavioural data (channels_used >= 2: engaged through two channels)
====  =============  ==========================================================================

Levels are cumulative, as in the marketers' pyramid: a person known only by a device id is
level 0 however much they bought. A trait counts when its current value is no blank: not null,
not an empty or all-space string, not an empty list or object.

Worked out two ways that must agree: for every profile at once in SQL (``understanding_sql``:
the coverage report's distribution, audiences later), and for one profile from what the Profile
API has read anyway (``understanding``: no query of its own).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kenning.profiles.computed.definitions import Kind, TraitDefinition
from kenning.profiles.current import current_state_sql

if TYPE_CHECKING:  # the store holds the rules and the computed traits
    from kenning.store.store import Store

LABELS = ("unknown", "contact", "identified", "transactional", "complete")
TOP_LEVEL = len(LABELS) - 1
# Sums and averages are compared as the Profile API shows them (computed/read.py adds them
# with fsum and rounds them).
_DECIMALS = 6
# Computed-trait kinds that give a number a threshold can be compared with.
_MEASURED = frozenset(
    {Kind.COUNT, Kind.SUM, Kind.AVERAGE, Kind.MIN, Kind.MAX, Kind.UNIQUE_COUNT, Kind.UNIQUE_LIST}
)


@dataclass(frozen=True)
class Threshold:
    """A computed trait's number (a unique list's: its length) at least ``at_least``."""

    trait: str
    at_least: float

    def describe(self) -> str:
        return f"{self.trait} >= {self.at_least:g}"


@dataclass(frozen=True)
class UnderstandingRules:
    """The ``profiles.understanding`` section of the configuration. Trait lists name dotted
    paths; a path also covers the paths under it (``social`` covers ``social.instagram``)."""

    contact_identifiers: tuple[str, ...] = ("email", "phone", "user_id")
    name_traits: tuple[str, ...] = ("firstName", "lastName", "name")
    demographic_traits: tuple[str, ...] = (
        "birthday", "age", "gender", "address.city", "address.postalCode", "address.country",
    )  # fmt: skip
    transactional: Threshold = Threshold("orders_count", 1)
    # No Segment trait is social; these are the names brands use for handles and profiles.
    social_traits: tuple[str, ...] = (
        "social", "twitter", "instagram", "facebook", "tiktok", "linkedin", "youtube",
    )  # fmt: skip
    behavioural: Threshold = Threshold("channels_used", 2)

    @classmethod
    def from_config(cls, section: object) -> "UnderstandingRules":
        where = "profiles.understanding"
        if not isinstance(section, Mapping):
            raise ValueError(f"{where} must be a mapping")
        lists = {"contact_identifiers", "name_traits", "demographic_traits", "social_traits"}
        thresholds = {"transactional", "behavioural"}
        unknown = sorted(set(section) - lists - thresholds)
        if unknown:
            raise ValueError(f"{where}: unknown keys {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key in lists & set(section):
            names = section[key]
            if (
                not isinstance(names, list)
                or not all(isinstance(n, str) and n for n in names)
                or (not names and key != "social_traits")  # no social data is a choice
            ):
                raise ValueError(f"{where}.{key} must be a list of names")
            values[key] = tuple(names)
        for key in thresholds & set(section):
            values[key] = _threshold(section[key], f"{where}.{key}")
        return cls(**values)


def _threshold(spec: object, where: str) -> Threshold:
    if not isinstance(spec, Mapping) or set(spec) != {"trait", "at_least"}:
        raise ValueError(f"{where} must be {{trait: <computed trait>, at_least: <number>}}")
    trait, at_least = spec["trait"], spec["at_least"]
    if not isinstance(trait, str) or not trait:
        raise ValueError(f"{where}.trait must name a computed trait")
    # Above zero: a profile with nothing counted has no tally row for the SQL to compare.
    if isinstance(at_least, bool) or not isinstance(at_least, int | float) or at_least <= 0:
        raise ValueError(f"{where}.at_least must be a number above 0")
    return Threshold(trait, float(at_least))


@dataclass(frozen=True)
class Requirement:
    """One condition a level adds: ``name`` is stable (the API's ``missing`` names it), ``rule``
    says it for people."""

    name: str
    level: int
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {"requirement": self.name, "rule": self.rule}


def requirements(
    rules: UnderstandingRules, definitions: Mapping[str, TraitDefinition]
) -> tuple[Requirement, ...]:
    """What each level adds, in level order."""
    social = (
        f" or social data (a trait under {_listed(rules.social_traits)})"
        if rules.social_traits
        else ""
    )
    return (
        Requirement(
            "contact",
            1,
            f"a contact identifier: {_listed(rules.contact_identifiers)}"
            " (anonymous and device ids alone are level 0)",
        ),
        Requirement("name", 2, f"a name: one of the traits {_listed(rules.name_traits)}"),
        Requirement(
            "demographics",
            2,
            f"a demographic trait: one of {_listed(rules.demographic_traits)}",
        ),
        Requirement(
            "transactional_or_social",
            3,
            f"transactional data ({_threshold_rule(rules.transactional, definitions)}){social}",
        ),
        Requirement(
            "behavioural",
            4,
            f"behavioural data ({_threshold_rule(rules.behavioural, definitions)})",
        ),
    )


def _listed(names: Iterable[str]) -> str:
    return ", ".join(names)


def _threshold_rule(threshold: Threshold, definitions: Mapping[str, TraitDefinition]) -> str:
    definition = definitions.get(threshold.trait)
    if definition is None or definition.kind not in _MEASURED:
        return f"{threshold.describe()}; never met: {threshold.trait} is no computed number"
    return threshold.describe()


@dataclass(frozen=True)
class Understanding:
    level: int
    missing: tuple[Requirement, ...]  # the next level's requirements not met

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "label": LABELS[self.level],
            "missing": [r.as_dict() for r in self.missing],
        }


def level_of(met: set[str], required: Iterable[Requirement]) -> Understanding:
    """The highest level whose requirements, and every lower level's, are all met."""
    by_level: dict[int, list[Requirement]] = {}
    for requirement in required:
        by_level.setdefault(requirement.level, []).append(requirement)
    for level in range(1, TOP_LEVEL + 1):
        unmet = tuple(r for r in by_level.get(level, []) if r.name not in met)
        if unmet:
            return Understanding(level - 1, unmet)
    return Understanding(TOP_LEVEL, ())


# -- one profile, from what the Profile API has read ----------------------------------------


def has_value(value: Any) -> bool:
    """Whether a trait's value tells anything (``_present_sql`` is the same test in SQL)."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip(" ") != ""  # DuckDB's trim takes spaces only
    if isinstance(value, list | dict):
        return bool(value)
    return True


def _covers(paths: Iterable[str], trait: str) -> bool:
    return any(trait == p or trait.startswith(p + ".") for p in paths)


def _measure(definition: TraitDefinition | None, value: Any) -> float | None:
    if definition is None or definition.kind not in _MEASURED or value is None:
        return None
    if definition.kind == Kind.UNIQUE_LIST:
        return float(len(value))
    return float(value)


def _reaches(
    threshold: Threshold, computed: Mapping[str, Any], definitions: Mapping[str, TraitDefinition]
) -> bool:
    measured = _measure(definitions.get(threshold.trait), computed.get(threshold.trait))
    return measured is not None and measured >= threshold.at_least


def understanding(
    rules: UnderstandingRules,
    definitions: Mapping[str, TraitDefinition],
    identifier_types: Iterable[str],
    traits: Mapping[str, Any],
    computed: Mapping[str, Any],
) -> Understanding:
    """One profile's level from its identifier types, its traits (dotted path -> current
    value) and its computed traits (name -> value, as ``computed/read.py`` gives them)."""
    present = [path for path, value in traits.items() if has_value(value)]
    met = {
        name
        for name, holds in (
            ("contact", bool(set(identifier_types) & set(rules.contact_identifiers))),
            ("name", any(_covers(rules.name_traits, p) for p in present)),
            ("demographics", any(_covers(rules.demographic_traits, p) for p in present)),
            (
                "transactional_or_social",
                _reaches(rules.transactional, computed, definitions)
                or any(_covers(rules.social_traits, p) for p in present),
            ),
            ("behavioural", _reaches(rules.behavioural, computed, definitions)),
        )
        if holds
    }
    return level_of(met, requirements(rules, definitions))


class Stated(Protocol):
    """A trait's winning value (profiles/read.py's ``Stated``)."""

    @property
    def value(self) -> Any: ...


def profile_understanding(
    store: "Store", profile_id: int, traits: Mapping[str, Stated], computed: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``understanding`` of a profile as the Profile API shows it, from the traits and
    computed traits it has read."""
    held = store.identity.graph.identifiers_of(profile_id)
    return understanding(
        store.profile_settings.understanding,
        store.computed.shown,
        (identifier.type for identifier in held),
        {path: stated.value for path, stated in traits.items()},
        computed,
    ).as_dict()


# -- every profile at once, in SQL ------------------------------------------------------------


@dataclass
class Params:
    """Named parameters for a query built from fragments (``$p1``, ``$p2``, ...)."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> str:
        name = f"p{len(self.values) + 1}"
        self.values[name] = value
        return f"${name}"


def present_sql(value: str) -> str:
    """``has_value`` in SQL, for a JSON column. Trait values are stored as orjson writes them
    (no spaces), so the test reads the text: cheaper than parsing it."""
    text = f"({value})::VARCHAR"
    return f"""coalesce(CASE WHEN {text} IN ('null', '[]', '{{}}') THEN false
                          WHEN starts_with({text}, '"') THEN trim(({text})[2:-2]) <> ''
                          ELSE true END, false)"""


def current_traits_sql(where: str = "true") -> str:
    """Each current profile's traits, from the rows of ``__kenning_profile_traits t`` that pass
    ``where``: ``(profile_id, trait, current)``, ``current`` holding whether the winning value
    tells something (``present``) and the source that stated it (``source_id``)."""
    return current_state_sql(
        "__kenning_profile_traits",
        "trait",
        f"{{'present': {present_sql('t.value')}, 'source_id': t.source_id}}",
        where,
    )


def covers_sql(paths: Iterable[str], column: str, params: Params) -> str:
    """Whether the trait path in ``column`` is one of ``paths`` or under one."""
    tests = []
    for path in paths:
        named = params.add(path)
        tests.append(f"{column} = {named} OR starts_with({column}, {named} || '.')")
    return f"({' OR '.join(tests)})" if tests else "false"


def measure_sql(definition: TraitDefinition | None, params: Params) -> str | None:
    """``(profile_id, measure)`` per current profile with tallies for the trait, as
    ``_measure`` reads its value; None for a trait with no number."""
    if definition is None or definition.kind not in _MEASURED:
        return None
    trait = params.add(definition.name)
    current = "coalesce(r.canonical_id, t.profile_id)"
    redirected = "LEFT JOIN __kenning_profile_redirects r USING (profile_id)"
    if definition.kind in {Kind.UNIQUE_COUNT, Kind.UNIQUE_LIST}:
        return f"""SELECT {current} AS profile_id, count(DISTINCT t.value) AS measure
                   FROM __kenning_trait_values t {redirected}
                   WHERE t.trait = {trait} GROUP BY 1"""
    measure = {
        Kind.COUNT: "sum(t.n)",
        Kind.SUM: f"round(fsum(t.total), {_DECIMALS})",
        Kind.AVERAGE: f"round(fsum(t.total) / sum(t.n), {_DECIMALS})",
        Kind.MIN: "min(t.low)",
        Kind.MAX: "max(t.high)",
    }[definition.kind]
    return f"""SELECT {current} AS profile_id, {measure} AS measure
               FROM __kenning_trait_tallies t {redirected}
               WHERE t.trait = {trait} GROUP BY 1"""


def _reaching_sql(
    threshold: Threshold, definitions: Mapping[str, TraitDefinition], params: Params
) -> str:
    measured = measure_sql(definitions.get(threshold.trait), params)
    if measured is None:  # never met, as in Python
        return "SELECT NULL::BIGINT AS profile_id WHERE false"
    return f"SELECT profile_id FROM ({measured}) WHERE measure >= {params.add(threshold.at_least)}"


def understanding_sql(
    rules: UnderstandingRules, definitions: Mapping[str, TraitDefinition], params: Params
) -> str:
    """Every current profile with each requirement met or not and its level:
    ``(profile_id, contact, name, demographics, transactional_or_social, behavioural,
    level)``. A query to run or to build on (audiences by level)."""
    name = covers_sql(rules.name_traits, "trait", params)
    demographics = covers_sql(rules.demographic_traits, "trait", params)
    social = covers_sql(rules.social_traits, "trait", params)
    levels = _level_sql(requirements(rules, definitions))
    return f"""
        WITH profiles AS (
            SELECT profile_id,
                   bool_or(list_contains({params.add(list(rules.contact_identifiers))}, type))
                       AS contact
            FROM kenning_identifiers GROUP BY profile_id),
        stated AS (
            SELECT profile_id, bool_or({name}) AS name, bool_or({demographics}) AS demographics,
                   bool_or({social}) AS social
            FROM ({current_traits_sql(f"{name} OR {demographics} OR {social}")})
            WHERE current.present
            GROUP BY profile_id),
        transactional AS ({_reaching_sql(rules.transactional, definitions, params)}),
        behavioural AS ({_reaching_sql(rules.behavioural, definitions, params)}),
        met AS (
            SELECT p.profile_id, p.contact,
                   coalesce(s.name, false) AS name,
                   coalesce(s.demographics, false) AS demographics,
                   t.profile_id IS NOT NULL OR coalesce(s.social, false)
                       AS transactional_or_social,
                   b.profile_id IS NOT NULL AS behavioural
            FROM profiles p
            LEFT JOIN stated s USING (profile_id)
            LEFT JOIN transactional t USING (profile_id)
            LEFT JOIN behavioural b USING (profile_id))
        SELECT *, {levels} AS level FROM met"""


def _level_sql(required: Iterable[Requirement]) -> str:
    """``level_of`` as a CASE over the requirement columns."""
    by_level: dict[int, list[str]] = {}
    for requirement in required:
        by_level.setdefault(requirement.level, []).append(requirement.name)
    branches = " ".join(
        f"WHEN NOT ({' AND '.join(by_level.get(level, ['true']))}) THEN {level - 1}"
        for level in range(1, TOP_LEVEL + 1)
    )
    return f"CASE {branches} ELSE {TOP_LEVEL} END"
