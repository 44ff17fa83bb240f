"""A campaign's lift against its holdout group, through a real store and a real receiver: the
groups are the people the policy decided, a conversion is the event within the window after
the trigger (by a profile merged in since too), and the p-value is the two-proportion z-test's
(checked against scipy)."""

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from kenning.activation.campaigns import parse_campaign
from kenning.activation.declared import parse_destination
from kenning.activation.delivery import DeliverySettings
from kenning.activation.destinations.base import DestinationContext
from kenning.activation.lift import lift
from kenning.activation.policy import in_holdout
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.activation.destinations.scripted import ScriptedServer, running

LOCAL = DestinationContext(allow_private=True)


@pytest.fixture()
def receiver() -> Iterator[ScriptedServer]:
    with running("127.0.0.1") as server:
        yield server


def _write(store: Store, *messages: dict[str, Any]) -> None:
    prepared = prepare_messages(
        list(messages), source_id="web", received_at=datetime.now(UTC), limits=Limits()
    )
    assert not prepared.rejections
    store.write_events(prepared.events).result()


def _finished(store: Store) -> bool:
    with store.reader() as con:
        row = con.execute(
            "SELECT count(*) FROM __kenning_outbox WHERE status IN ('scheduled', 'pending')"
        ).fetchone()
    return row is not None and row[0] == 0


def _profile(store: Store, user: str) -> int:
    with store.reader() as con:
        row = con.execute(
            "SELECT profile_id FROM kenning_identifiers WHERE type = 'user_id' AND value = ?",
            [user],
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_lift_compares_the_reached_with_the_held_back(
    tmp_path: Path, receiver: ScriptedServer
) -> None:
    with Store.open(tmp_path / "k.duckdb") as store:
        hook = parse_destination(
            {
                "name": "hook",
                "kind": "webhook",
                "config": {"url": receiver.url, "secret": "s" * 16},
            },
            context=LOCAL,
        )
        campaign = parse_campaign(
            {
                "name": "nudge",
                "trigger": {"event": "Signed Up"},
                "message": {"body": "hi"},
                "channel": "webhook",
                "channels": {"webhook": {"destination": "hook"}},
                "holdout_percent": 50,
            },
        )
        store.writer.run(
            lambda con: store.activation.declare_destination(con, hook), changes_stages=True
        ).result()
        store.writer.run(
            lambda con: store.activation.declare_campaign(con, campaign), changes_stages=True
        ).result()
        store.deliver(DeliverySettings(poll_seconds=0.05), LOCAL)
        users = [f"u{i}" for i in range(60)]
        _write(store, *({"type": "track", "userId": u, "event": "Signed Up"} for u in users))
        deadline = time.monotonic() + 30
        while not _finished(store) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _finished(store)
        # Every third person orders: two of them as an anonymous visitor identified later
        # (a profile merged in), one order before the trigger (it does not count).
        buyers = users[::3]
        for n, user in enumerate(buyers):
            if n % 5 == 0:
                _write(
                    store,
                    {"type": "track", "anonymousId": f"a-{user}", "event": "Order Completed"},
                    {"type": "identify", "anonymousId": f"a-{user}", "userId": user},
                )
            else:
                _write(store, {"type": "track", "userId": user, "event": "Order Completed"})
        too_early = {
            "type": "track", "userId": users[1], "event": "Order Completed",
            "timestamp": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        }  # fmt: skip
        _write(store, too_early)
        held = {u for u in users if in_holdout("nudge", _profile(store, u), 50)}
        later = datetime.now(UTC) + timedelta(hours=2)
        with store.reader() as con:
            found = lift(con, "nudge", "Order Completed", timedelta(hours=1), later)
            unclosed = lift(con, "nudge", "Order Completed", timedelta(hours=1), datetime.now(UTC))
    treated = {"people": len(users) - len(held), "converted": len(set(buyers) - held)}
    control = {"people": len(held), "converted": len(set(buyers) & held)}
    assert 0 < control["people"] < len(users)
    assert {k: found["treated"][k] for k in treated} == treated
    assert {k: found["control"][k] for k in control} == control
    rate_t = treated["converted"] / treated["people"]
    rate_c = control["converted"] / control["people"]
    assert math.isclose(found["lift"], rate_t / rate_c - 1)
    pooled = (treated["converted"] + control["converted"]) / len(users)
    z = (rate_t - rate_c) / math.sqrt(
        pooled * (1 - pooled) * (1 / treated["people"] + 1 / control["people"])
    )
    assert math.isclose(found["p_value"], 2 * stats.norm.sf(abs(z)))
    # Trials whose window has not closed yet are not counted.
    assert unclosed["treated"]["people"] == 0 and unclosed["p_value"] is None
