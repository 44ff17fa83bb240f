"""Loading a generated brand into a running Kenning, through the real API and import paths.

Event files go through ``POST /v1/batch`` with each source's own write key, exactly as SDKs
send them; the offline files go through the import path, as ``kenning import`` sends them.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from kenning.cli.backend import RemoteBackend
from kenning.ingest.importer import ChunkResult, import_file
from kenning.ingest.mapping import Mapping

# Well under the collection limits (2,500 events, 500 KB per request).
BATCH_EVENTS = 500
BATCH_BYTES = 400_000


@dataclass
class LoadSummary:
    sent: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    imported: dict[str, int] = field(default_factory=dict)
    households: int = 0
    spend_rows: int = 0
    scored: int = 0  # customers the prediction models scored


def read_manifest(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = orjson.loads((directory / "manifest.json").read_bytes())
    return manifest


def batches(path: Path) -> Iterator[bytes]:
    """Request bodies of at most BATCH_EVENTS messages and about BATCH_BYTES bytes."""
    lines: list[bytes] = []
    size = 0
    with path.open("rb") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            if lines and (len(lines) >= BATCH_EVENTS or size + len(line) > BATCH_BYTES):
                yield b'{"batch":[' + b",".join(lines) + b"]}"
                lines, size = [], 0
            lines.append(line)
            size += len(line) + 1
    if lines:
        yield b'{"batch":[' + b",".join(lines) + b"]}"


def load_demo(
    directory: Path,
    *,
    url: str,
    token: str,
    progress: Callable[[str, int], None] | None = None,
    workers: int = 4,
) -> LoadSummary:
    """Create the brand's sources and send its data; ``progress(label, events)`` as it goes."""
    manifest = read_manifest(directory)
    summary = LoadSummary()
    backend = RemoteBackend(url, token)
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, info in manifest["sources"].items():
            write_key = _write_key(backend, name)

            def send(body: bytes, key: str = write_key) -> tuple[int, int]:
                response = client.post(
                    "/v1/batch",
                    content=body,
                    auth=(key, ""),
                    headers={"Content-Type": "application/json"},
                )
                response.raise_for_status()
                result = response.json()
                return result["accepted"], len(result["rejected"])

            with ThreadPoolExecutor(workers) as pool:
                for accepted, rejected in pool.map(send, batches(directory / info["file"])):
                    summary.sent[name] = summary.sent.get(name, 0) + accepted
                    summary.rejected[name] = summary.rejected.get(name, 0) + rejected
                    if progress is not None:
                        progress(name, accepted + rejected)
    for spec in manifest["imports"]:
        source = spec["source"]
        backend.ensure_source(source)

        def sink(messages: list[dict[str, Any]], name: str = source) -> ChunkResult:
            return backend.import_chunk(name, messages)

        result = import_file(
            directory / spec["file"],
            kind=spec["kind"],
            source=source,
            sink=sink,
            mapping=Mapping.from_dict(spec.get("mapping") or {}),
            id_column=spec.get("id_column"),
        )
        summary.imported[spec["file"]] = result.stored + result.duplicates
        summary.rejected[source] = summary.rejected.get(source, 0) + result.rejected
        if progress is not None:
            progress(source, result.rows)
    if manifest.get("ad_spend"):
        spend = backend.import_spend((directory / manifest["ad_spend"]).read_text())
        summary.spend_rows = int(spend["rows"])
    # Derived from the loaded profiles' addresses, so the demo shows its households.
    summary.households = int(backend.households(by_surname=False)["households"])
    # So the demo's profiles show RFM, lifetime value, propensities from the start.
    summary.scored = int(backend.run_predictions(None, None)["customers"])
    return summary


def _write_key(backend: RemoteBackend, name: str) -> str:
    created = backend.create_source(name, None)
    key: str = created["write_key"]
    return key
