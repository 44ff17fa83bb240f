"""``kenning profile show`` and ``recompute``, on a local store and through a running server."""

from pathlib import Path

import orjson

from tests.cli.test_cli import kenning
from tests.live import ADMIN_TOKEN, LiveServer

EVENTS = (
    '{"type": "identify", "userId": "u1", "traits": {"email": "ann@x.com", "firstName": "Ann",'
    ' "address": {"city": "Leeds"}}, "timestamp": "2026-03-01T00:00:00Z"}\n'
    '{"type": "identify", "userId": "u1", "traits": {"address": {"city": "York"}},'
    ' "timestamp": "2026-03-02T00:00:00Z"}\n'
)


def test_profile_show_and_recompute_on_a_local_store(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "events.jsonl").write_text(EVENTS)
    assert (
        kenning("import", "events.jsonl", "--source", "app", "--db", db, cwd=tmp_path).returncode
        == 0
    )
    shown = kenning("profile", "show", "email:ann@x.com", "--db", db, "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert orjson.loads(shown.stdout)["traits"] == {
        "email": "ann@x.com",
        "firstName": "Ann",
        "address": {"city": "York"},
    }
    text = kenning("profile", "show", "user_id:u1", "--db", db, cwd=tmp_path)
    assert "address.city" in text.stdout and "York" in text.stdout
    needs = "understanding: level 2 (identified); the next level needs transactional_or_social"
    assert needs in text.stdout.splitlines()
    recomputed = kenning("profile", "recompute", "--db", db, "--json", cwd=tmp_path)
    assert orjson.loads(recomputed.stdout)["events_stating"] == 2
    again = kenning("profile", "show", "email:ann@x.com", "--db", db, "--json", cwd=tmp_path)
    assert orjson.loads(again.stdout) == orjson.loads(shown.stdout)
    unknown = kenning("profile", "show", "email:nobody@x.com", "--db", db, cwd=tmp_path)
    assert unknown.returncode == 1 and "no profile holds" in unknown.stderr


def test_profile_show_through_the_running_server(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "live.duckdb").start()
    try:
        env = {"KENNING_TOKEN": ADMIN_TOKEN}
        (tmp_path / "events.jsonl").write_text(EVENTS)
        imported = kenning(
            "import", "events.jsonl", "--source", "app", "--url", server.url, cwd=tmp_path, env=env
        )
        assert imported.returncode == 0, imported.stderr
        shown = kenning(
            "profile", "show", "user_id:u1", "--url", server.url, "--json", cwd=tmp_path, env=env
        )
        assert orjson.loads(shown.stdout)["traits"]["address"] == {"city": "York"}
        missing = kenning(
            "profile", "show", "user_id:nobody", "--url", server.url, cwd=tmp_path, env=env
        )
        assert missing.returncode == 1 and "no profile holds" in missing.stderr
    finally:
        server.stop()
