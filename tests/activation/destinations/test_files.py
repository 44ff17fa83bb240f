import csv
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kenning.activation.destinations.base import DestinationConfigError, DestinationContext
from kenning.activation.destinations.files import FileExport, safe_name
from tests.activation.destinations.make import delivery

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def export(tmp_path: Path, format: str = "csv", folder: str = "exports") -> FileExport:
    return FileExport(
        "files", {"folder": folder, "format": format}, DestinationContext(data_dir=tmp_path)
    )


def change(n: int, audience: str = "vip", event: str = "Audience Entered", **traits: Any) -> Any:
    payload = {
        "event": event,
        "audience_id": audience,
        "audience": audience,
        "profile_id": 100 + n,
        "at": f"2026-03-01T12:00:0{n}Z",
        "traits": traits,
    }
    return delivery(n, payload=payload, profile_id=100 + n)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_one_csv_delta_per_audience_per_call(tmp_path: Path) -> None:
    destination = export(tmp_path)
    outcomes = destination.send_many(
        [
            change(1, email="ada@example.com", address={"city": "Leeds", "zip": "LS1"}),
            change(2, "churn", "Audience Exited", email="bo@example.com"),
            change(3, email="cy@example.com", orders=3, tags=["a", "b"], vip=None),
        ]
    )
    assert [o.status for o in outcomes] == ["delivered"] * 3
    vip, churn = (
        (tmp_path / "exports" / "vip" / "deltas"),
        (tmp_path / "exports" / "churn" / "deltas"),
    )
    [vip_file] = vip.iterdir()
    [churn_file] = churn.iterdir()
    assert vip_file.name.endswith("-1-3.csv")
    assert churn_file.name.endswith("-2-2.csv")
    assert outcomes[0].detail == f"written {vip_file.name}"
    with vip_file.open(newline="") as f:
        header = next(csv.reader(f))
    assert header == [
        "at",
        "event",
        "audience_id",
        "audience",
        "profile_id",
        "idempotency_key",
        "traits.address.city",
        "traits.address.zip",
        "traits.email",
        "traits.orders",
        "traits.tags",
        "traits.vip",
    ]
    first, third = read_csv(vip_file)
    assert first == {
        "at": "2026-03-01T12:00:01.000000Z",
        "event": "Audience Entered",
        "audience_id": "vip",
        "audience": "vip",
        "profile_id": "101",
        "idempotency_key": "key-1",
        "traits.address.city": '"Leeds"',
        "traits.address.zip": '"LS1"',
        "traits.email": '"ada@example.com"',
        "traits.orders": "",
        "traits.tags": "",
        "traits.vip": "",
    }
    assert (third["traits.orders"], third["traits.tags"], third["traits.vip"]) == (
        "3",
        '["a","b"]',
        "null",
    )
    assert json.loads(third["traits.email"]) == "cy@example.com"
    [exited] = read_csv(churn_file)
    assert (exited["event"], exited["profile_id"]) == ("Audience Exited", "102")


def test_a_parquet_delta_keeps_types(tmp_path: Path) -> None:
    destination = export(tmp_path, "parquet")
    destination.send_many([change(1, email="ada@example.com"), change(2, orders=2)])
    [path] = files_under(tmp_path / "exports")
    assert path.suffix == ".parquet"
    table = pq.read_table(path)
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("profile_id").type == pa.int64()
    assert table.schema.field("traits.orders").type == pa.string()
    assert table.to_pylist() == [
        {
            "at": datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC),
            "event": "Audience Entered",
            "audience_id": "vip",
            "audience": "vip",
            "profile_id": 101,
            "idempotency_key": "key-1",
            "traits.email": '"ada@example.com"',
            "traits.orders": None,
        },
        {
            "at": datetime(2026, 3, 1, 12, 0, 2, tzinfo=UTC),
            "event": "Audience Entered",
            "audience_id": "vip",
            "audience": "vip",
            "profile_id": 102,
            "idempotency_key": "key-2",
            "traits.email": None,
            "traits.orders": "2",
        },
    ]


def test_deliveries_a_file_cannot_take_fail_alone(tmp_path: Path) -> None:
    bad_time = change(2)
    bad_time.payload["at"] = "yesterday"
    no_name = change(3)
    del no_name.payload["audience"]
    outcomes = export(tmp_path).send_many(
        [change(1), bad_time, no_name, delivery(4, kind="message", payload={"body": "hi"})]
    )
    assert [(o.status, o.detail) for o in outcomes[1:]] == [
        ("failed", "at is not a time"),
        ("failed", "delivery names no audience"),
        ("failed", "file exports audience deliveries only"),
    ]
    assert outcomes[0].status == "delivered"
    [path] = files_under(tmp_path)
    assert len(read_csv(path)) == 1


def test_a_folder_that_cannot_be_written_is_retried(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "vip").write_text("a file where the audience's folder goes")
    [outcome] = export(tmp_path).send_many([change(1)])
    assert (outcome.status, outcome.detail) == ("retry", "could not write (ENOTDIR)")


@pytest.mark.parametrize(
    "name", ["../../escape", "..", ".", "/etc/cron.d/x", "a\\..\\b", ".hidden"]
)
def test_audience_names_cannot_leave_the_folder(tmp_path: Path, name: str) -> None:
    destination = export(tmp_path, folder="exports")
    [outcome] = destination.send_many([change(1, name)])
    assert outcome.status == "delivered"
    destination.write_snapshot(name, [{"profile_id": 1}], AT)
    for path in files_under(tmp_path):
        assert path.relative_to(tmp_path / "exports").parts[0] == safe_name(name)
    assert not safe_name(name).startswith(".")


def test_names_that_had_to_change_do_not_collide() -> None:
    assert safe_name("a/b") != safe_name("a_b")
    assert safe_name("a_b") == "a_b"


def test_a_snapshot_streams_many_rows(tmp_path: Path) -> None:
    destination = export(tmp_path, "parquet")
    rows = (
        {"profile_id": i, "entered_at": AT, "traits": {"n": i} if i % 2 else {"email": f"{i}@x.io"}}
        for i in range(25_000)
    )
    path = destination.write_snapshot("vip", rows, AT)
    assert path == tmp_path / "exports" / "vip" / "snapshots" / "20260301T120000.000000Z.parquet"
    table = pq.read_table(path)
    assert table.num_rows == 25_000
    assert table.column_names == [
        "at",
        "audience",
        "profile_id",
        "entered_at",
        "traits.email",
        "traits.n",
    ]
    assert table.column("profile_id").to_pylist() == list(range(25_000))
    assert table.slice(3, 1).to_pylist() == [
        {
            "at": AT,
            "audience": "vip",
            "profile_id": 3,
            "entered_at": AT,
            "traits.email": None,
            "traits.n": "3",
        }
    ]


def test_a_csv_snapshot(tmp_path: Path) -> None:
    destination = export(tmp_path)
    path = destination.write_snapshot(
        "vip",
        [
            {"profile_id": 1, "traits": {"city": "Leeds, UK"}},
            {"profile_id": 2, "entered_at": "2026-02-01T00:00:00Z"},
        ],
        AT,
    )
    assert read_csv(path) == [
        {
            "at": "2026-03-01T12:00:00.000000Z",
            "audience": "vip",
            "profile_id": "1",
            "entered_at": "",
            "traits.city": '"Leeds, UK"',
        },
        {
            "at": "2026-03-01T12:00:00.000000Z",
            "audience": "vip",
            "profile_id": "2",
            "entered_at": "2026-02-01T00:00:00.000000Z",
            "traits.city": "",
        },
    ]


def test_a_snapshot_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    destination = export(tmp_path)
    snapshots = tmp_path / "exports" / "vip" / "snapshots"
    seen: list[list[str]] = []

    def rows_then_failure() -> Iterator[dict[str, Any]]:
        for i in range(1_000):
            yield {"profile_id": i}
        seen.append(os.listdir(snapshots))
        raise RuntimeError("the member query broke")

    with pytest.raises(RuntimeError):
        destination.write_snapshot("vip", rows_then_failure(), AT)
    assert seen == [[]]  # nothing visible while it was written (the spool has no name)
    assert os.listdir(snapshots) == []  # and nothing left behind

    destination.write_snapshot("vip", ({"profile_id": i} for i in range(1_000)), AT)
    [path] = files_under(snapshots)
    assert len(read_csv(path)) == 1_000
    assert not [p for p in snapshots.iterdir() if p.name.startswith(".")]


def test_the_same_snapshot_time_replaces_the_snapshot(tmp_path: Path) -> None:
    destination = export(tmp_path)
    destination.write_snapshot("vip", [{"profile_id": 1}, {"profile_id": 2}], AT)
    path = destination.write_snapshot("vip", [{"profile_id": 3}], AT)
    assert files_under(tmp_path) == [path]
    assert [r["profile_id"] for r in read_csv(path)] == ["3"]


def test_a_snapshot_row_with_unknown_keys_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        export(tmp_path).write_snapshot("vip", [{"profile_id": 1, "email": "a@x.io"}], AT)
    assert not list((tmp_path / "exports" / "vip" / "snapshots").iterdir())


def test_folders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    context = DestinationContext(data_dir=data)
    inside = FileExport("f", {"folder": "out/audiences", "format": "csv"}, context)
    assert inside.folder == data / "out" / "audiences"
    elsewhere = tmp_path / "elsewhere"
    absolute = FileExport("f", {"folder": str(elsewhere), "format": "csv"}, context)
    assert absolute.folder == elsewhere
    (data / "link").symlink_to(elsewhere, target_is_directory=True)
    for folder in ("../elsewhere", "out/../../elsewhere", "link"):
        with pytest.raises(DestinationConfigError) as raised:
            FileExport("f", {"folder": folder, "format": "csv"}, context)
        assert raised.value.field == "config.folder"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"format": "csv"}, "config.folder"),
        ({"folder": "", "format": "csv"}, "config.folder"),
        ({"folder": "out"}, "config.format"),
        ({"folder": "out", "format": "xlsx"}, "config.format"),
        ({"folder": "out", "format": "csv", "compression": "zstd"}, "config.compression"),
    ],
)
def test_config_errors_name_their_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(DestinationConfigError) as raised:
        FileExport("f", config, DestinationContext())
    assert raised.value.field == field
