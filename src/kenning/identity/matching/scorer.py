"""Scoring chosen pairs of records with a trained model, in milliseconds.

Splink's own paths for one new record (``score_pairs``, ``predict_between``) register tables,
derive term frequencies and assemble their SQL pipeline on every call: hundreds of
milliseconds. The SQL they end in depends only on the model, so it is generated once here,
by Splink's own generators (the comparison vectors, the match weights, the probability), and
run on a private in-memory DuckDB over the pairs at hand: the same arithmetic, none of the
set-up.

Even so, planning that query (a few hundred CASE branches) took longer than running it: about
6 ms a call. So it is prepared once (``PREPARE``) over a table of pairs, the two records of a
pair side by side as Splink's blocking step would have put them. Each call appends its pairs
under its own call number, through an appender (a third of the cost of inserting an Arrow
table of a few rows and fifty columns), and the statement scores the latest call's; the table
is emptied every ``_CLEAR_AFTER`` calls rather than on each (a statement saved). A call costs
one flush and one ``EXECUTE``.

Term frequencies travel with the records (``tf_<column>``). A new record's are left empty: a
term-frequency adjustment applies only where both sides agree exactly, and there the
candidate's frequency is the value's.
"""

import logging
import threading
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute
from splink.internals.predict import predict_from_comparison_vectors_sqls_using_settings
from splink.internals.settings_creator import SettingsCreator

from kenning.identity.matching.features import RECORD_ID
from kenning.identity.matching.model import FIRST_NAME, FULL_NAME, LAST_NAME

PAIRS = "__kenning_pairs"  # one row a pair: each record's columns, suffixed _l and _r
STATEMENT = "__kenning_score"
CALL = "__kenning_call"  # the pairs table's column numbering each call's rows
_CLEAR_AFTER = 256  # calls between two emptyings of the pairs table


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
        # the schema of the pairs table the statement is prepared for (types come with the
        # first records scored), its appender, and the calls since it was last emptied
        self._prepared_for: pa.Schema | None = None
        self._appender: duckdb.Appender | None = None
        self._calls = 0

    @staticmethod
    def _compile(settings: Any) -> str:
        # Splink's blocking step would join the two records of each pair and name their
        # columns <column>_l and <column>_r: the pairs table arrives so already.
        steps = [
            (
                "__splink__df_blocked",
                f"SELECT * EXCLUDE ({CALL}), 0 AS match_key FROM {PAIRS}"
                f" WHERE {CALL} = (SELECT max({CALL}) FROM {PAIRS})",
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
        table = self._pairs(left, right, pairs)
        with self._lock:
            if self._prepared_for != table.schema:
                self._prepare_statement(table.schema)
            assert self._appender is not None
            if self._calls == _CLEAR_AFTER:
                self._con.execute(f"DELETE FROM {PAIRS}")
                self._calls = 0
            self._calls += 1
            call = pa.array([self._calls] * table.num_rows, pa.int64())
            numbered = table.append_column(CALL, call)
            try:
                columns = [column.to_pylist() for column in numbered.columns]
            except OverflowError:  # a date typed past the year 9999 has no Python value
                self._con.from_arrow(numbered).insert_into(PAIRS)
            else:
                self._appender.append_rows(zip(*columns, strict=True))
                self._appender.flush()
            rows = self._con.execute(f"EXECUTE {STATEMENT}").fetchall()
        return [(int(a), int(b), float(p)) for a, b, p in rows]

    def _pairs(self, left: pa.Table, right: pa.Table, pairs: Sequence[tuple[int, int]]) -> pa.Table:
        """Each pair's two records side by side, columns suffixed ``_l`` and ``_r``."""
        columns = [RECORD_ID, *self.columns, *[f"tf_{c}" for c in self.tf_columns]]
        columns += [c for c in self.retained if c not in columns]
        by_id = [
            {record: i for i, record in enumerate(side[RECORD_ID].to_pylist())}
            for side in (left, right)
        ]
        at = [
            pa.array([by_id[0][a] for a, _ in pairs], pa.int64()),
            pa.array([by_id[1][b] for _, b in pairs], pa.int64()),
        ]
        taken = [
            side.select(columns).take(rows) for side, rows in zip((left, right), at, strict=True)
        ]
        return pa.table(
            {
                f"{name}_{suffix}": side[name]
                for name in columns
                for suffix, side in zip("lr", taken, strict=True)
            }
        )

    def _prepare_statement(self, schema: pa.Schema) -> None:
        """(Re)create the pairs table with ``schema`` and prepare the statement over it."""
        if self._prepared_for is not None:
            self._con.execute(f"DEALLOCATE PREPARE {STATEMENT}")
        self._con.execute(f"DROP TABLE IF EXISTS {PAIRS}")
        self._con.from_arrow(schema.append(pa.field(CALL, pa.int64())).empty_table()).create(PAIRS)
        self._con.execute(f"PREPARE {STATEMENT} AS {self._sql}")
        self._appender = self._con.appender(PAIRS)
        self._calls = 0
        self._prepared_for = schema

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
