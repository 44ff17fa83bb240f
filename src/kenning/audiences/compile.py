"""Conditions compiled to SQL, evaluated for every current profile at once (batch evaluation,
previews), by the rules ``evaluate.py`` follows for one person in Python (tested to agree).

What a set of conditions reads is gathered first (``Inputs``) and laid out as one row per
current profile (``facts_sql``): a JSON column per trait path and per computed trait, a
boolean per consent category, the household's numbers; each condition is then a boolean
expression over that row (``condition_sql``), so fifty audiences cost one pass over the
state tables and fifty scans of a narrow table.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kenning.audiences.conditions import (
    HOUSEHOLD_FIELDS,
    AllOf,
    AnyOf,
    AudienceTest,
    ComputedTest,
    ConsentTest,
    EventTest,
    HouseholdTest,
    NotOf,
    PredictionTest,
    TraitTest,
    walk,
)
from kenning.audiences.values import FIRST_MICROS, LAST_MICROS, TIME_TEXT, as_time
from kenning.predictions.scores import current_scores_sql
from kenning.profiles.computed.batch import json_equals_sql, json_number_sql
from kenning.profiles.computed.current import ZERO_SQL, computed_values_sql, tally_values_sql
from kenning.profiles.computed.definitions import VALUE_KINDS, TraitDefinition
from kenning.profiles.current import current_state_sql

_ORDER = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_TIME_OPERATORS = frozenset({"within_last", "before_last", "within_next", "anniversary_within"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Inputs:
    """What some conditions read, each given its column in the facts row."""

    traits: dict[str, str] = field(default_factory=dict)
    computed: dict[str, str] = field(default_factory=dict)
    consent: dict[str, str] = field(default_factory=dict)
    predictions: dict[str, str] = field(default_factory=dict)
    household: bool = False
    # Columns some condition reads as a time: parsed once per row in the facts row
    # (``<column>_us``), not once per test (a birthday's anniversary reads it ten times).
    times: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, conditions: Iterable[Any]) -> "Inputs":
        found = cls()
        for condition in conditions:
            for _, node in walk(condition):
                column = None
                if isinstance(node, TraitTest):
                    column = found.traits.setdefault(node.trait, f"t{len(found.traits)}")
                elif isinstance(node, ComputedTest):
                    column = found.computed.setdefault(node.computed, f"c{len(found.computed)}")
                elif isinstance(node, EventTest):
                    found.computed.setdefault(node.counter.name, f"c{len(found.computed)}")
                elif isinstance(node, ConsentTest):
                    found.consent.setdefault(node.consent, f"k{len(found.consent)}")
                elif isinstance(node, PredictionTest):
                    name = f"p{len(found.predictions)}"
                    column = found.predictions.setdefault(node.prediction, name)
                elif isinstance(node, HouseholdTest):
                    found.household = True
                if column is not None and reads_time(*node.operator):
                    found.times.add(column)
        return found

    def column_of(self, test: TraitTest | ComputedTest | PredictionTest) -> str:
        """The facts row's column for what ``test`` reads."""
        if isinstance(test, TraitTest):
            return self.traits[test.trait]
        if isinstance(test, ComputedTest):
            return self.computed[test.computed]
        return self.predictions[test.prediction]


def reads_time(op: str, operand: Any) -> bool:
    """Whether a test reads its value as a time."""
    return op in _TIME_OPERATORS or (op in _ORDER and isinstance(operand, str))


def facts_sql(
    inputs: Inputs,
    definitions: Mapping[str, TraitDefinition],
    params: list[Any],
    tables: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """One row per current profile with the columns ``inputs`` names (a computed trait with
    no definition reads as missing, as in Python). ``tables``: computed traits whose tallies
    are kept elsewhere (a preview's), by name: (tallies, values)."""
    tables = tables or {}
    ctes: list[str] = []
    joins: list[str] = []
    columns: list[str] = ["p.profile_id"]
    if inputs.traits:
        picks: list[str] = []
        wanted: list[str] = []
        for path, column in inputs.traits.items():
            # A path with values under it (address) reads as an object, as Facts.trait does.
            picks.append(
                f"""coalesce(any_value(current) FILTER (WHERE trait = ?),
                             CASE WHEN bool_or(starts_with(trait, ?)) THEN '{{}}'::JSON END)
                    AS {column}"""
            )
            params += [path, path + "."]
            wanted.append("t.trait = ? OR starts_with(t.trait, ?)")
        where = " OR ".join(wanted)
        where_params = [p for path in inputs.traits for p in (path, path + ".")]
        state = current_state_sql("__kenning_profile_traits", "trait", "t.value", where)
        params += where_params + where_params  # the state query names ``where`` twice
        ctes.append(f"traits AS (SELECT profile_id, {', '.join(picks)} FROM ({state}) GROUP BY 1)")
        joins.append("LEFT JOIN traits USING (profile_id)")
        columns += [f"traits.{c}" for c in inputs.traits.values()]
    # Traits kept in the shared tallies are read in one scan (a column each); the others
    # (kept per value, or a preview's own tables) one query each.
    tallied = {
        column: definitions[name]
        for name, column in inputs.computed.items()
        if name in definitions and definitions[name].kind not in VALUE_KINDS
        and name not in tables
    }  # fmt: skip
    if tallied:
        ctes.append(f"tallied AS ({tally_values_sql(tallied)})")
        joins.append("LEFT JOIN tallied USING (profile_id)")
    for name, column in inputs.computed.items():
        definition = definitions.get(name)
        if definition is None:
            columns.append(f"NULL::JSON AS {column}")
            continue
        if column in tallied:
            found_value = f"tallied.{column}"
        else:
            found = computed_values_sql(definition, params, *tables.get(name, ()))
            ctes.append(f"{column} AS ({found})")
            joins.append(f"LEFT JOIN {column} USING (profile_id)")
            found_value = f"{column}.value"
        zero = ZERO_SQL.get(definition.kind)
        value = f"coalesce({found_value}, {zero})" if zero else found_value
        columns.append(f"{value} AS {column}")
    if inputs.consent:
        picks = []
        for category, column in inputs.consent.items():
            picks.append(f"bool_or(current) FILTER (WHERE category = ?) AS {column}")
            params.append(category)
        marks = ", ".join("?" for _ in inputs.consent)
        state = current_state_sql(
            "__kenning_consent", "category", "t.granted", f"t.category IN ({marks})"
        )
        params += [*inputs.consent, *inputs.consent]
        ctes.append(f"consent AS (SELECT profile_id, {', '.join(picks)} FROM ({state}) GROUP BY 1)")
        joins.append("LEFT JOIN consent USING (profile_id)")
        columns += [f"consent.{c}" for c in inputs.consent.values()]
    if inputs.predictions:
        picks = []
        for name, column in inputs.predictions.items():
            picks.append(f"any_value(value) FILTER (WHERE name = ?) AS {column}")
            params.append(name)
        scores = current_scores_sql(list(inputs.predictions), params)
        ctes.append(
            f"predicted AS (SELECT profile_id, {', '.join(picks)} FROM ({scores}) GROUP BY 1)"
        )
        joins.append("LEFT JOIN predicted USING (profile_id)")
        columns += [f"predicted.{c}" for c in inputs.predictions.values()]
    if inputs.household:
        joins.append("LEFT JOIN kenning_household_traits h USING (profile_id)")
        columns += [
            f"to_json(h.household_{name}) AS h_{name}"
            if name != "id"
            else "to_json(h.household_id) AS h_id"
            for name in HOUSEHOLD_FIELDS
        ]
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    facts = f"""{with_}SELECT {", ".join(columns)}
               FROM (SELECT DISTINCT profile_id FROM kenning_identifiers) p {" ".join(joins)}"""
    if not inputs.times:
        return facts
    times = ", ".join(f"{_time_us(column)} AS {column}_us" for column in sorted(inputs.times))
    return f"SELECT *, {times} FROM ({facts})"


def _present(v: str) -> str:
    return f"coalesce(json_type({v}) <> 'NULL', false)"


def _time_us(v: str) -> str:
    """``values.as_time`` in SQL, as microseconds since the epoch."""
    text = f"json_extract_string({v}, '$')"
    micros = f"""(CASE WHEN json_type({v}) = 'VARCHAR' AND regexp_full_match({text}, '{TIME_TEXT}')
                THEN CASE WHEN regexp_matches({text}, '(Z|[+-][0-9]{{2}}:[0-9]{{2}})$')
                          THEN epoch_us(TRY_CAST({text} AS TIMESTAMPTZ))
                          ELSE epoch_us(TRY_CAST({text} AS TIMESTAMP)) END END)"""
    return f"""(CASE WHEN {micros} BETWEEN {FIRST_MICROS} AND {LAST_MICROS}
                THEN {micros} END)"""


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH


def test_sql(
    op: str, operand: Any, v: str, params: list[Any], now: datetime, at: str | None = None
) -> str:
    """``values.test`` in SQL, for the JSON column ``v``; ``at``: ``v`` as a time, when the
    facts row holds it already (``Inputs.times``)."""
    if at is None and reads_time(op, operand):
        at = _time_us(v)
    if op == "exists":
        return _present(v) if operand else f"NOT {_present(v)}"
    if op in {"eq", "ne", "in", "not_in"}:
        options = operand if op in {"in", "not_in"} else [operand]
        found = f"({' OR '.join(json_equals_sql(v, o, params) for o in options)})"
        return found if op in {"eq", "in"} else f"NOT {found}"
    if op == "contains":
        text = "false"
        if isinstance(operand, str):
            params.append(operand)
            text = f"contains(json_extract_string({v}, '$'), ?)"
        element = json_equals_sql("e", operand, params)
        return f"""coalesce(CASE json_type({v}) WHEN 'VARCHAR' THEN {text}
                   WHEN 'ARRAY' THEN list_bool_or(list_transform(json_extract({v}, '$[*]'),
                                                                 lambda e: {element}))
                   END, false)"""
    if op in _ORDER:
        if isinstance(operand, str):
            bound = as_time(operand)
            assert bound is not None  # the language takes a date or a number
            params.append(_micros(bound))
            return f"coalesce({at} {_ORDER[op]} ?, false)"
        params.append(float(operand))
        return f"coalesce({json_number_sql(v)} {_ORDER[op]} ?, false)"
    if op == "within_last":
        params += [_micros(now - operand), _micros(now)]
        return f"coalesce({at} BETWEEN ? AND ?, false)"
    if op == "before_last":
        params.append(_micros(now - operand))
        return f"coalesce({at} < ?, false)"
    if op == "within_next":
        params += [_micros(now), _micros(now + operand)]
        return f"coalesce({at} BETWEEN ? AND ?, false)"
    if op == "anniversary_within":
        # Today and the years are ours, not the user's: written into the SQL as literals.
        day = f"make_timestamp({at})::DATE"
        today = now.astimezone(UTC).date()

        def anniversary(year: int) -> str:
            last = f"day(last_day(make_date({year}, month({day}), 1)))"
            return f"make_date({year}, month({day}), least(day({day}), {last}))"

        this_year, next_year = anniversary(today.year), anniversary(today.year + 1)
        days = f"""CASE WHEN {this_year} >= DATE '{today.isoformat()}'
                        THEN {this_year} - DATE '{today.isoformat()}'
                        ELSE {next_year} - DATE '{today.isoformat()}' END"""
        return f"coalesce(({days}) < {max(operand.days, 1)}, false)"
    raise ValueError(f"unknown operator {op!r}")


def condition_sql(
    condition: Any, inputs: Inputs, params: list[Any], now: datetime, members: str
) -> str:
    """A boolean expression over a facts row (aliased ``f``); ``members`` is a relation of
    ``(audience, profile_id)`` holding the audiences' memberships to read."""
    if isinstance(condition, AllOf | AnyOf):
        children = condition.all if isinstance(condition, AllOf) else condition.any
        joiner = " AND " if isinstance(condition, AllOf) else " OR "
        return f"({joiner.join(condition_sql(c, inputs, params, now, members) for c in children)})"
    if isinstance(condition, NotOf):
        return f"(NOT {condition_sql(condition.not_, inputs, params, now, members)})"
    if isinstance(condition, TraitTest | ComputedTest | PredictionTest):
        column = inputs.column_of(condition)
        at = f"f.{column}_us" if column in inputs.times else None
        return test_sql(*condition.operator, f"f.{column}", params, now, at)
    if isinstance(condition, HouseholdTest):
        return test_sql(*condition.operator, f"f.h_{condition.household}", params, now)
    if isinstance(condition, EventTest):
        count = f"coalesce(TRY_CAST(f.{inputs.computed[condition.counter.name]} AS BIGINT), 0)"
        least, most = condition.bounds
        params.append(least)
        if most is None:
            return f"({count} >= ?)"
        params.append(most)
        return f"({count} BETWEEN ? AND ?)"
    if isinstance(condition, AudienceTest):
        params.append(condition.audience)
        found = f"(f.profile_id IN (SELECT profile_id FROM {members} WHERE audience = ?))"
        return found if condition.member else f"(NOT {found})"
    if isinstance(condition, ConsentTest):
        granted = f"coalesce(f.{inputs.consent[condition.consent]}, false)"
        return granted if condition.granted else f"(NOT {granted})"
    raise TypeError(f"not a condition: {condition!r}")
