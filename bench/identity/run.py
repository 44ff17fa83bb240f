"""The identity benchmark: stitching cost at ingest, and a full rebuild beside scipy.

1. Stitching cost: the synthetic brand's messages go through the writer in groups of 1,000
   (as batched ingest does), into one store that stitches and one that does not, in the same
   run; the difference is what real-time identity costs.
2. Rebuild: `rebuild_identity` replays the log into the graph. The reference is scipy's
   connected components over the same event-identifier links, string encoding included: the
   lower bound for grouping those links, without Kenning's rules (limits, priority, overrides).
3. Large rebuild: copies of the brand's log (`big_log`) up to KENNING_BENCH_REBUILD_LINKS
   links (default 1M; the target is 10M in 10 s on 2 cores), rebuilt from a store stitched
   live, beside scipy over the same link texts (encoding with numpy, then components).
"""

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bench.identity import resolve
from bench.identity.big_log import copy_log
from bench.ingest.run import machine
from bench.results import write_section
from kenning.demo.generator import generate
from kenning.identity.log_links import read_log_links
from kenning.identity.rebuild import rebuild_identity, replay_log
from kenning.identity.rules import IdentityRules
from kenning.identity.stitching import message_identifiers
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store

PEOPLE = int(os.environ.get("KENNING_BENCH_IDENTITY_PEOPLE", "3000"))
REBUILD_LINKS = int(os.environ.get("KENNING_BENCH_REBUILD_LINKS", "1000000"))
GROUP = 1_000


def _messages(brand: Path) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for path in sorted((brand / "events").glob("*.jsonl")):
        with path.open("rb") as handle:
            messages.extend(orjson.loads(line) for line in handle if line.strip())
    return messages


def _ingest(path: Path, messages: list[dict[str, Any]], *, stitch: bool) -> float:
    """Seconds to write every message through the writer, groups of GROUP."""
    now = datetime.now(UTC)
    limits = Limits()
    prepared = [
        prepare_messages(
            messages[i : i + GROUP], source_id="bench", received_at=now, limits=limits
        ).events
        for i in range(0, len(messages), GROUP)
    ]
    with Store.open(path, stitch=stitch) as store:
        started = time.perf_counter()
        for events in prepared:
            store.write_events(events).result()
        return time.perf_counter() - started


def _scipy_components(messages: list[dict[str, Any]]) -> tuple[float, float, int, int]:
    """Seconds to extract the links, seconds to encode and group them; links; components."""
    rules = IdentityRules()
    started = time.perf_counter()
    texts: list[str] = []
    events: list[int] = []
    for index, message in enumerate(messages):
        for identifier in message_identifiers(message, rules):
            texts.append(f"{identifier.type}:{identifier.value}")
            events.append(index)
    extracted = time.perf_counter() - started
    started = time.perf_counter()
    _, codes = np.unique(np.array(texts, dtype=object), return_inverse=True)
    nodes = len(messages) + int(codes.max()) + 1
    rows = np.array(events, dtype=np.int64)
    cols = codes.astype(np.int64) + len(messages)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(nodes, nodes))
    count, _ = connected_components(graph, directed=False)
    return extracted, time.perf_counter() - started, len(texts), int(count)


def _scipy_over(texts: list[str], events: list[int], n_events: int) -> tuple[float, float, int]:
    """Seconds to encode the link texts (numpy), seconds for the components; components."""
    started = time.perf_counter()
    _, codes = np.unique(np.array(texts, dtype=object), return_inverse=True)
    encoded = time.perf_counter() - started
    started = time.perf_counter()
    nodes = n_events + int(codes.max()) + 1
    rows = np.array(events, dtype=np.int64)
    cols = codes.astype(np.int64) + n_events
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(nodes, nodes))
    count, _ = connected_components(graph, directed=False)
    return encoded, time.perf_counter() - started, int(count)


@dataclass
class LargeRebuild:
    events: int
    links: int
    seconds: float
    profiles: int
    scipy_encoding: float
    scipy_components: float
    components: int


def large_rebuild(workdir: Path, brand_store: Path, links_per_copy: int) -> LargeRebuild:
    """Rebuild a log of about REBUILD_LINKS links, beside scipy over the same links."""
    copies = max(1, round(REBUILD_LINKS / links_per_copy))
    path = workdir / "large.duckdb"
    with Store.open(path, stitch=False):
        pass  # migrated, empty
    started = time.perf_counter()
    events = copy_log(brand_store, path, copies)
    print(f"copied the log {copies}x: {events:,} events in {time.perf_counter() - started:.0f} s")
    # The live state a rebuild starts from: the log stitched once (here by a bulk replay).
    with Store.open(path) as store:
        store.writer.run(lambda con: replay_log(con, store.identity)).result()
        store.writer.run(lambda con: con.execute("CHECKPOINT")).result()
    with Store.open(path) as store:
        print(f"rebuilding {events:,} events ...", flush=True)
        started = time.perf_counter()
        rebuilt = rebuild_identity(store)
        seconds = time.perf_counter() - started
        with store.reader() as con:
            log = read_log_links(con, store.identity.rules)
    # scipy gets the link texts ready-made (not timed): only encoding and grouping are timed.
    identifiers = [f"{i.type}:{i.value}" for i in log.identifiers]
    texts = [identifiers[c] for c in log.codes.tolist()]
    event_of_link = np.repeat(np.arange(len(log.seq)), np.diff(log.offsets)).tolist()
    n_events, links = len(log.seq), log.links
    del log, identifiers
    encoding, grouping, components = _scipy_over(texts, event_of_link, n_events)
    return LargeRebuild(
        events, links, seconds, rebuilt.profiles_after, encoding, grouping, components
    )


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kenning-bench-identity-"))
    try:
        print(f"generating the synthetic brand for {PEOPLE:,} people ...", flush=True)
        generate(PEOPLE, 7, workdir / "brand")
        messages = _messages(workdir / "brand")
        plain = _ingest(workdir / "plain.duckdb", messages, stitch=False)
        stitched = _ingest(workdir / "stitched.duckdb", messages, stitch=True)
        with Store.open(workdir / "stitched.duckdb") as store:
            started = time.perf_counter()
            rebuilt = rebuild_identity(store)
            rebuild_seconds = time.perf_counter() - started
            profiles = store.stats()["profiles"]
        extract_seconds, scipy_seconds, links, components = _scipy_components(messages)
        with_extraction = extract_seconds + scipy_seconds
        plain_store = workdir / "plain.duckdb"
        large = large_rebuild(workdir, plain_store, links)
        print(f"filling a store with {resolve.PROFILES:,} profiles ...", flush=True)
        fill_seconds = resolve.fill(workdir / "million.duckdb")
        timings = resolve.measure(workdir / "million.duckdb")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    n = len(messages)
    rows = [
        "| measure | Kenning | reference | ratio |",
        "|---|---:|---:|---:|",
        f"| ingest through the writer, events/s (groups of {GROUP:,}) "
        f"| {n / stitched:,.0f} with the real-time stages | {n / plain:,.0f} without "
        f"| {stitched / plain:.2f}x the time |",
        f"| the real-time stages' cost per event (stitching, profile state, computed traits, "
        f"documents, audiences) | {(stitched - plain) / n * 1e6:.1f} µs | | |",
        f"| full rebuild of {links:,} links ({n:,} events) | {rebuild_seconds:.2f} s "
        f"({links / rebuild_seconds:,.0f} links/s) | scipy: encoding and components "
        f"{scipy_seconds:.2f} s; with extraction from the messages {with_extraction:.2f} s "
        f"| {rebuild_seconds / with_extraction:.1f}x |",
        f"| profiles | {profiles:,} live, {rebuilt.profiles_after:,} after the rebuild "
        f"| {components:,} components (no limits) | |",
        f"| full rebuild of {large.links:,} links ({large.events:,} events; copies of the "
        f"brand, shared devices planted) | {large.seconds:.2f} s "
        f"({large.links / large.seconds:,.0f} links/s) | scipy: encoding "
        f"{large.scipy_encoding:.2f} s, components {large.scipy_components:.2f} s, together "
        f"{large.scipy_encoding + large.scipy_components:.2f} s "
        f"| {large.seconds / (large.scipy_encoding + large.scipy_components):.1f}x |",
        f"| profiles after the large rebuild | {large.profiles:,} "
        f"| {large.components:,} components (no limits) | |",
    ]
    health = resolve.summary(timings["health"])
    for label, name in (
        ("a returning person on a new device", "returning"),
        ("a brand-new person", "new"),
    ):
        median, p99 = resolve.summary(timings[name])
        rows.append(
            f"| {label}, resolved against {resolve.PROFILES:,} profiles (HTTP, acknowledged "
            f"after the commit; {resolve.REQUESTS:,} sequential requests) "
            f"| median {median:.1f} ms, p99 {p99:.1f} ms "
            f"| `GET /health` median {health[0]:.1f} ms, p99 {health[1]:.1f} ms | |"
        )
    rows.append(
        f"| filling the store with {resolve.PROFILES:,} profiles (in process, groups of 2,000) "
        f"| {fill_seconds:.0f} s ({resolve.PROFILES / fill_seconds:,.0f} profiles/s) | | |"
    )
    write_section(
        "identity",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}. `make bench` (or "
        "`.venv/bin/python -m bench identity`); the synthetic brand with "
        f"{PEOPLE:,} people (`KENNING_BENCH_IDENTITY_PEOPLE` scales it), all in one process; "
        f"the large rebuild copies its log to about {REBUILD_LINKS:,} links "
        "(`KENNING_BENCH_REBUILD_LINKS`, default 1,000,000). "
        "The rebuild stitches every event under the rules (limits, priority, overrides), in "
        "bulk where no rule can bite and event by event where one can, in one transaction, "
        "writes the derived tables under stable ids and recomputes the state of the profiles "
        "whose events moved (none, in this benchmark: the rebuild changes nobody); scipy only "
        "groups the links, with no rules, and writes nothing.\n\n" + "\n".join(rows),
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
