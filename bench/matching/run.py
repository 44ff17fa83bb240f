"""The matching benchmark: `kenning identity match` records/s at 100k and 1M offline records,
and FEBRL4's linkage quality beside Splink's published figure.

Records are synthetic customers (a CRM export): 80% of people have one record, 20% a second
one with a typo, a nickname, an abbreviated street or a missing field, and every record has
only its own record id, so identity comes from matching alone. Records/s counts the whole run
(reading the records out of the store, training, scoring, deciding, applying). The reference,
measured in the same run on the same records, is Splink alone on an in-memory table: the same
model trained and predicting, without Kenning's reading and applying.
"""

import csv
import os
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.ingest.run import machine
from bench.results import write_section
from kenning.cli.backend import LocalBackend
from kenning.demo.febrl import MAPPING as FEBRL_MAPPING
from kenning.demo.febrl import SETTINGS as FEBRL_SETTINGS
from kenning.demo.febrl import SOURCE as FEBRL_SOURCE
from kenning.demo.febrl import write_febrl4
from kenning.demo.names import FIRST_NAMES, LAST_NAMES, STREETS, TOWNS
from kenning.identity.evaluate import evaluate
from kenning.identity.matching.features import match_records_sql
from kenning.identity.matching.model import score_pairs
from kenning.identity.matching.run import exclusive_types, match_identities
from kenning.identity.matching.settings import MatchSettings
from kenning.ingest.importer import import_file
from kenning.ingest.mapping import Mapping
from kenning.settings import Settings
from kenning.store.store import Store

SIZES = [int(s) for s in os.environ.get("KENNING_BENCH_MATCH_SIZES", "100000").split(",")]
COLUMNS = ("customer_id", "first_name", "last_name", "birthday", "street", "city", "postal_code")
MAPPING = {
    "only_mapped": True,
    "traits": {
        "firstName": "first_name",
        "lastName": "last_name",
        "birthday": "birthday",
        "address.street": "street",
        "address.city": "city",
        "address.postalCode": "postal_code",
    },
}


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def write_records(path: Path, records: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    people = int(records / 1.2)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        written = 0
        for person in range(people):
            town, area = rng.choice(TOWNS)
            row = [
                f"C{person:08d}",
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                (date(1940, 1, 1) + timedelta(days=rng.randrange(22_000))).isoformat(),
                f"{rng.randrange(1, 300)} {rng.choice(STREETS)} Street",
                town,
                f"{area}{rng.randrange(1, 30)} {rng.randrange(1, 10)}"
                f"{rng.choice('ABDEFGHJ')}{rng.choice('ABDEFGHJ')}",
            ]
            writer.writerow(row)
            written += 1
            if written < records and rng.random() < 0.2 * 1.2:
                twin = list(row)
                twin[0] = f"D{person:08d}"
                field = rng.randrange(1, 7)
                twin[field] = "" if rng.random() < 0.3 else _typo(rng, twin[field])
                writer.writerow(twin)
                written += 1


def _import(
    store: Store, path: Path, source: str, mapping: dict[str, object], id_column: str
) -> None:
    backend = LocalBackend(store, Settings())
    backend.ensure_source(source)
    import_file(
        path,
        kind="customers",
        source=source,
        sink=lambda messages: backend.import_chunk(source, messages),
        mapping=Mapping.from_dict(mapping),
        id_column=id_column,
        chunk_size=10_000,
    )


def _scale(records: int, directory: Path) -> dict[str, float]:
    csv_path = directory / f"records-{records}.csv"
    write_records(csv_path, records)
    with Store.open(directory / f"match-{records}.duckdb") as store:
        _import(store, csv_path, "crm", MAPPING, "customer_id")
        with store.reader() as con:
            table = con.sql(
                match_records_sql(MatchSettings(), exclusive_types(store.identity.rules))
            ).to_arrow_table()
        started = time.perf_counter()
        score_pairs(table, MatchSettings())
        splink_seconds = time.perf_counter() - started
        report = match_identities(store, MatchSettings())
    return {
        "records": report.records,
        "seconds": report.seconds,
        "splink_seconds": splink_seconds,
        "merged": report.merged,
        "queued": report.queued,
    }


def _febrl(directory: Path) -> dict[str, float]:
    customers, truth = write_febrl4(directory / "febrl")
    with Store.open(directory / "febrl.duckdb") as store:
        _import(store, customers, FEBRL_SOURCE, FEBRL_MAPPING, "rec_id")
        report = match_identities(store, FEBRL_SETTINGS)
        scores = evaluate(store, [truth])
    return {
        "precision": scores.pairwise_precision,
        "recall": scores.pairwise_recall,
        "f1": scores.pairwise_f1,
        "queued": report.queued,
        "seconds": report.seconds,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kenning-bench-match-") as tmp:
        directory = Path(tmp)
        febrl = _febrl(directory)
        print(f"FEBRL4: {febrl}")
        scales = []
        for size in SIZES:
            result = _scale(size, directory)
            print(f"{size:,} records: {result}")
            scales.append(result)
    rows = "\n".join(
        f"| {r['records']:,.0f} | {r['seconds']:.1f} | {r['records'] / r['seconds']:,.0f} | "
        f"{r['splink_seconds']:.1f} | {r['splink_seconds'] / r['seconds']:.0%} | "
        f"{r['merged']:,.0f} | {r['queued']:,.0f} |"
        for r in scales
    )
    write_section(
        "matching",
        f"""Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}. `make bench` (or
`python -m bench matching`; sizes from `KENNING_BENCH_MATCH_SIZES`, default 100000).

**FEBRL4** (10,000 records, 5,000 true pairs; settings: the defaults plus the social security
number as an `id` field; trained unsupervised by expectation maximisation): pairwise precision
{febrl["precision"]:.4f}, recall {febrl["recall"]:.4f}, **F1 {febrl["f1"]:.4f}** at match
probability 0.99, {febrl["queued"]:.0f} pairs left for review, {febrl["seconds"]:.1f} s.
Splink 5's published FEBRL4 model: F1 0.9956 at 0.99 (precision 1.0).

**Records/s** of a whole `kenning identity match` run on synthetic offline records; the
reference is Splink alone (the same model trained and scoring the same records in memory).

| records | Kenning s | records/s | Splink alone s | share of the run | merged | queued |
|---:|---:|---:|---:|---:|---:|---:|
{rows}
""",
    )
