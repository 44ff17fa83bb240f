"""Profiles on the synthetic brand, against its ground truth: for every person the identity
graph resolved cleanly (one profile holding all of their events and nobody else's), the merged
traits and the built-in computed traits equal what their own events imply, worked out here by
brute force from the stored messages."""

import csv
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from kenning.profiles.coverage import coverage
from kenning.profiles.read import profile
from kenning.store.store import Store
from tests.live import free_port


@pytest.fixture(scope="module")
def brand_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("brand")
    result = subprocess.run(
        [sys.executable, "-m", "kenning", "demo", "--people", "200", "--seed", "5",
         "--dir", str(directory), "--port", str(free_port()), "--no-serve"],
        env={**os.environ, "KENNING_ADMIN_TOKEN": "kn_brand_test"},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return directory


def _leaves(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict) and item:
            flat.update(_leaves(item, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = item
    return flat


def _stated(message: dict[str, Any]) -> dict[str, Any]:
    """The traits one message states: its context traits, then an identify call's own."""
    stated: dict[str, Any] = {}
    sources = [message.get("context", {}).get("traits")]
    if message["type"] == "identify":
        sources.append(message.get("traits"))
    for traits in sources:
        if isinstance(traits, dict):
            stated.update(
                {k: v for k, v in _leaves(traits).items() if k.split(".")[0] != "consent"}
            )
    return stated


def test_cleanly_resolved_people_have_the_traits_their_events_imply(brand_store: Path) -> None:
    with (brand_store / "brand/truth/events.csv").open() as handle:
        person_of = {(r["source"], r["message_id"]): r["person_id"] for r in csv.DictReader(handle)}
    with Store.open(brand_store / "kenning.duckdb") as store:
        with store.reader() as con:
            rows = con.execute(
                """SELECT e.profile_id, s.name, e.message_id, e.seq, e.timestamp, e.payload
                   FROM kenning_events e JOIN __kenning_sources s ON s.id = e.source_id"""
            ).fetchall()
        people_in: dict[int, set[str]] = defaultdict(set)
        profiles_of: dict[str, set[int]] = defaultdict(set)
        events_of: dict[int, list[tuple[int, Any, dict[str, Any]]]] = defaultdict(list)
        for profile_id, source, message_id, seq, at, payload in rows:
            events_of[profile_id].append((seq, at, orjson.loads(payload)))
            person = person_of.get((source, message_id))
            if person is not None:
                people_in[profile_id].add(person)
                profiles_of[person].add(profile_id)
        clean = {
            next(iter(ids)): person
            for person, ids in profiles_of.items()
            if len(ids) == 1 and people_in[next(iter(ids))] == {person}
        }
        # Anonymous visits never identified stay apart (see identity.md); most people resolve.
        assert len(clean) >= 0.6 * len(profiles_of), (len(clean), len(profiles_of))
        for profile_id in clean:
            expected_traits: dict[str, tuple[Any, int, Any]] = {}
            orders = []
            for seq, at, message in sorted(events_of[profile_id], key=lambda e: e[0]):
                for path, value in _stated(message).items():
                    held = expected_traits.get(path)
                    if held is None or (at, seq) > (held[0], held[1]):
                        expected_traits[path] = (at, seq, value)
                if message.get("event") == "Order Completed":
                    orders.append(float(message["properties"]["revenue"]))
            found = profile(store, profile_id)
            flat = _leaves(found["traits"])
            assert flat == {path: v for path, (_, _, v) in expected_traits.items()}, profile_id
            computed = found["computed_traits"]
            assert computed["orders_count"] == len(orders)
            assert computed["lifetime_value"] == pytest.approx(sum(orders), abs=1e-6)
            times = [at for _, at, _ in events_of[profile_id]]
            assert computed["first_seen"] == min(times).isoformat()
            assert computed["last_seen"] == max(times).isoformat()


def test_coverage_of_the_brand_equals_a_brute_force_count(brand_store: Path) -> None:
    """Every source, merges, households: the coverage report equals a brute-force count over
    every profile as the Profile API reads it."""
    from kenning.settings import Settings
    from tests.profiles.test_coverage import counts, store_brute_force

    # the identity rules kenning demo ran with: the brand's (British phones, its loyalty card)
    rules = Settings.from_env(brand_store / "brand" / "kenning.yaml").identity
    with Store.open(brand_store / "kenning.duckdb") as store:
        report = coverage(store)
        assert counts(report) == store_brute_force(store, rules)
        assert report["households"]["sharing_a_household"]["profiles"] > 0
        assert report["identifiers"]["pos_id"]["by_source"].keys() == {"pos"}
