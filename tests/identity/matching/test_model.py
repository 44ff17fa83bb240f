"""The model's comparisons: which level a pair of values lands on."""

import duckdb
import pytest

from kenning.identity.matching.model import _names


def _name_level(first: tuple[str | None, str | None], second: tuple[str | None, str | None]) -> str:
    """The label of the level of the name comparison that two (first, last) names meet."""
    comparison = _names().get_comparison("duckdb")
    cases = " ".join(
        f"WHEN {level.sql_condition} THEN '{level.label_for_charts}'"
        for level in comparison.comparison_levels
        if level.sql_condition != "ELSE"
    )
    (row,) = duckdb.execute(
        f"""SELECT CASE {cases} ELSE 'else' END FROM (
                SELECT $1 AS first_name_l, $2 AS last_name_l, $3 AS first_name_r,
                       $4 AS last_name_r, concat_ws(' ', $1, $2) AS full_name_l,
                       concat_ws(' ', $3, $4) AS full_name_r)""",
        [*first, *second],
    ).fetchall()
    return str(row[0])


@pytest.mark.parametrize(
    ("first", "second", "level"),
    [
        (("ada", "quennell"), ("ada", "quennell"), "Exact match on full_name"),
        (("ada", "quennell"), ("quennell", "ada"), "Match on reversed cols"),
        (("abby", "sporn"), ("sporn", "abyb"), "names swapped, nearly the same"),
        (("ada", "quennell"), ("ada", "quenell"), "(Jaro-Winkler distance of first_name >= 0.92)"),
        (("michael", "goldsworthy"), ("benjamin", "goldsworthy"), "Exact match on last_name"),
        (("liam", "green"), ("connor", "grewen"), "last name nearly the same"),
        ((None, "mcneill"), ("jake", "mcniell"), "last name nearly the same"),
        (("seanna", "pendle"), ("sehnna", "clarke"), "first name nearly the same"),
        (("john", "smith"), ("joan", "baker"), "else"),  # one letter apart, and not a typo
        ((None, None), ("ada", "quennell"), "(first_name is NULL) AND (last_name is NULL)"),
    ],
)
def test_names_meet_the_most_specific_level_they_can(
    first: tuple[str | None, str | None], second: tuple[str | None, str | None], level: str
) -> None:
    assert _name_level(first, second).startswith(level)
