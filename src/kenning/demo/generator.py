"""The synthetic brand: a seeded B2C retailer with ground truth, from a thousand people to
millions.

People are generated in chunks; each chunk's messages are sorted and spilled to a run file, and
the runs are merged per source at the end, so memory stays bounded however many people there
are. Same (people, seed, start, days): byte-identical output.
"""

import csv
import heapq
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from kenning.demo.behaviour import _UTM, CHANNEL_EFFECTS, GAMMA_SHAPE, PersonTimeline, Records
from kenning.demo.people import (
    BGNBD,
    CONSENT_DECLINE,
    GAMMA_GAMMA,
    HOUSEHOLD_SHARE,
    Person,
    make_people,
)

SOURCES = ("web", "app", "email", "sms", "call_centre", "loyalty")
CHUNK_PEOPLE = 20_000
CUSTOMER_COLUMNS = (
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "street",
    "city",
    "postal_code",
    "country",
    "birthday",
    "loyalty_id",
    "created_at",
)
POS_COLUMNS = (
    "order_id",
    "store_id",
    "loyalty_id",
    "timestamp",
    "total",
    "currency",
    "product_id",
    "category",
    "quantity",
)
PEOPLE_COLUMNS = (
    "person_id",
    "household_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birthday",
    "city",
    "churned",
    "churn_date",
    "lambda",
    "p",
    "spend_mean",
    "segment_signal",
    "acquisition_channel",
    "start_date",
)
CUSTOMER_MAPPING = {
    "timestamp": "created_at",
    "traits": {
        "firstName": "first_name",
        "lastName": "last_name",
        "email": "email",
        "phone": "phone",
        "birthday": "birthday",
        "address.street": "street",
        "address.city": "city",
        "address.postalCode": "postal_code",
        "address.country": "country",
        "loyalty_id": "loyalty_id",
        "createdAt": "created_at",
    },
    "only_mapped": True,
}
ORDER_MAPPING = {
    "timestamp": "timestamp",
    "event": "=Order Completed",
    "properties": {
        "order_id": "order_id",
        "store_id": "store_id",
        "loyalty_id": "loyalty_id",
        "total": "total",
        "revenue": "total",
        "currency": "currency",
        "product_id": "product_id",
        "category": "category",
        "quantity": "quantity",
        "channel": "=store",
    },
    "only_mapped": True,
}


CONFIG_FILE = "kenning.yaml"
# How the brand would set Kenning up: its phones are British, and its loyalty card is an
# identifier wherever it is written (the loyalty programme's events carry it as an externalIds
# entry, read without configuration).
BRAND_CONFIG = """\
# The synthetic brand's Kenning configuration: kenning demo runs with it.
identity:
  # Phone numbers are written in UK national format (07700 900123).
  phone_region: GB
  # A loyalty card identifies its member: on CRM records (traits.loyalty_id) and on store
  # orders paid with the card (properties.loyalty_id). One card a profile.
  custom:
    loyalty_id: [traits.loyalty_id, properties.loyalty_id]
  limits:
    loyalty_id: {count: 1}
    # Each store order is imported under its own id (pos_id): a member has as many as they
    # have orders, past the default limit of five an identifier type.
    pos_id: {count: 10000}
"""


@dataclass(frozen=True)
class Manifest:
    people: int
    seed: int
    start: str
    days: int
    sources: dict[str, dict[str, Any]]
    imports: list[dict[str, Any]]
    ad_spend: str
    config: str  # the brand's Kenning configuration (kenning.yaml), as ``--config`` reads it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def generate(
    people: int,
    seed: int,
    out_dir: Path,
    *,
    start: date | None = None,
    days: int = 365,
    progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Write the brand for ``people`` people to ``out_dir`` and return its manifest."""
    if people < 1:
        raise ValueError("--people must be at least 1")
    begin = start or date(2025, 1, 1)
    start_at = datetime(begin.year, begin.month, begin.day, tzinfo=UTC)
    rng = np.random.default_rng(seed)
    for sub in ("events", "files", "truth"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    spill = Path(tempfile.mkdtemp(prefix="kenning-brand-"))
    counts = dict.fromkeys(SOURCES, 0)
    runs: dict[str, list[Path]] = {s: [] for s in SOURCES}
    households = [0]
    try:
        with (
            _Csv(out_dir / "files/customers.csv", CUSTOMER_COLUMNS) as customers,
            _Csv(out_dir / "files/pos_orders.csv", POS_COLUMNS) as orders,
            _Csv(
                out_dir / "truth/records.csv", ("file", "record_id", "identifier", "person_id")
            ) as truth,
            _Csv(out_dir / "truth/people.csv", PEOPLE_COLUMNS) as people_truth,
            (out_dir / "truth/events.csv").open("w", newline="") as events_truth,
        ):
            events_csv = csv.writer(events_truth, lineterminator="\n")
            events_csv.writerow(("source", "message_id", "person_id"))
            done = 0
            while done < people:
                size = min(CHUNK_PEOPLE, people - done)
                chunk = make_people(rng, size, done + 1, days, begin, households)
                buffers: dict[str, list[tuple[float, str, bytes]]] = {s: [] for s in SOURCES}
                for person in chunk:
                    _live(
                        rng,
                        person,
                        days,
                        start_at,
                        buffers,
                        events_csv,
                        customers,
                        orders,
                        truth,
                        people_truth,
                    )
                for source, lines in buffers.items():
                    lines.sort(key=lambda item: (item[0], item[1]))
                    run = spill / f"{source}-{len(runs[source]):05d}.run"
                    with run.open("wb") as handle:
                        for at, message_id, line in lines:
                            handle.write(f"{at:017.3f}\t{message_id}\t".encode() + line + b"\n")
                    runs[source].append(run)
                    counts[source] += len(lines)
                done += size
                if progress is not None:
                    progress(done, people)
        for source in SOURCES:
            _merge_runs(runs[source], out_dir / "events" / f"{source}.jsonl")
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    _write_ad_spend(
        np.random.default_rng(seed + 1), out_dir / "files/ad_spend.csv", begin, days, people
    )
    _write_params(out_dir / "truth/params.json")
    manifest = Manifest(
        people=people,
        seed=seed,
        start=begin.isoformat(),
        days=days,
        sources={s: {"file": f"events/{s}.jsonl", "messages": counts[s]} for s in SOURCES},
        imports=[
            {
                "file": "files/customers.csv",
                "kind": "customers",
                "source": "crm",
                "id_column": "customer_id",
                "mapping": CUSTOMER_MAPPING,
            },
            {
                "file": "files/pos_orders.csv",
                "kind": "orders",
                "source": "pos",
                "id_column": "order_id",
                "mapping": ORDER_MAPPING,
            },
        ],
        ad_spend="files/ad_spend.csv",
        config=CONFIG_FILE,
    )
    (out_dir / CONFIG_FILE).write_text(BRAND_CONFIG, encoding="utf-8")
    (out_dir / "manifest.json").write_bytes(
        orjson.dumps(manifest.as_dict(), option=orjson.OPT_INDENT_2)
    )
    return manifest


class _Csv:
    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path, self.columns = path, columns

    def __enter__(self) -> "csv.DictWriter[str]":
        self.handle = self.path.open("w", newline="")
        writer = csv.DictWriter(self.handle, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        return writer

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def _live(
    rng: np.random.Generator,
    person: Person,
    days: int,
    start: datetime,
    buffers: dict[str, list[tuple[float, str, bytes]]],
    events_csv: Any,
    customers: "csv.DictWriter[str]",
    orders: "csv.DictWriter[str]",
    truth: "csv.DictWriter[str]",
    people_truth: "csv.DictWriter[str]",
) -> None:
    pid = person.person_id

    def emit(source: str, at: float, message: dict[str, Any]) -> None:
        buffers[source].append((at, message["messageId"], orjson.dumps(message)))
        events_csv.writerow((source, message["messageId"], pid))

    def customer(row: dict[str, str]) -> None:
        customers.writerow(row)
        truth.writerow(
            {
                "file": "customers.csv",
                "record_id": row["customer_id"],
                "identifier": f"crm_id:{row['customer_id']}",  # the import's --id-column type
                "person_id": pid,
            }
        )

    def pos_order(row: dict[str, str]) -> None:
        orders.writerow(row)
        truth.writerow(
            {
                "file": "pos_orders.csv",
                "record_id": row["order_id"],
                "identifier": f"pos_id:{row['order_id']}",
                "person_id": pid,
            }
        )

    timeline = PersonTimeline(rng, person, days, start, emit, Records(customer, pos_order))
    timeline.live()
    churn = timeline.churn_at
    people_truth.writerow(
        {
            "person_id": pid,
            "household_id": f"H{person.household:07d}",
            "first_name": person.first_name,
            "last_name": person.last_name,
            "email": person.email,
            "phone": person.phone_e164,
            "birthday": person.birthday.isoformat(),
            "city": person.address.town,
            "churned": int(churn is not None),
            "churn_date": ""
            if churn is None
            else datetime.fromtimestamp(start.timestamp() + churn, UTC).date().isoformat(),
            "lambda": f"{person.rate:.6f}",
            "p": f"{person.dropout:.6f}",
            "spend_mean": f"{person.spend_mean:.2f}",
            "segment_signal": f"{person.signal:.4f}",
            "acquisition_channel": person.acquisition,
            "start_date": date.fromordinal(start.date().toordinal() + person.start_day).isoformat(),
        }
    )


def _merge_runs(runs: list[Path], target: Path) -> None:
    def lines(run: Path) -> Iterator[bytes]:
        with run.open("rb") as handle:
            yield from handle

    with target.open("wb") as out:
        for line in heapq.merge(*(lines(r) for r in runs)):
            out.write(line.split(b"\t", 2)[2])


def _write_ad_spend(
    rng: np.random.Generator, path: Path, begin: date, days: int, people: int
) -> None:
    # Spend scales with the size of the brand: about one euro per customer per channel-month.
    daily = {
        "paid_search": 0.05,
        "paid_social": 0.04,
        "display": 0.03,
        "affiliate": 0.01,
        "email": 0.002,
        "sms": 0.004,
    }
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("date", "channel", "campaign", "spend"))
        for day in range(days):
            when = date.fromordinal(begin.toordinal() + day).isoformat()
            for channel, per_person in daily.items():
                spend = per_person * people * float(rng.lognormal(0, 0.25))
                writer.writerow((when, channel, _UTM[channel]["name"], f"{spend:.2f}"))


def _write_params(path: Path) -> None:
    path.write_bytes(
        orjson.dumps(
            {
                "bgnbd": {
                    **BGNBD,
                    "time_unit": "week",
                    "note": "lambda ~ Gamma(r, scale 1/alpha) times exp(0.35 * segment_signal)",
                },
                "gamma_gamma": {**GAMMA_GAMMA, "order_value_shape": GAMMA_SHAPE},
                "channel_effects": {c: effect for c, (_, effect) in CHANNEL_EFFECTS.items()},
                "consent_decline_share": CONSENT_DECLINE,
                "household_share": HOUSEHOLD_SHARE,
                "store_share_of_online_customers_orders": 0.3,
            },
            option=orjson.OPT_INDENT_2,
        )
    )
