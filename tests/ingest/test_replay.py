"""Replaying quarantined messages whose payload was fixed by hand."""

from datetime import UTC, datetime

import orjson

from kenning.ingest.pipeline import prepare_messages
from kenning.ingest.replay import replay_quarantine
from kenning.spec.limits import Limits
from kenning.store.store import Store


def _quarantine_one(store: Store) -> int:
    prepared = prepare_messages(
        [{"type": "track", "event": "Bought"}],  # no userId nor anonymousId
        source_id="src",
        received_at=datetime.now(UTC),
        limits=Limits(),
    )
    result = store.write_events(prepared.events, prepared.quarantine).result()
    [quarantine_id] = result.quarantine_ids
    return quarantine_id


def test_a_payload_fixed_into_any_json_is_judged_not_crashed_on(store: Store) -> None:
    quarantine_id = _quarantine_one(store)
    for payload in ({"type": "track", "event": "E", "context": 0.5}, [1], "text", None):
        store.quarantine.set_payload(quarantine_id, orjson.dumps(payload).decode())
        result = replay_quarantine(store, limits=Limits())
        assert (result.replayed, result.still_invalid) == (0, 1)


def test_a_fixed_payload_is_replayed(store: Store) -> None:
    quarantine_id = _quarantine_one(store)
    fixed = {"type": "track", "event": "Bought", "userId": "u1"}
    store.quarantine.set_payload(quarantine_id, orjson.dumps(fixed).decode())
    assert replay_quarantine(store, limits=Limits()).replayed == 1
