"""Activation on the synthetic brand, end to end through a real store and a real loopback
receiver: the brand's whole event stream is forwarded (every stored event exactly once, each
profile's in the order stored) and an audience is kept in sync at the destination (each
person's entries and exits alternate and end where the members table ends)."""

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from kenning.activation.declared import parse_destination
from kenning.activation.delivery import DeliverySettings
from kenning.activation.destinations.base import DestinationContext
from kenning.audiences.audience import parse_audience
from kenning.demo.generator import generate
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.activation.destinations.scripted import ScriptedServer, running

LOCAL = DestinationContext(allow_private=True, timeout_seconds=5.0)


@pytest.fixture()
def receiver() -> Iterator[ScriptedServer]:
    with running("127.0.0.1") as server:
        yield server


def _load(store: Store, brand: Path) -> int:
    """Every message of every source, in batches as a client would send them."""
    sent = 0
    for path in sorted((brand / "events").glob("*.jsonl")):
        messages = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        for start in range(0, len(messages), 250):
            chunk = messages[start : start + 250]
            prepared = prepare_messages(
                chunk, source_id=path.stem, received_at=datetime.now(UTC), limits=Limits()
            )
            assert not prepared.rejections
            store.write_events(prepared.events).result()
            sent += len(chunk)
    return sent


def _open_rows(store: Store) -> int:
    with store.reader() as con:
        row = con.execute(
            "SELECT count(*) FROM __kenning_outbox WHERE status IN ('pending', 'scheduled')"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_brand_is_forwarded_whole_and_an_audience_kept_in_sync(
    tmp_path: Path, receiver: ScriptedServer
) -> None:
    generate(120, 5, tmp_path / "brand")
    with Store.open(tmp_path / "kenning.duckdb") as store:
        audience = parse_audience(
            {"name": "buyers", "condition": {"event": "Order Completed", "within": "3650d"}}
        )
        store.writer.run(
            lambda con: store.audiences.declare(con, audience), changes_stages=True
        ).result()
        for spec in (
            {"name": "stream", "events": True},
            {"name": "sync", "audiences": ["buyers"]},
        ):
            declared = parse_destination(
                {
                    "kind": "webhook",
                    "config": {"url": receiver.url + "/" + spec["name"], "secret": "s" * 16},
                    **spec,
                },
                context=LOCAL,
            )
            store.writer.run(
                lambda con, d=declared: store.activation.declare_destination(con, d),
                changes_stages=True,
            ).result()
        store.evaluate_audiences(60)
        store.deliver(DeliverySettings(first_retry_seconds=0.05, poll_seconds=0.05), LOCAL)
        sent = _load(store, tmp_path / "brand")
        deadline = time.monotonic() + 120
        while _open_rows(store) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # membership changes recorded just now owe their last deliveries
        while _open_rows(store) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _open_rows(store) == 0

        with store.reader() as con:
            stored = {
                f"event:stream:{source}:{message}": int(seq)
                for seq, source, message in con.execute(
                    "SELECT seq, source_id, message_id FROM __kenning_events"
                ).fetchall()
            }
            owed = dict(
                con.execute(
                    "SELECT idempotency_key, id FROM __kenning_outbox WHERE destination = 'stream'"
                ).fetchall()
            )
            members = {
                int(p)
                for (p,) in con.execute(
                    "SELECT profile_id FROM __kenning_audience_members WHERE audience = 'buyers'"
                ).fetchall()
            }
        bodies = [(r.path, orjson.loads(r.body)) for r in list(receiver.requests)]
        streamed = [b for path, b in bodies if path == "/stream"]
        assert len(stored) == sent
        # Every stored event exactly once.
        assert sorted(b["id"] for b in streamed) == sorted(stored)
        # Each profile's events in the order they were owed (their outbox ids).
        by_profile: dict[int | None, list[int]] = defaultdict(list)
        for b in streamed:
            by_profile[b["profile_id"]].append(owed[b["id"]])
        assert all(ids == sorted(ids) for ids in by_profile.values())
        # The audience at the destination: alternating entries and exits ending in the members.
        changes: dict[int, list[str]] = defaultdict(list)
        for path, b in bodies:
            if path == "/sync":
                changes[b["data"]["profile_id"]].append(b["data"]["event"])
        assert members, "the brand has buyers"
        for profile_id, events in changes.items():
            expected = ["Audience Entered", "Audience Exited"] * len(events)
            assert events == expected[: len(events)], profile_id
        assert {p for p, events in changes.items() if events[-1] == "Audience Entered"} == members
