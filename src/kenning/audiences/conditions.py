"""The audience condition language: what a person must be, have or have done, as JSON (or YAML).

A condition is one node, or nodes combined with ``all``, ``any`` and ``not``::

    {"all": [
        {"trait": "address.city", "in": ["Leeds", "York"]},
        {"computed": "lifetime_value", "gte": 1000},
        {"computed": "last_order_at", "within_last": "30d"},
        {"trait": "birthday", "anniversary_within": "7d"},
        {"event": "Order Completed", "where": {"properties.category": "shoes"},
         "within": "90d", "at_least": 2},
        {"not": {"audience": "churned"}},
        {"consent": "marketing_email"},
        {"household": "children", "gte": 1}
    ]}

A value node (``trait``, ``computed``, ``household``, ``prediction``) names what it reads and
one operator (``VALUE_OPERATORS``). An ``event`` node counts the person's events of those names
that pass ``where`` (the computed traits' filters) within an optional window: at least once by
default, ``at_least``/``at_most`` N times, or ``performed: false`` for never. Evaluated in
Python for one person (``evaluate.py``) and in SQL for everyone (``compile.py``), with the same
result (tested).

``CONDITION_SCHEMA`` is the published JSON Schema; ``parse`` raises ``ConditionError`` naming
the path of the bad node (``all[1].gte``).
"""

import math
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from kenning.audiences.values import as_time
from kenning.profiles.computed.definitions import (
    Condition as EventFilter,
)
from kenning.profiles.computed.definitions import (
    DefinitionError,
    Kind,
    TraitDefinition,
    parse_filters,
)

_DURATION = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
DURATION_PATTERN = r"^\d+[hdw]$"
T = TypeVar("T")
MAX_EXACT = 2**53  # integers a DOUBLE holds exactly
MAX_DURATION = timedelta(days=36_525)  # a century: times beyond overflow a date


class ConditionError(ValueError):
    """A condition that cannot be used; ``field`` is the path of the bad node or key."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_duration(value: object) -> timedelta:
    """``30d``, ``12h``, ``4w`` (or a number of days) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        if value > MAX_DURATION.days:
            raise ValueError("a duration is at most a century (36525d)")
        return timedelta(days=value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or int(match[1]) == 0:
        raise ValueError("a duration is like 30d, 12h or 4w")
    if int(match[1]) > MAX_DURATION / _UNITS[match[2]]:
        raise ValueError("a duration is at most a century (36525d)")
    return int(match[1]) * _UNITS[match[2]]


def duration_text(value: timedelta) -> str:
    hours = int(value.total_seconds()) // 3600
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(duration_text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30d", "12h"]}),
]
Scalar = str | int | float | bool
# A number, or a date or time (ISO 8601 text) for the order operators.
Ordered = int | float | str

Count = Annotated[int, Field(ge=0)]
NonEmpty = Annotated[list[Scalar], Field(min_length=1)]
MessageType = Literal["track", "page", "screen", "identify", "group", "alias"]

VALUE_OPERATORS = (
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "contains",
    "within_last", "before_last", "within_next", "anniversary_within",
)  # fmt: skip
HOUSEHOLD_FIELDS = ("id", "size", "others", "adults", "children", "age_unknown")


def _bounded(value: T) -> T:
    """A number both Python and SQL (a DOUBLE) hold exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) and abs(value) > MAX_EXACT:
        raise ValueError(f"numbers are at most {MAX_EXACT} in size")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a number must be finite")
    return value


class _Node(BaseModel):
    # Strict: "2" is no count and true no number, as the schema says.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


class ValueTest(_Node):
    """Exactly one operator: ``eq``/``ne``/``in``/``not_in`` compare like with like (a number
    with a number, text with text); ``gt``... compare numbers, or dates when the operand is a
    date; ``contains``: text containing the operand, or a list holding it; ``exists``: a value
    other than null; ``within_last``/``before_last``: a time in the last N / earlier than N
    ago; ``within_next``: a time in the next N; ``anniversary_within``: a date whose day and
    month come in the next N (today included), for birthdays and signup anniversaries."""

    eq: Scalar | SkipJsonSchema[None] = None
    ne: Scalar | SkipJsonSchema[None] = None
    gt: Ordered | SkipJsonSchema[None] = None
    gte: Ordered | SkipJsonSchema[None] = None
    lt: Ordered | SkipJsonSchema[None] = None
    lte: Ordered | SkipJsonSchema[None] = None
    in_: NonEmpty | SkipJsonSchema[None] = Field(default=None, alias="in")
    not_in: NonEmpty | SkipJsonSchema[None] = None
    exists: bool | SkipJsonSchema[None] = None
    contains: Scalar | SkipJsonSchema[None] = None
    within_last: Duration | SkipJsonSchema[None] = None
    before_last: Duration | SkipJsonSchema[None] = None
    within_next: Duration | SkipJsonSchema[None] = None
    anniversary_within: Duration | SkipJsonSchema[None] = None

    @field_validator("gt", "gte", "lt", "lte")
    @classmethod
    def _number_or_date(cls, value: Ordered | None) -> Ordered | None:
        if isinstance(value, str) and as_time(value) is None:
            raise ValueError("compare with a number or a date (ISO 8601, e.g. 2026-01-31)")
        return _bounded(value)

    @field_validator("eq", "ne", "contains")
    @classmethod
    def _bounded_scalar(cls, value: Scalar | None) -> Scalar | None:
        return _bounded(value)

    @field_validator("in_", "not_in")
    @classmethod
    def _bounded_list(cls, value: list[Scalar] | None) -> list[Scalar] | None:
        for item in value or ():
            _bounded(item)
        return value

    @model_validator(mode="after")
    def _one_operator(self) -> "ValueTest":
        given = [
            name
            for name in self.model_fields_set
            if name in _OPERATOR_FIELDS and getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(f"give exactly one operator of {', '.join(VALUE_OPERATORS)}")
        return self

    @cached_property  # read for every person and audience in real time
    def operator(self) -> tuple[str, Any]:
        name = next(
            n
            for n in self.model_fields_set
            if n in _OPERATOR_FIELDS and getattr(self, n) is not None
        )
        return _OPERATOR_FIELDS[name], getattr(self, name)


_OPERATOR_FIELDS = {"in_": "in", **{op: op for op in VALUE_OPERATORS if op != "in"}}


class TraitTest(ValueTest):
    trait: str = Field(min_length=1, description="a trait's dotted path, e.g. address.city")


class ComputedTest(ValueTest):
    computed: str = Field(min_length=1, description="a computed trait's name")


class HouseholdTest(ValueTest):
    household: Literal["id", "size", "others", "adults", "children", "age_unknown"]


class PredictionTest(ValueTest):
    prediction: str = Field(min_length=1, description="a prediction's name, e.g. churn_30d")


class EventTest(_Node):
    """The person's events of these names (and types) that pass ``where``, within the last
    ``within``: at least ``at_least`` (default 1) and at most ``at_most``; ``performed: false``
    is ``at_most: 0``."""

    event: str | list[str] = Field(description="an event name or a list of them")
    type: (
        list[Literal["track", "page", "screen", "identify", "group", "alias"]]
        | SkipJsonSchema[None]
    ) = None
    where: dict[str, Any] | SkipJsonSchema[None] = Field(
        default=None,
        description="path -> value or {operator: operand}, as a computed trait's where",
    )
    within: Duration | SkipJsonSchema[None] = None
    at_least: Count | SkipJsonSchema[None] = None
    at_most: Count | SkipJsonSchema[None] = None
    performed: bool | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _counts(self) -> "EventTest":
        if self.performed is not None and (self.at_least is not None or self.at_most is not None):
            raise ValueError("give performed, or at_least/at_most, not both")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError("at_least is more than at_most")
        if isinstance(self.event, list) and not self.event:
            raise ValueError("name at least one event")
        return self

    @property
    def events(self) -> tuple[str, ...]:
        return (self.event,) if isinstance(self.event, str) else tuple(self.event)

    @property
    def bounds(self) -> tuple[int, int | None]:
        """The least and most matching events (None: no most)."""
        if self.performed is False:
            return 0, 0
        if self.at_least is None and self.at_most is None:
            return 1, None
        return self.at_least or 0, self.at_most

    def filters(self) -> tuple[EventFilter, ...]:
        try:
            return parse_filters(self.where, "where")
        except DefinitionError as error:
            raise ConditionError(str(error), error.field) from None

    @cached_property
    def counter(self) -> TraitDefinition:
        """The computed trait that counts what this node counts, kept like any other on ingest
        and in batch; its name is derived from what it counts, so nodes alike share one."""
        definition = TraitDefinition(
            name="",
            kind=Kind.COUNT,
            events=self.events,
            types=tuple(self.type or ()),
            where=self.filters(),
            window=self.within,
            origin="audience",
        )
        return replace(definition, name=f"audience_events_{definition.fingerprint}")


class AudienceTest(_Node):
    audience: str = Field(min_length=1, description="another audience's name")
    member: bool = True


class ConsentTest(_Node):
    consent: str = Field(min_length=1, description="a consent category, e.g. marketing_email")
    granted: bool = Field(
        default=True, description="true: granted now; false: refused or never stated"
    )


class AllOf(_Node):
    all: list["Condition"] = Field(min_length=1)


class AnyOf(_Node):
    any: list["Condition"] = Field(min_length=1)


class NotOf(_Node):
    not_: "Condition" = Field(alias="not")


_KINDS = (
    "all", "any", "not", "trait", "computed", "event", "audience", "consent", "household",
    "prediction",
)  # fmt: skip


def _kind(node: Any) -> str | None:
    if isinstance(node, dict):
        return next((k for k in _KINDS if k in node), None)
    if isinstance(node, BaseModel):
        return next(k for k, cls in _CLASSES.items() if isinstance(node, cls))
    return None


Condition = Annotated[
    Union[  # noqa: UP007 (tags need the Union spelled out)
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[NotOf, Tag("not")],
        Annotated[TraitTest, Tag("trait")],
        Annotated[ComputedTest, Tag("computed")],
        Annotated[EventTest, Tag("event")],
        Annotated[AudienceTest, Tag("audience")],
        Annotated[ConsentTest, Tag("consent")],
        Annotated[HouseholdTest, Tag("household")],
        Annotated[PredictionTest, Tag("prediction")],
    ],
    Discriminator(
        _kind,
        custom_error_type="condition_kind",
        custom_error_message=f"a condition is an object with one of: {', '.join(_KINDS)}",
    ),
]
_CLASSES: dict[str, type[BaseModel]] = {
    "all": AllOf, "any": AnyOf, "not": NotOf, "trait": TraitTest, "computed": ComputedTest,
    "event": EventTest, "audience": AudienceTest, "consent": ConsentTest,
    "household": HouseholdTest, "prediction": PredictionTest,
}  # fmt: skip
for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Condition)
CONDITION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Kenning audience condition",
    **_ADAPTER.json_schema(by_alias=True),
}


def parse(spec: object, field: str = "condition") -> Any:
    """A condition from its JSON form, or a ``ConditionError`` naming the bad node::

    >>> parse({"all": [{"trait": "email", "exists": True}, {"computed": "x", "gte": "a"}]})
    ... # doctest: +SKIP
    """
    try:
        condition = _ADAPTER.validate_python(spec)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise ConditionError(_message(first), _path(field, spec, first["loc"])) from None
    for path, node in walk(condition, field):
        if isinstance(node, EventTest):
            try:
                node.filters()
            except ConditionError as bad:
                raise ConditionError(str(bad), f"{path}.{bad.field}") from None
    return condition


def _message(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _path(root: str, spec: object, loc: tuple[Any, ...]) -> str:
    """Pydantic's location as a path into ``spec``: the union's tags and the names of the
    types it tried (``str``, ``int``) taken out: ``all[1].gte``."""
    path, node = root, spec
    expecting_node = True
    for item in loc:
        if expecting_node and isinstance(item, str) and item in _KINDS:
            expecting_node = False  # the tag pydantic adds for the union member
            continue
        key = {"in_": "in", "not_": "not"}.get(item, item) if isinstance(item, str) else item
        if isinstance(node, dict) and isinstance(key, str) and key in node:
            path, node = f"{path}.{key}", node[key]
            expecting_node = key == "not"
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            path, node = f"{path}[{key}]", node[key]
            expecting_node = True
        # anything else names a type pydantic tried, not a place in the condition
    return path


def walk(condition: Any, path: str = "condition") -> Iterator[tuple[str, Any]]:
    """Every node with its path, parents first."""
    yield path, condition
    if isinstance(condition, AllOf | AnyOf):
        key = "all" if isinstance(condition, AllOf) else "any"
        for i, child in enumerate(condition.all if isinstance(condition, AllOf) else condition.any):
            yield from walk(child, f"{path}.{key}[{i}]")
    elif isinstance(condition, NotOf):
        yield from walk(condition.not_, f"{path}.not")


def dump(condition: Any) -> dict[str, Any]:
    """The condition's JSON form (what the store keeps and the API returns)."""
    result: dict[str, Any] = _ADAPTER.dump_python(
        condition, mode="json", by_alias=True, exclude_unset=True
    )
    return result
