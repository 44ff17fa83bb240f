"""The value rules, one row per case, each row checked twice: by ``values.test`` (the Python
evaluator's) and by ``compile.test_sql`` run on DuckDB (the SQL evaluator's). A SQL test must
come out true or false, never NULL: under a ``not``, NULL would stay NULL and drop the person."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pytest

from kenning.audiences.compile import test_sql as compile_test_sql
from kenning.audiences.conditions import ConditionError, parse, parse_duration
from kenning.audiences.evaluate import Facts, holds
from kenning.audiences.values import MISSING, as_time, days_to_anniversary
from kenning.audiences.values import test as value_test

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)  # 2025 is no leap year
DURATIONS = {"within_last", "before_last", "within_next", "anniversary_within"}


def iso(at: datetime) -> str:
    return at.isoformat()


def ago(**delta: float) -> str:
    return iso(NOW - timedelta(**delta))


def ahead(**delta: float) -> str:
    return iso(NOW + timedelta(**delta))


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _operand(op: str, operand: Any) -> Any:
    return parse_duration(operand) if op in DURATIONS else operand


def in_python(
    con: duckdb.DuckDBPyConnection, op: str, operand: Any, value: Any, now: datetime
) -> Any:
    return value_test(op, _operand(op, operand), value, now)


def in_sql(con: duckdb.DuckDBPyConnection, op: str, operand: Any, value: Any, now: datetime) -> Any:
    params: list[Any] = []
    expression = compile_test_sql(op, _operand(op, operand), "v", params, now)
    json = None if value is MISSING else orjson.dumps(value).decode()
    row = con.execute(f"SELECT {expression} FROM (SELECT ?::JSON AS v)", [*params, json]).fetchone()
    assert row is not None
    return row[0]


Evaluator = Callable[[duckdb.DuckDBPyConnection, str, Any, Any, datetime], Any]
EVALUATORS = [pytest.param(in_python, id="python"), pytest.param(in_sql, id="sql")]

# (operator, operand, value, holds)
Row = tuple[str, Any, Any, bool]

EQUALITY: list[Row] = [
    ("eq", 1, 1, True),
    ("eq", 1, 1.0, True),
    ("eq", 1.0, 1, True),
    ("eq", 0, -0.0, True),
    ("eq", 2**53, 2**53, True),
    ("eq", 1, "1", False),
    ("eq", 1, True, False),
    ("eq", True, 1, False),
    ("eq", False, 0, False),
    ("eq", "1", 1, False),
    ("eq", "true", True, False),
    ("eq", True, True, True),
    ("eq", False, False, True),
    ("eq", "1", "1", True),
    ("eq", "a", "A", False),
    ("eq", "é日", "é日", True),
    ("eq", "Leeds", ["Leeds"], False),
    ("eq", 1, [1], False),
    ("eq", "x", {"x": 1}, False),
    ("eq", "2024-01-01", "2024-01-01T00:00:00Z", False),  # text, not times
    ("ne", 1, 1.0, False),
    ("ne", 1, "1", True),
    ("ne", True, 1, True),
    ("ne", "a", "a", False),
    ("ne", "a", ["a"], True),
    ("in", [1, "a"], 1.0, True),
    ("in", ["1", True], 1, False),
    ("in", [True], True, True),
    ("in", [False, 0], 0.0, True),
    ("in", ["a"], "b", False),
    ("in", ["a"], ["a"], False),
    ("not_in", [1], 1.0, False),
    ("not_in", [1], "1", True),
    ("not_in", ["a", True], False, True),
    ("not_in", ["a", True], True, False),
]

# A typical operand for each operator: a missing value and null pass only exists: false, ne
# and not_in, whatever the operand.
TYPICAL = {
    "eq": 1, "ne": 1, "gt": 0, "gte": "2000-01-01", "lt": 10, "lte": "2030-01-01",
    "in": ["a", 1], "not_in": ["a", 1], "contains": "a", "within_last": "3650d",
    "before_last": "1d", "within_next": "3650d", "anniversary_within": "366d",
}  # fmt: skip
ABSENT: list[Row] = [
    (op, operand, value, op in {"ne", "not_in"})
    for op, operand in TYPICAL.items()
    for value in (MISSING, None)
] + [
    ("exists", True, MISSING, False),
    ("exists", True, None, False),
    ("exists", False, MISSING, True),
    ("exists", False, None, True),
    ("exists", True, False, True),  # false, 0, "" and [] are values
    ("exists", True, 0, True),
    ("exists", True, "", True),
    ("exists", True, [], True),
    ("exists", True, {}, True),
    ("exists", False, "", False),
]

NUMBERS: list[Row] = [
    ("gt", 5, 10, True),
    ("gt", 5, "10", True),  # numbers as text count as numbers
    ("gt", 5, "4.99", False),
    ("gte", 10, "10", True),
    ("gte", 10, "10.0", True),
    ("lt", 0, "-0.5", True),
    ("lte", 0, "-0", True),
    ("gt", 0, "1e3", True),
    ("gt", 1000, "1E3", False),
    ("gte", 1000, "1E3", True),
    ("gt", 0, "1e999", False),  # not finite: no number
    ("gt", 0, " 7", False),
    ("gt", 0, "7 ", False),
    ("gt", 0, "+5", False),
    ("gt", 0, ".5", False),
    ("gt", 0, "0x10", False),
    ("gt", 0, "1,000", False),
    ("gt", 0, True, False),  # a boolean is no number
    ("lt", 1, False, False),
    ("gt", 0, [1], False),
    ("gt", 0, {"a": 1}, False),
    ("lt", 100, "2024-01-01", False),  # a date is no number
    ("gte", 9.5, 9.5, True),
    ("lt", 9.5, 9.5, False),
    ("lte", -1, -1, True),
    ("gt", 1e16, 1e16 + 2, True),
    ("gt", 2**62, 2**63, True),
]

DATES: list[Row] = [
    ("gt", "2024-01-01", "2024-06-01", True),
    ("gt", "2024-01-01", "2023-12-31", False),
    ("gte", "2024-01-01", "2024-01-01T00:00:00Z", True),
    ("gt", "2024-01-01", "2024-01-01T00:00:00Z", False),
    ("gt", "2024-01-01", "2024-01-01T00:00:00.000001+00:00", True),
    # No offset is UTC: 00:00 UTC is 02:00 at +02:00.
    ("lt", "2024-01-01T01:00:00+02:00", "2024-01-01T00:00:00", False),
    ("lt", "2024-01-01T03:00:00+02:00", "2024-01-01T00:00:00", True),
    ("lt", "2024-01-01", "2023-12-31T23:30:00-01:00", False),  # 00:30 UTC
    ("lt", "2024-01-01", "2023-12-31T23:30:00+01:00", True),
    ("gt", "2024-01-01", "2024-01-02 10:00", True),
    ("gt", "2024-01-01", "2024-01-02T10:00Z", True),
    ("lte", "2024-01-01T10:00:00.5+00:00", "2024-01-01T10:00:00.499999Z", True),
    ("gte", "2024-01-01", 20240101, False),  # a number is no time
    ("gte", "2024-01-01", 1704067200, False),
    ("lt", "2024-01-01", "yesterday", False),
    ("gt", "2024-01-01", "2024-02-30", False),  # matches the pattern, is no date
    ("gt", "2024-01-01", "2024-02-29", True),
    ("lt", "2025-01-01", "2023-02-29", False),
    ("gt", "2000-01-01", "2024-13-01", False),
    ("gt", "2000-01-01", "2024-01-01T25:00", False),
    ("gt", "2000-01-01", "2024-01-01T10:00:00.1234567", False),
    ("gt", "2000-01-01", "2024-01-01T10:00:00+0530", False),
    ("gt", "2000-01-01", "2024-01-01T10", False),
    ("gt", "2000-01-01", " 2024-01-01", False),
    ("gt", "2000-01-01", ["2024-01-01"], False),
]

CONTAINS: list[Row] = [
    ("contains", "vip", "a vip customer", True),
    ("contains", "VIP", "vip", False),
    ("contains", "", "abc", True),
    ("contains", "1", "a1", True),
    ("contains", 1, "a1", False),  # text holds text
    ("contains", True, "true", False),
    ("contains", "vip", ["vip", "x"], True),
    ("contains", "vi", ["vip"], False),  # a list holds whole elements
    ("contains", 1, [1.0, "a"], True),
    ("contains", 1.0, [1], True),
    ("contains", 1, ["1"], False),
    ("contains", "1", [1], False),
    ("contains", True, [1], False),
    ("contains", True, [False, True], True),
    ("contains", 1, [[1]], False),
    ("contains", "a", [{"a": "a"}], False),
    ("contains", "x", [], False),
    ("contains", "a", {"a": 1}, False),
    ("contains", 5, 5, False),
    ("contains", "5", 5, False),
]

WINDOWS: list[Row] = [
    ("within_last", "7d", iso(NOW), True),
    ("within_last", "7d", ago(days=3), True),
    ("within_last", "7d", ago(days=7), True),  # the window's start is in it
    ("within_last", "7d", ago(days=7, microseconds=1), False),
    ("within_last", "7d", ahead(microseconds=1), False),  # not yet
    ("within_last", "7d", "2025-03-04", True),  # a date is its midnight, UTC
    ("within_last", "7d", "2025-03-03", False),
    ("within_last", "7d", "2025-03-03T13:00:00+01:00", True),  # 12:00 UTC, 7 days ago
    ("within_last", "7d", "2025-03-03T11:00:00-01:00", True),
    ("within_last", "7d", "2025-03-03T12:59:59+01:00", False),
    ("within_last", "12h", ago(hours=12), True),
    ("within_last", "12h", ago(hours=13), False),
    ("within_last", "3650d", "2025-02-30", False),
    ("within_last", "3650d", "last week", False),
    ("within_last", "3650d", 1741608000, False),  # an epoch number is no time
    ("before_last", "7d", ago(days=7), False),  # more than 7 days ago, strictly
    ("before_last", "7d", ago(days=7, microseconds=1), True),
    ("before_last", "7d", ago(days=30), True),
    ("before_last", "7d", "1990-01-01", True),
    ("before_last", "7d", iso(NOW), False),
    ("before_last", "7d", ahead(days=1), False),
    ("before_last", "7d", "2023-02-29", False),
    ("within_next", "7d", iso(NOW), True),
    ("within_next", "7d", ahead(days=7), True),
    ("within_next", "7d", ahead(days=7, microseconds=1), False),
    ("within_next", "7d", ago(microseconds=1), False),
    ("within_next", "36h", ahead(hours=35), True),
    ("within_next", "36h", "2025-03-12", True),  # midnight: 36 hours ahead exactly
    ("within_next", "36h", "2025-03-12T00:00:01Z", False),
]

# (operator, operand, value, now, holds): anniversaries, with "today" (UTC) the first day.
Dated = tuple[str, Any, Any, datetime, bool]
MARCH_10 = NOW
FEB_27_2025 = datetime(2025, 2, 27, 20, tzinfo=UTC)
FEB_28_2025 = datetime(2025, 2, 28, 8, tzinfo=UTC)
MARCH_1_2025 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
FEB_28_2024 = datetime(2024, 2, 28, 23, 59, 59, tzinfo=UTC)
FEB_29_2024 = datetime(2024, 2, 29, 0, 0, tzinfo=UTC)
DEC_30 = datetime(2025, 12, 30, 12, tzinfo=UTC)
ANNIVERSARIES: list[Dated] = [
    ("anniversary_within", "1d", "1990-03-10", MARCH_10, True),  # today is day 0
    ("anniversary_within", "1d", "1990-03-11", MARCH_10, False),
    ("anniversary_within", "2d", "1990-03-11", MARCH_10, True),
    ("anniversary_within", "7d", "1990-03-16", MARCH_10, True),  # day 6: the last of 7
    ("anniversary_within", "7d", "1990-03-17", MARCH_10, False),  # day 7
    ("anniversary_within", "7d", "1990-03-09", MARCH_10, False),  # yesterday: next year's
    ("anniversary_within", "366d", "1990-03-09", MARCH_10, True),
    ("anniversary_within", "12h", "1990-03-10", MARCH_10, True),  # under a day: today
    ("anniversary_within", "36h", "1990-03-11", MARCH_10, False),  # whole days: 1
    ("anniversary_within", "1d", "1990-03-10T23:59:59", MARCH_10, True),
    ("anniversary_within", "1d", "1990-03-10T23:30:00-01:00", MARCH_10, False),  # 11th, UTC
    ("anniversary_within", "2d", "1990-03-10T23:30:00-01:00", MARCH_10, True),
    ("anniversary_within", "1d", "1990-03-11T00:30:00+01:00", MARCH_10, True),  # 10th, UTC
    ("anniversary_within", "1d", "2025-03-10", MARCH_10, True),  # this year's date
    ("anniversary_within", "1d", "2030-03-10", MARCH_10, True),  # a future date's too
    # 29 February falls on the 28th in other years.
    ("anniversary_within", "1d", "2000-02-29", FEB_28_2025, True),
    ("anniversary_within", "1d", "2000-02-29", FEB_27_2025, False),
    ("anniversary_within", "2d", "2000-02-29", FEB_27_2025, True),
    ("anniversary_within", "7d", "2000-02-29", MARCH_1_2025, False),
    ("anniversary_within", "366d", "2000-02-29", MARCH_1_2025, True),
    ("anniversary_within", "1d", "2001-02-28", FEB_28_2025, True),
    ("anniversary_within", "1d", "2000-02-29", FEB_28_2024, False),  # a leap year has it
    ("anniversary_within", "2d", "2000-02-29", FEB_28_2024, True),
    ("anniversary_within", "1d", "2000-02-29", FEB_29_2024, True),
    ("anniversary_within", "7d", "2001-02-28", FEB_29_2024, False),
    ("anniversary_within", "1d", "2001-03-01", FEB_29_2024, False),
    ("anniversary_within", "2d", "2001-03-01", FEB_29_2024, True),
    # Over the year's end.
    ("anniversary_within", "7d", "1990-01-05", DEC_30, True),
    ("anniversary_within", "7d", "1990-01-06", DEC_30, False),
    ("anniversary_within", "3d", "1990-01-01", DEC_30, True),
    ("anniversary_within", "2d", "1990-01-01", DEC_30, False),
    # No date, no anniversary.
    ("anniversary_within", "366d", "2023-02-29", MARCH_10, False),
    ("anniversary_within", "366d", "1990-02-30", MARCH_10, False),
    ("anniversary_within", "366d", "03-10", MARCH_10, False),
    ("anniversary_within", "366d", 19900310, MARCH_10, False),
]

TABLE: list[Dated] = [
    (op, operand, value, NOW, expected)
    for op, operand, value, expected in (
        *EQUALITY,
        *ABSENT,
        *NUMBERS,
        *DATES,
        *CONTAINS,
        *WINDOWS,
    )
] + ANNIVERSARIES


def _id(row: Dated) -> str:
    op, operand, value, now, expected = row
    shown = "MISSING" if value is MISSING else repr(value)
    return f"{op} {operand!r} {shown} @{now.date()} {expected}"


@pytest.mark.parametrize("evaluate", EVALUATORS)
@pytest.mark.parametrize(("op", "operand", "value", "now", "expected"), TABLE, ids=map(_id, TABLE))
def test_a_value_rule(
    con: duckdb.DuckDBPyConnection,
    evaluate: Evaluator,
    op: str,
    operand: Any,
    value: Any,
    now: datetime,
    expected: bool,
) -> None:
    assert evaluate(con, op, operand, value, now) is expected


# Text that looks like time to one reader and not to the other. Python's datetime refuses an
# hour of 24, an offset of 24 hours or more and the year 0; DuckDB reads them (2024-01-01T24:00
# as the next midnight), so the same trait would put a person in an audience in batch and
# take them out in real time. (value, a test every time passes)
TIME_EDGES: list[tuple[str, str, str]] = [
    ("2024-01-01T24:00", "gt", "1900-01-01"),
    ("2024-01-01T24:00:00", "gt", "1900-01-01"),
    ("2024-01-01T10:00:00+24:00", "gt", "1900-01-01"),
    ("2024-01-01T10:00:00+25:00", "gt", "1900-01-01"),
    ("2024-01-01T10:00:00+23:60", "gt", "1900-01-01"),
    ("2024-01-01T10:00:00-99:00", "gt", "1900-01-01"),
    ("0000-06-01", "lt", "2024-01-01"),
    ("2024-01-01T23:59:60Z", "gt", "1900-01-01"),
    ("2024-01-01T10:60", "gt", "1900-01-01"),
]


@pytest.mark.parametrize(("value", "op", "operand"), TIME_EDGES)
def test_time_text_is_time_to_both_evaluators_or_to_neither(
    con: duckdb.DuckDBPyConnection, value: str, op: str, operand: str
) -> None:
    is_time = as_time(value) is not None
    assert in_python(con, op, operand, value, NOW) is is_time
    assert in_sql(con, op, operand, value, NOW) is is_time


# A time whose UTC date falls outside the years 1 to 9999 (0001-01-01 at +01:00 is 31
# December of the year 0 in UTC).
EXTREME_TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01",
                 "9999-12-31T23:59:59Z"]  # fmt: skip


@pytest.mark.parametrize("value", EXTREME_TIMES)
@pytest.mark.parametrize("span", ["1d", "366d"])
def test_an_anniversary_of_an_extreme_time_is_decided_alike(
    con: duckdb.DuckDBPyConnection, value: str, span: str
) -> None:
    python = in_python(con, "anniversary_within", span, value, NOW)  # raises no OverflowError
    assert python is in_sql(con, "anniversary_within", span, value, NOW)


# Conditions parse accepts are evaluated without error, by both evaluators; or parse refuses
# them. A number beyond a double, or a window reaching past the year 1 or 9999, would raise
# OverflowError in both (and stop the real-time evaluator for the people it was evaluating).
EXTREME_OPERANDS: list[dict[str, Any]] = [
    {"trait": "x", "gt": 10**400},
    {"trait": "x", "eq": 10**400},
    {"trait": "x", "in": [1, 10**400]},
    {"trait": "x", "within_last": "1000000d"},
    {"trait": "x", "before_last": "150000w"},
    {"trait": "x", "within_next": "3000000d"},
    {"trait": "x", "anniversary_within": "1000000d"},
]


@pytest.mark.parametrize("spec", EXTREME_OPERANDS)
def test_an_accepted_operand_can_be_evaluated(
    con: duckdb.DuckDBPyConnection, spec: dict[str, Any]
) -> None:
    try:
        condition = parse(spec)
    except ConditionError:
        return  # refused: fine
    op, operand = condition.operator
    for value in (5, "2024-01-01", MISSING):
        python = value_test(op, operand, value, NOW)
        assert in_sql(con, op, spec[op] if op in DURATIONS else operand, value, NOW) is python


def test_today_is_day_zero_of_an_anniversary() -> None:
    today = NOW.date()
    assert days_to_anniversary(today.replace(year=1990), today) == 0
    assert days_to_anniversary((NOW - timedelta(days=1)).date().replace(year=1990), today) == 364
    assert days_to_anniversary((NOW + timedelta(days=1)).date().replace(year=1990), today) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", datetime(2024, 2, 29, tzinfo=UTC)),
        ("2024-02-30", None),
        ("2023-02-29", None),
        ("2024-01-01T10:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01 10:00:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01T12:00:00+02:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01T10:00:00.5", datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("20240101", None),  # ISO 8601's basic form is not taken
        ("2024-W01-1", None),
        ("2024-01-01T10:00:00+0200", None),
        ("Jan 1 2024", None),
        (20240101, None),
        (None, None),
    ],
)
def test_what_is_time_text(text: Any, expected: datetime | None) -> None:
    assert as_time(text) == expected
    if expected is not None:
        assert as_time(text).tzinfo is not None  # type: ignore[union-attr]


def test_facts_read_a_path_with_values_under_it_as_an_object() -> None:
    facts = Facts(traits={"address.city": "Leeds", "address.geo.lat": 53.8, "addressee": "x"})
    assert facts.trait("address") == {"city": "Leeds", "geo": {"lat": 53.8}}
    assert facts.trait("address.geo") == {"lat": 53.8}
    assert facts.trait("address.city") == "Leeds"
    assert facts.trait("addr") is MISSING  # a prefix of a name is no path
    assert facts.trait("address.zip") is MISSING
    assert Facts(traits={"address": "1 High St", "address.city": "x"}).trait("address") == (
        "1 High St"
    )
    assert holds(parse({"trait": "address", "exists": True}), facts, NOW)
    assert not holds(parse({"trait": "address", "eq": "Leeds"}), facts, NOW)
    assert holds(parse({"trait": "addr", "exists": False}), facts, NOW)


def test_holds_combines_nodes() -> None:
    facts = Facts(
        traits={"plan": "pro"},
        computed={"orders_count": 2},
        consent={"marketing_email": True, "sms": False},
        household={"size": 3},
        audiences={"vips"},
    )

    def check(spec: dict[str, Any]) -> bool:
        return holds(parse(spec), facts, NOW)

    yes = {"trait": "plan", "eq": "pro"}
    no = {"trait": "plan", "eq": "free"}
    assert check({"all": [yes, yes]}) and not check({"all": [yes, no]})
    assert check({"any": [no, yes]}) and not check({"any": [no, no]})
    assert check({"not": no}) and not check({"not": yes})
    assert check({"computed": "orders_count", "gte": 2})
    assert check({"computed": "lifetime_value", "exists": False})
    assert check({"household": "size", "eq": 3}) and check({"household": "id", "exists": False})
    assert check({"prediction": "churn", "ne": 1}) and not check({"prediction": "churn", "lt": 1})
    assert check({"audience": "vips"}) and not check({"audience": "vips", "member": False})
    assert check({"audience": "other", "member": False})
    assert check({"consent": "marketing_email"})
    assert not check({"consent": "sms"}) and check({"consent": "sms", "granted": False})
    assert not check({"consent": "never_asked"})
    assert check({"consent": "never_asked", "granted": False})
