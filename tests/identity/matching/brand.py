"""The synthetic brand loaded in process into a real store: shared by the matching tests."""

import json
from pathlib import Path

import orjson

from kenning.cli.backend import LocalBackend
from kenning.demo.generator import generate
from kenning.ingest.importer import import_file
from kenning.ingest.mapping import Mapping
from kenning.settings import Settings
from kenning.store.store import Store

CHUNK = 1_000


def load_brand(directory: Path, people: int) -> tuple[Path, list[Path]]:
    """Generate a brand of ``people`` and load it into ``directory/kenning.duckdb``; returns
    the store's path and the truth files."""
    brand = directory / "brand"
    generate(people, 7, brand)
    manifest = json.loads((brand / "manifest.json").read_text())
    path = directory / "kenning.duckdb"
    with Store.open(path) as store:
        backend = LocalBackend(store, Settings())
        for name, info in manifest["sources"].items():
            backend.ensure_source(name)
            with (brand / info["file"]).open("rb") as handle:
                messages = [orjson.loads(line) for line in handle if line.strip()]
            for start in range(0, len(messages), CHUNK):
                backend.import_chunk(name, messages[start : start + CHUNK])
        for spec in manifest["imports"]:
            source = spec["source"]
            backend.ensure_source(source)
            import_file(
                brand / spec["file"],
                kind=spec["kind"],
                source=source,
                sink=lambda messages, name=source: backend.import_chunk(name, messages),
                mapping=Mapping.from_dict(spec.get("mapping") or {}),
                id_column=spec.get("id_column"),
            )
    return path, [brand / "truth" / "events.csv", brand / "truth" / "records.csv"]
