"""Predictions kept per profile: written a model's run at a time, read per person, per batch
of people (real-time audiences) and for everyone (batch audiences).

Rows are keyed by the profile the person had when the model ran. A later merge needs no
rewrite: a read takes the rows of a profile and of the profiles merged into it, the newest
value of each name winning, as traits do; between scores of one run, the surviving
profile's (then the highest id, so every reader picks the same).
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

SCORES = "__kenning_predictions"
RUNS = "__kenning_prediction_runs"
# the newest score, then the surviving profile's, then the highest id's
_NEWEST = "(p.computed_at, r.canonical_id IS NULL, p.profile_id)"


def json_texts(values: pa.Array) -> pa.Array:
    """JSON text of each value: numbers in their shortest round-trip digits, text quoted."""
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        return pc.cast(values, pa.string())
    encoded = pc.cast(values, pa.string()).dictionary_encode()
    quoted = pa.array(
        [None if v is None else orjson.dumps(v).decode() for v in encoded.dictionary.to_pylist()],
        pa.string(),
    )
    return pc.take(quoted, encoded.indices)


def score_table(profile_ids: pa.Array, columns: dict[str, pa.Array]) -> pa.Table:
    """Long rows (profile_id, name, value) from one column of values per name; nulls and
    non-finite numbers are left out."""
    parts = []
    for name, values in columns.items():
        keep = pc.is_valid(values)
        if pa.types.is_floating(values.type):
            keep = pc.and_(keep, pc.is_finite(values))
        texts = json_texts(pc.filter(values, keep))
        parts.append(pa.table({
            "profile_id": pc.filter(profile_ids, keep).cast(pa.int64()),
            "name": pa.array([name] * len(texts), pa.string()),
            "value": texts,
        }))  # fmt: skip
    if not parts:
        return pa.table({"profile_id": pa.array([], pa.int64()), "name": pa.array([], pa.string()),
                         "value": pa.array([], pa.string())})  # fmt: skip
    return pa.concat_tables(parts)


def only_profiled(rows: pa.Table, profiled: np.ndarray[Any, Any]) -> pa.Table:
    """The rows of people who may be profiled (a net under every model: none writes a score
    for anyone else)."""
    return rows.filter(pc.is_in(rows.column("profile_id"), value_set=pa.array(profiled)))


def replace_scores(
    con: duckdb.DuckDBPyConnection,
    model: str,
    rows: pa.Table,
    computed_at: datetime,
    report: dict[str, Any],
) -> int:
    """Replace ``model``'s scores with ``rows`` and record the run, in the caller's
    transaction; returns the rows written."""
    con.execute(f"DELETE FROM {SCORES} WHERE model = ?", [model])
    con.register("__kenning_new_scores", rows)
    try:
        con.execute(
            f"""INSERT INTO {SCORES} SELECT profile_id, name, value, ?, ?
                FROM __kenning_new_scores""",
            [model, computed_at],
        )
    finally:
        con.unregister("__kenning_new_scores")
    con.execute(
        f"INSERT INTO {RUNS} VALUES (?, ?, ?)",
        [model, computed_at, orjson.dumps(report, option=orjson.OPT_SERIALIZE_NUMPY).decode()],
    )
    written: int = rows.num_rows
    return written


def person_scores(
    con: duckdb.DuckDBPyConnection, profile_ids: Sequence[int]
) -> dict[str, dict[str, Any]]:
    """A person's predictions (over their profile and those merged into it): by name, the
    value, the model that computed it and when (the newest; at the same moment, the
    person's own profile's, then the greater profile id's)."""
    if not profile_ids:
        return {}
    # An index lookup per profile id, combined here: ``profile_id = ANY(?)`` with a GROUP BY
    # cost DuckDB 1.2 ms a profile read, half of it (bench/profiles).
    found = con.execute(
        " UNION ALL ".join(
            f"SELECT name, value, model, computed_at, profile_id FROM {SCORES} WHERE profile_id = ?"
            for _ in profile_ids
        ),
        list(profile_ids),
    ).fetchall()
    newest: dict[str, tuple[Any, ...]] = {}
    for name, value, model, at, profile_id in found:
        key = (at, profile_id == profile_ids[0], profile_id)
        held = newest.get(name)
        if held is None or key > held[0]:
            newest[name] = (key, value, model)
    return {
        str(name): {"value": orjson.loads(value), "model": model, "computed_at": key[0].isoformat()}
        for name, (key, value, model) in sorted(newest.items())
    }


def people_scores(
    con: duckdb.DuckDBPyConnection, people: Iterable[int]
) -> dict[int, dict[str, Any]]:
    """Each current profile's prediction values by name, for a batch of people."""
    wanted = sorted(set(people))
    scores: dict[int, dict[str, Any]] = {}
    if not wanted:
        return scores
    for person, name, value in con.execute(
        f"""SELECT coalesce(r.canonical_id, p.profile_id) AS person, p.name,
                   arg_max(p.value, {_NEWEST})
            FROM {SCORES} p LEFT JOIN __kenning_profile_redirects r USING (profile_id)
            WHERE p.profile_id = ANY(?) OR r.canonical_id = ANY(?)
            GROUP BY ALL""",
        [wanted, wanted],
    ).fetchall():
        scores.setdefault(int(person), {})[str(name)] = orjson.loads(value)
    return scores


def current_scores_sql(names: Sequence[str], params: list[Any]) -> str:
    """Columns profile_id (current), name, value (JSON): the newest value of each of
    ``names`` for every person."""
    params.append(list(names))
    return f"""SELECT coalesce(r.canonical_id, p.profile_id) AS profile_id, p.name,
                      arg_max(p.value, {_NEWEST})::JSON AS value
               FROM {SCORES} p LEFT JOIN __kenning_profile_redirects r USING (profile_id)
               WHERE p.name = ANY(?::VARCHAR[]) GROUP BY ALL"""


def latest_runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Each model's newest run: when, and its report (the model card)."""
    return [
        {"model": model, "computed_at": at.isoformat(), "report": orjson.loads(report)}
        for model, at, report in con.execute(
            f"""SELECT model, max(computed_at), arg_max(report, computed_at)
                FROM {RUNS} GROUP BY model ORDER BY model"""
        ).fetchall()
    ]
