"""The synthetic brand: deterministic, complete ground truth, planted behaviour."""

import csv
import hashlib
import math
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from kenning.demo.generator import generate
from kenning.demo.people import BGNBD


def digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(path.relative_to(directory).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def messages(directory: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        path.stem: [orjson.loads(line) for line in path.read_bytes().splitlines()]
        for path in sorted((directory / "events").glob("*.jsonl"))
    }


@pytest.fixture(scope="module")
def brand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("brand")
    generate(400, 11, out)
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, brand: Path) -> None:
    generate(400, 11, tmp_path / "again")
    assert digest(tmp_path / "again") == digest(brand)
    generate(400, 12, tmp_path / "other")
    assert digest(tmp_path / "other") != digest(brand)


def test_chunked_generation_merges_runs_in_time_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kenning.demo.generator as generator

    monkeypatch.setattr(generator, "CHUNK_PEOPLE", 70)  # several runs per source
    generate(300, 5, tmp_path)
    for source, rows in messages(tmp_path).items():
        stamps = [r["timestamp"] for r in rows]
        assert stamps == sorted(stamps), source


def test_every_message_is_valid_unique_and_in_the_truth(brand: Path) -> None:
    truth = {
        (r["source"], r["message_id"]): r["person_id"] for r in read_csv(brand / "truth/events.csv")
    }
    manifest = orjson.loads((brand / "manifest.json").read_bytes())
    seen: set[str] = set()
    for source, rows in messages(brand).items():
        assert manifest["sources"][source]["messages"] == len(rows)
        for row in rows:
            assert row.get("userId") or row.get("anonymousId")
            assert len(row["messageId"]) < 100 and row["messageId"] not in seen
            seen.add(row["messageId"])
            assert (source, row["messageId"]) in truth
            assert len(orjson.dumps(row)) < 32 * 1024
    assert len(truth) == len(seen)


def test_every_offline_record_is_in_the_truth(brand: Path) -> None:
    records = {(r["file"], r["record_id"]) for r in read_csv(brand / "truth/records.csv")}
    customers = read_csv(brand / "files/customers.csv")
    orders = read_csv(brand / "files/pos_orders.csv")
    assert customers and orders
    assert {("customers.csv", r["customer_id"]) for r in customers} | {
        ("pos_orders.csv", r["order_id"]) for r in orders
    } == records


def test_households_share_an_address(brand: Path) -> None:
    people = read_csv(brand / "truth/people.csv")
    by_household: dict[str, list[dict[str, str]]] = defaultdict(list)
    for person in people:
        by_household[person["household_id"]].append(person)
    shared = [members for members in by_household.values() if len(members) > 1]
    sharing_people = sum(len(m) for m in shared)
    assert 0.15 < sharing_people / len(people) < 0.45
    assert all(len({m["city"] for m in members}) == 1 for members in shared)


def test_churned_people_go_quiet_after_their_churn_date(brand: Path) -> None:
    people = {p["person_id"]: p for p in read_csv(brand / "truth/people.csv")}
    owner = {r["message_id"]: r["person_id"] for r in read_csv(brand / "truth/events.csv")}
    churned = {pid for pid, p in people.items() if p["churned"] == "1"}
    assert 0.1 < len(churned) / len(people) < 0.6
    engaged = {"Order Completed", "Email Opened", "Email Link Clicked", "Product Added"}
    for rows in messages(brand).values():
        for row in rows:
            pid = owner[row["messageId"]]
            if pid in churned and row.get("event") in engaged:
                day = row["timestamp"][:10]
                assert day <= people[pid]["churn_date"], (row, people[pid])


def test_no_email_to_someone_who_declined_it(brand: Path) -> None:
    owner = {r["message_id"]: r["person_id"] for r in read_csv(brand / "truth/events.csv")}
    consent: dict[str, dict[str, bool]] = {}
    for rows in messages(brand).values():
        for row in rows:
            prefs = row.get("context", {}).get("consent", {}).get("categoryPreferences")
            if prefs:
                consent[owner[row["messageId"]]] = prefs
    declined = {pid for pid, prefs in consent.items() if not prefs["marketing_email"]}
    assert declined, "some people should decline email"
    for row in messages(brand)["email"]:
        assert owner[row["messageId"]] not in declined


def test_purchase_counts_follow_the_planted_bgnbd_process(tmp_path: Path) -> None:
    days = 364
    generate(2_000, 3, tmp_path, days=days)
    people = read_csv(tmp_path / "truth/people.csv")
    observed = sum(
        1
        for rows in messages(tmp_path).values()
        for row in rows
        if row.get("event") == "Order Completed"
    ) + sum(1 for r in read_csv(tmp_path / "truth/records.csv") if r["file"] == "pos_orders.csv")
    # Purchases arrive at rate lambda while alive and each ends the person's life with
    # probability p, so life ends at rate lambda * p and E[X(T)] = (1 - exp(-lambda p T)) / p.
    end = date(2025, 1, 1).toordinal() + days
    expected = 0.0
    for person in people:
        rate, p = float(person["lambda"]), float(person["p"])
        weeks = (end - date.fromisoformat(person["start_date"]).toordinal()) / 7
        expected += (1 - math.exp(-rate * p * weeks)) / p
    assert expected > 1_000
    assert abs(observed - expected) / expected < 0.1, (observed, expected)
    assert BGNBD["r"] > 0 and BGNBD["alpha"] > 0
