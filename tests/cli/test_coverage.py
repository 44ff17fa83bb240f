"""``kenning coverage`` on a local store and through a running server, as a table and as JSON;
bad input is one readable line and a non-zero exit."""

from pathlib import Path
from typing import Any

import orjson

from tests.cli.test_cli import kenning
from tests.live import ADMIN_TOKEN, LiveServer

EVENTS = "".join(
    orjson.dumps(message).decode() + "\n"
    for message in [
        {"type": "identify", "userId": "u1", "traits": {"email": "ann@x.com", "firstName": "Ann",
         "address": {"city": "Leeds"}}, "timestamp": "2026-03-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "Order Completed",
         "properties": {"revenue": 5}, "timestamp": "2026-03-02T00:00:00Z"},
        {"type": "identify", "userId": "u2", "traits": {"email": "bo@x.com"},
         "context": {"consent": {"categoryPreferences": {"marketing_email": True}}},
         "timestamp": "2026-03-02T00:00:00Z"},
        {"type": "page", "anonymousId": "a9", "timestamp": "2026-03-02T00:00:00Z"},
    ]
)  # fmt: skip
# Ann: contact, name, city, an order -> 3; Bo: an email -> 1; a9: anonymous -> 0
LEVELS = [1, 1, 0, 1, 0]


def _check(report: dict[str, Any]) -> None:
    assert report["profiles"] == 3
    assert [level["profiles"] for level in report["understanding"]["levels"]] == LEVELS
    assert report["traits"]["email"] == {
        "profiles": 2,
        "share": 0.6667,
        "by_source": {"app": {"profiles": 2, "share": 0.6667}},
    }
    assert report["consent"]["marketing_email"]["granted"]["profiles"] == 1
    assert report["computed_traits"]["orders_count"]["profiles"] == 1


def test_coverage_on_a_local_store_as_json_and_as_tables(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "events.jsonl").write_text(EVENTS)
    imported = kenning("import", "events.jsonl", "--source", "app", "--db", db, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    shown = kenning("coverage", "--db", db, "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    _check(orjson.loads(shown.stdout))
    table = kenning("coverage", "--db", db, cwd=tmp_path, env={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "3 profiles"
    assert any("transactional" in line and "33.3%" in line for line in lines)
    assert any("email" in line and "66.7%" in line and "app 66.7%" in line for line in lines)
    assert any("marketing_email" in line for line in lines)


def test_coverage_through_the_running_server(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "live.duckdb").start()
    try:
        env = {"KENNING_TOKEN": ADMIN_TOKEN}
        (tmp_path / "events.jsonl").write_text(EVENTS)
        imported = kenning(
            "import", "events.jsonl", "--source", "app", "--url", server.url, cwd=tmp_path, env=env
        )
        assert imported.returncode == 0, imported.stderr
        # the file is the server's: the CLI finds the server beside it
        shown = kenning("coverage", "--db", str(server.db), "--json", cwd=tmp_path, env=env)
        assert shown.returncode == 0, shown.stderr
        _check(orjson.loads(shown.stdout))
        refused = kenning(
            "coverage", "--url", server.url, cwd=tmp_path, env={"KENNING_TOKEN": "kn_nobody"}
        )
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            "error: unauthorized: unknown or revoked token"
        ]
    finally:
        server.stop()


def test_bad_input_is_one_line_and_a_failure(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "kenning.yaml").write_text(
        "profiles:\n  understanding:\n    behavioural: {trait: channels_used, at_least: -1}\n"
    )
    bad = kenning(
        "coverage", "--db", db, cwd=tmp_path, env={"KENNING_CONFIG": str(tmp_path / "kenning.yaml")}
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'kenning.yaml'}: profiles.understanding.behavioural.at_least must "
        "be a number above 0"
    ]
    unreachable = kenning("coverage", "--url", "http://127.0.0.1:9", "--token", "t", cwd=tmp_path)
    assert unreachable.returncode == 1
    lines = unreachable.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the server")
