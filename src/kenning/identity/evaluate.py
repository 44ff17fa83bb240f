"""Scoring the identity graph against ground truth: pairwise and B-cubed precision and recall.

A truth file is a CSV with a ``person_id`` column and, per row, either an event
(``source`` name and ``message_id``) or an identifier (``identifier`` as ``TYPE:VALUE``, e.g.
an imported record's ``crm_id:C123``, normalised as Kenning stores it: ``email:Jane@X.com`` is
``email:jane@x.com``). Each row is an item; its predicted cluster is the
profile the event or identifier resolves to now. Items the store does not hold are counted as
missing and left out; an event that resolved to no profile is a cluster of its own.

Pairwise precision is the share of item pairs put in one profile that are truly one person;
recall the share of true pairs put in one profile. B-cubed averages, per item, the share of its
profile that is its person (precision) and of its person that is its profile (recall); unlike
pairwise scores it does not let the largest people dominate.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from kenning.identity.identifiers import normalise
from kenning.identity.rules import IdentityRules
from kenning.store.store import Store


class TruthError(ValueError):
    pass


@dataclass(frozen=True)
class Scores:
    items: int
    missing: int
    people: int
    profiles: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _columns(path: Path) -> set[str]:
    try:
        with path.open(encoding="utf-8") as handle:
            header = handle.readline()
    except OSError as error:
        raise TruthError(f"cannot read {path}: {error.strerror}") from None
    return {c.strip().strip('"') for c in header.strip().split(",")}


def _truth_query(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    index: int,
    rules: IdentityRules,
    clusters: "Clusters",
) -> str:
    columns = _columns(path)
    if "person_id" not in columns:
        raise TruthError(f"{path} has no person_id column")
    source = f"read_csv('{_quote(path)}', header = true, all_varchar = true)"
    if {"source", "message_id"} <= columns:
        return f"""SELECT truth, present, {clusters.cluster} AS predicted FROM (
                       SELECT t.person_id AS truth, e.message_id IS NOT NULL AS present,
                              e.* EXCLUDE (source_id, message_id)
                       FROM {source} t
                       LEFT JOIN __kenning_sources s ON s.name = t.source
                       LEFT JOIN {clusters.events} e
                         ON e.source_id = s.id AND e.message_id = t.message_id)"""
    if "identifier" in columns:
        name = f"__kenning_truth_{index}"
        con.register(name, _normalised_identifiers(con, source, rules))
        return f"""SELECT truth, present, {clusters.cluster} AS predicted FROM (
                       SELECT t.person_id AS truth, i.type IS NOT NULL AS present,
                              i.* EXCLUDE (type, value)
                       FROM {name} t
                       LEFT JOIN {clusters.identifiers} i
                         ON i.type = t.type AND i.value = t.value)"""
    raise TruthError(f"{path} needs source and message_id columns, or an identifier column")


@dataclass(frozen=True)
class Clusters:
    """Where items are looked up, and the SQL expression of an item's cluster over the
    looked-up row's columns and ``truth``."""

    events: str  # a relation with source_id, message_id and the cluster's columns
    identifiers: str  # a relation with type, value and the cluster's columns
    cluster: str


# The graph's clusters: the profile each event or identifier resolves to now.
_PROFILES = Clusters(
    events="(SELECT source_id, message_id, profile_id FROM kenning_events)",
    identifiers="(SELECT type, value, profile_id FROM kenning_identifiers)",
    cluster="profile_id",
)


def _normalised_identifiers(
    con: duckdb.DuckDBPyConnection, source: str, rules: IdentityRules
) -> pa.Table:
    """The file's items as (person_id, type, value), each value as stitching stores it."""
    try:
        rows = con.execute(f"SELECT person_id, identifier FROM {source}").fetchall()
    except duckdb.Error as error:
        raise TruthError(f"cannot read the truth file: {type(error).__name__}") from None
    people, types, values = [], [], []
    for person, text in rows:
        type_, _, raw = (text or "").partition(":")
        people.append(person)
        types.append(type_)
        # a value that identifies nobody stays as given: it is counted as missing
        values.append(normalise(type_, raw, rules) or raw)
    return pa.table({"person_id": people, "type": types, "value": values})


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def evaluate(store: Store, truth: Sequence[Path]) -> Scores:
    """Score the current graph against the truth files (read together: one set of items)."""
    with store.reader() as con:
        return score_truth(con, truth, store.identity.rules, _PROFILES)


def score_truth(
    con: duckdb.DuckDBPyConnection,
    truth: Sequence[Path],
    rules: IdentityRules,
    clusters: Clusters,
) -> Scores:
    """Score ``clusters`` (the graph's profiles, or another grouping of the store's events and
    identifiers: ``identity/ceiling.py``) against the truth files."""
    if not truth:
        raise TruthError("give at least one truth file")
    items = " UNION ALL ".join(
        f"({_truth_query(con, path, index, rules, clusters)})" for index, path in enumerate(truth)
    )
    total, missing, people, profiles, together, predicted_pairs, true_pairs, b_p, b_r = _score(
        con, items
    )
    if int(total) == int(missing):
        raise TruthError(
            "no item of the truth files is in the store" if total else "the truth files are empty"
        )
    precision = together / predicted_pairs if predicted_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    b_precision, b_recall = float(b_p or 0.0), float(b_r or 0.0)
    return Scores(
        items=int(total) - int(missing),
        missing=int(missing),
        people=int(people),
        profiles=int(profiles),
        pairwise_precision=float(precision or 0.0),
        pairwise_recall=float(recall or 0.0),
        pairwise_f1=_f1(float(precision or 0.0), float(recall or 0.0)),
        bcubed_precision=b_precision,
        bcubed_recall=b_recall,
        bcubed_f1=_f1(b_precision, b_recall),
    )


def _score(con: duckdb.DuckDBPyConnection, items: str) -> tuple[Any, ...]:
    query = f"""
        WITH raw AS ({items}),
        kept AS (
            SELECT truth,
                   -- an unresolved event is a profile of its own
                   coalesce(predicted::VARCHAR, 'unresolved ' || row_number() OVER ())
                     AS predicted
            FROM raw WHERE present
        ),
        cells AS (SELECT truth, predicted, count(*)::DOUBLE AS n FROM kept GROUP BY ALL),
        people AS (SELECT truth, sum(n) AS n FROM cells GROUP BY truth),
        profiles AS (SELECT predicted, sum(n) AS n FROM cells GROUP BY predicted),
        scored AS (
            SELECT c.n, c.n * c.n / p.n AS in_profile, c.n * c.n / t.n AS in_person
            FROM cells c JOIN people t USING (truth) JOIN profiles p USING (predicted)
        )
        SELECT
            (SELECT count(*) FROM raw),
            (SELECT count(*) FROM raw WHERE NOT present),
            (SELECT count(*) FROM people),
            (SELECT count(*) FROM profiles),
            (SELECT sum(n * (n - 1) / 2) FROM cells),
            (SELECT sum(n * (n - 1) / 2) FROM profiles),
            (SELECT sum(n * (n - 1) / 2) FROM people),
            (SELECT sum(in_profile) / sum(n) FROM scored),
            (SELECT sum(in_person) / sum(n) FROM scored)
    """
    try:
        [row] = con.execute(query).fetchall()
    except duckdb.Error as error:
        # The kind of error only: DuckDB quotes the offending line, which may hold PII.
        raise TruthError(f"cannot read the truth files: {type(error).__name__}") from None
    return tuple(row)
