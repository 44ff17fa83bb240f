"""Scoring chosen pairs of records with a trained model, in milliseconds.

Splink's own paths for one new record (``score_pairs``, ``predict_between``) register tables,
derive term frequencies and assemble their SQL pipeline on every call: hundreds of
milliseconds. The SQL they end in depends only on the model, so it is generated once here,
by Splink's own generators (the comparison vectors, the match weights, the probability), and
run on a private in-memory DuckDB over the pairs at hand: the same arithmetic, none of the
set-up.

Term frequencies travel with the records (``tf_<column>``). A new record's are left empty: a
term-frequency adjustment applies only where both sides agree exactly, and there the
candidate's frequency is the value's.
"""

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute
from splink.internals.predict import predict_from_comparison_vectors_sqls_using_settings
from splink.internals.settings_creator import SettingsCreator

from kenning.identity.matching.features import RECORD_ID
from kenning.identity.matching.model import FIRST_NAME, FULL_NAME, LAST_NAME

LEFT, RIGHT = "__kenning_pairs_left", "__kenning_pairs_right"
PAIRS = "__kenning_pairs"


def with_full_name(records: pa.Table) -> pa.Table:
    """Add the first and last name together, which the name comparison reads."""
    if FULL_NAME in records.column_names or not {FIRST_NAME, LAST_NAME} <= set(
        records.column_names
    ):
        return records
    full = pa.compute.binary_join_element_wise(records[FIRST_NAME], records[LAST_NAME], " ")
    return records.append_column(FULL_NAME, full)


class PairScorer:
    """A trained model (Splink's saved JSON) ready to score pairs of records.

    ``score(left, right, pairs)`` takes two tables of records (each with ``record_id``, the
    compared columns and their ``tf_`` columns) and the pairs to score as (left id, right id);
    it returns each pair's match probability. Thread-safe: one query at a time.
    """

    def __init__(self, model: dict[str, Any]) -> None:
        logging.getLogger("splink").setLevel(logging.ERROR)
        settings = SettingsCreator.from_path_or_dict(model).get_settings("duckdb")
        self.columns = sorted(
            {
                column.unquote().name
                for comparison in settings.comparisons
                for column in comparison._input_columns_used_by_case_statement
            }
        )
        self.tf_columns = sorted(
            column.unquote().name for column in settings._term_frequency_columns
        )
        # columns the model carries along (the profile id): read, never compared
        self.retained = [column.unquote().name for column in settings._additional_columns_to_retain]
        self._sql = self._compile(settings)
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET threads = 1")  # a handful of pairs: threads only cost
        self._con.execute("PRAGMA disable_optimizer")
        self._lock = threading.Lock()

    @staticmethod
    def _compile(settings: Any) -> str:
        blocked = settings._columns_to_select_for_blocking
        steps = [
            (
                "__splink__df_blocked",
                f"""SELECT {", ".join(blocked)}, 0 AS match_key
                    FROM {PAIRS} p
                    JOIN {LEFT} AS l ON l.{RECORD_ID} = p.left_id
                    JOIN {RIGHT} AS r ON r.{RECORD_ID} = p.right_id""",
            ),
            (
                "__splink__df_comparison_vectors",
                f"SELECT {', '.join(settings._columns_to_select_for_comparison_vector_values)}"
                " FROM __splink__df_blocked",
            ),
        ]
        steps += [
            (step["output_table_name"], step["sql"])
            for step in predict_from_comparison_vectors_sqls_using_settings(settings)
        ]
        *ctes, (_, last) = steps
        with_ = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes)
        return f"WITH {with_}\nSELECT {RECORD_ID}_l, {RECORD_ID}_r, match_probability FROM ({last})"

    def prepare(self, records: pa.Table) -> pa.Table:
        """``records`` with only the columns scoring reads (the record id, the compared
        columns, their term frequencies, what the model retains)."""
        records = with_full_name(records)
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        for name in [RECORD_ID, *self.columns, *self.retained]:
            if name in records.column_names or name != RECORD_ID:
                columns[name] = records[name]
        for name in self.tf_columns:
            tf = f"tf_{name}"
            columns[tf] = (
                records[tf]
                if tf in records.column_names
                else pa.nulls(records.num_rows, pa.float64())
            )
        return pa.table(columns)

    def score(
        self, left: pa.Table, right: pa.Table, pairs: Sequence[tuple[int, int]]
    ) -> list[tuple[int, int, float]]:
        """(left id, right id, match probability) for each pair."""
        if not pairs:
            return []
        ids = pa.table(
            {
                "left_id": pa.array([p[0] for p in pairs], pa.int64()),
                "right_id": pa.array([p[1] for p in pairs], pa.int64()),
            }
        )
        with self._lock, self._registered({LEFT: left, RIGHT: right, PAIRS: ids}):
            rows = self._con.execute(self._sql).fetchall()
        return [(int(a), int(b), float(p)) for a, b, p in rows]

    @contextmanager
    def _registered(self, tables: dict[str, pa.Table]) -> Iterator[None]:
        for name, table in tables.items():
            self._con.register(name, table)
        try:
            yield
        finally:
            for name in tables:
                self._con.unregister(name)

    def close(self) -> None:
        self._con.close()


def term_frequencies(records: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``records`` with a ``tf_<column>`` for each column: the share of the records holding a
    value that hold this one (as Splink computes it)."""
    records = with_full_name(records)
    con = duckdb.connect(":memory:")
    try:
        con.register("records", records)
        frequencies = ", ".join(
            f"count(*) OVER (PARTITION BY {c}) / (count({c}) OVER ())::DOUBLE AS tf_{c}"
            for c in columns
        )
        if not frequencies:
            return records
        # NULL values have no frequency (Splink leaves them out)
        adjusted = ", ".join(
            f"CASE WHEN {c} IS NOT NULL THEN tf_{c} END AS tf_{c}" for c in columns
        )
        return con.sql(
            f"""SELECT * EXCLUDE ({", ".join(f"tf_{c}" for c in columns)}), {adjusted}
                FROM (SELECT *, {frequencies} FROM records)
                ORDER BY {RECORD_ID}"""
        ).to_arrow_table()
    finally:
        con.close()
