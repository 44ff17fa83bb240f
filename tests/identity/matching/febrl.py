"""FEBRL4 loaded into a real store: shared by the matching tests."""

from pathlib import Path

from kenning.cli.backend import LocalBackend
from kenning.demo.febrl import MAPPING, SOURCE, write_febrl4
from kenning.ingest.importer import import_file
from kenning.ingest.mapping import Mapping
from kenning.settings import Settings
from kenning.store.store import Store


def load_febrl4(directory: Path) -> tuple[Path, Path]:
    """Import FEBRL4's 10,000 records into ``directory/kenning.duckdb``; returns the store's
    path and the truth file's."""
    customers, truth = write_febrl4(directory)
    path = directory / "kenning.duckdb"
    with Store.open(path) as store:
        backend = LocalBackend(store, Settings())
        backend.ensure_source(SOURCE)
        summary = import_file(
            customers,
            kind="customers",
            source=SOURCE,
            sink=lambda messages: backend.import_chunk(SOURCE, messages),
            mapping=Mapping.from_dict(MAPPING),
            id_column="rec_id",
        )
        assert summary.stored == 10_000
    return path, truth
