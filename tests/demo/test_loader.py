"""``kenning demo`` end to end: generate a small brand, load it through the API, check the store."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import orjson

from kenning.identity.ceiling import evidence_ceiling
from kenning.identity.evaluate import evaluate
from kenning.identity.households import compute_households
from kenning.settings import Settings
from kenning.store.store import Store
from tests.live import free_port


def test_demo_loads_every_message_and_record_through_the_api(tmp_path: Path) -> None:
    env = {**os.environ, "KENNING_ADMIN_TOKEN": "kn_demo_test"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kenning",
            "demo",
            "--people",
            "150",
            "--seed",
            "3",
            "--dir",
            str(tmp_path),
            "--port",
            str(free_port()),
            "--no-serve",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded" in result.stderr and "households" in result.stderr

    brand = tmp_path / "brand"
    manifest = orjson.loads((brand / "manifest.json").read_bytes())
    messages = sum(info["messages"] for info in manifest["sources"].values())
    records = 0
    for spec in manifest["imports"]:
        with (brand / spec["file"]).open() as handle:
            records += sum(1 for _ in csv.DictReader(handle))
    with Store.open(tmp_path / "kenning.duckdb") as store:
        stats = store.stats()
        names = {s.name for s in store.sources.list()}
        with store.reader() as con:
            spend_rows = con.execute("SELECT count(*) FROM __kenning_spend").fetchone()
            scored = con.execute(
                "SELECT count(DISTINCT profile_id) FROM __kenning_predictions "
                "WHERE name = 'rfm_segment'"
            ).fetchall()[0][0]
    with (brand / manifest["ad_spend"]).open() as handle:
        assert spend_rows == (sum(1 for _ in csv.DictReader(handle)),), "the ad spend is loaded"
    # the prediction models ran on the loaded brand: every customer has an RFM segment
    assert scored > 0 and f"{scored:,} customers scored" in result.stderr
    # Every generated message and record is either stored or quarantined, none lost.
    assert stats["events"] + stats["quarantined"] == messages + records
    assert stats["quarantined"] == 0, "the generated brand should be valid Segment data"
    assert set(manifest["sources"]) <= names
    assert {spec["source"] for spec in manifest["imports"]} <= names

    # Deterministic stitching never joins two people on the synthetic brand, and finds nearly
    # every pair the brand's evidence allows (identity/ceiling.py): the recall it misses is
    # that of touches sharing nothing with the rest of their person.
    rules = Settings.from_env(brand / "kenning.yaml").identity
    truth = [brand / "truth/events.csv", brand / "truth/records.csv"]
    with Store.open(tmp_path / "kenning.duckdb", identity_rules=rules) as store:
        scores = evaluate(store, truth)
        ceiling = evidence_ceiling(store, truth)
    assert scores.missing == 0  # every message and record id resolves to a profile
    assert scores.pairwise_precision >= 0.995
    assert scores.bcubed_precision >= 0.995
    assert (ceiling.items, ceiling.missing) == (scores.items, scores.missing)
    assert scores.pairwise_recall >= 0.98 * ceiling.pairwise_recall

    # The brand's configuration makes its loyalty card an identifier: a store order paid with
    # a card, and a CRM record that names one, resolve to the profile holding the card.
    with Store.open(tmp_path / "kenning.duckdb") as store, store.reader() as con:
        carded = con.execute(
            f"""WITH record AS (
                    SELECT 'pos_id' AS type, order_id AS id, loyalty_id
                    FROM read_csv('{brand}/files/pos_orders.csv', all_varchar = true)
                    UNION ALL
                    SELECT 'crm_id', customer_id, loyalty_id
                    FROM read_csv('{brand}/files/customers.csv', all_varchar = true))
                SELECT r.type, r.id, own.profile_id, card.profile_id
                FROM record r
                LEFT JOIN kenning_identifiers own ON own.type = r.type AND own.value = r.id
                LEFT JOIN kenning_identifiers card
                  ON card.type = 'loyalty_id' AND card.value = r.loyalty_id
                WHERE r.loyalty_id IS NOT NULL"""
        ).fetchall()
    assert {kind for kind, *_ in carded} == {"pos_id", "crm_id"}
    assert all(own is not None for _, _, own, _ in carded), "every record was imported"
    assert all(own == card for _, _, own, card in carded), [
        row for row in carded if row[2] != row[3]
    ][:5]

    # Households by address match the brand's planted households.
    with Store.open(tmp_path / "kenning.duckdb") as store:
        compute_households(store)
        with store.reader() as con:
            together, predicted, true = con.execute(
                f"""WITH person AS (
                        SELECT e.profile_id, any_value(t.person_id) AS person
                        FROM read_csv('{brand}/truth/events.csv', all_varchar = true) t
                        JOIN __kenning_sources s ON s.name = t.source
                        JOIN kenning_events e
                          ON e.source_id = s.id AND e.message_id = t.message_id
                        GROUP BY 1),
                    items AS (
                        SELECT DISTINCT p.person, t.household_id AS truth, h.household_id AS pred
                        FROM kenning_households h JOIN person p USING (profile_id)
                        JOIN read_csv('{brand}/truth/people.csv', all_varchar = true) t
                          ON t.person_id = p.person),
                    cells AS (SELECT truth, pred, count(*)::DOUBLE AS n FROM items GROUP BY ALL)
                    SELECT sum(n * (n - 1) / 2),
                           (SELECT sum(n * (n - 1) / 2) FROM
                               (SELECT sum(n) AS n FROM cells GROUP BY pred)),
                           (SELECT sum(n * (n - 1) / 2) FROM
                               (SELECT sum(n) AS n FROM cells GROUP BY truth))
                    FROM cells"""
            ).fetchall()[0]
    assert true > 0 and together / predicted >= 0.99 and together / true >= 0.95
