"""``kenning privacy`` on a local store and through a running server: a person exported,
checked, deleted and checked again; suppression; the audit log; bad input as one line."""

from pathlib import Path

import orjson

from tests.cli.test_cli import kenning
from tests.live import ADMIN_TOKEN, LiveServer

EVENTS = "".join(
    orjson.dumps(message).decode() + "\n"
    for message in [
        {"type": "identify", "userId": "u1", "traits": {"email": "ann@x.com"},
         "timestamp": "2026-03-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "Order Completed",
         "properties": {"revenue": 5}, "timestamp": "2026-03-02T00:00:00Z"},
        {"type": "identify", "userId": "u2", "traits": {"email": "bo@x.com"},
         "timestamp": "2026-03-02T00:00:00Z"},
    ]
)  # fmt: skip


def _person_lifecycle(tmp_path: Path, *where: str, env: dict[str, str] | None = None) -> None:
    exported = kenning("privacy", "export", "email:ann@x.com", *where, cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    document = orjson.loads(exported.stdout)
    assert [e["type"] for e in document["events"]] == ["identify", "track"]
    found = kenning("privacy", "verify", "email:ANN@x.com", *where, cwd=tmp_path, env=env)
    assert found.returncode == 1 and "__kenning_events.payload" in found.stdout
    deleted = kenning("privacy", "delete", "email:ann@x.com", "--suppress", "--json", *where,
                      cwd=tmp_path, env=env)  # fmt: skip
    assert deleted.returncode == 0, deleted.stderr
    receipt = orjson.loads(deleted.stdout)["receipt"]
    assert receipt["traces_left"] == 0 and receipt["rows"]["__kenning_events"] == 2
    assert receipt["suppressed"] == 2  # the email and the user id
    clean = kenning("privacy", "verify", "email:ann@x.com", "user_id:u1", *where, cwd=tmp_path,
                    env=env)  # fmt: skip
    assert clean.returncode == 0 and "no trace" in clean.stdout
    kept = kenning("privacy", "export", "email:bo@x.com", *where, cwd=tmp_path, env=env)
    assert kept.returncode == 0  # nobody else is touched
    listed = kenning("privacy", "regulations", "--json", *where, cwd=tmp_path, env=env)
    assert next(r["type"] for r in orjson.loads(listed.stdout)) == "SUPPRESS_WITH_DELETE"
    assert "ann@x.com" not in listed.stdout
    bad = kenning("privacy", "delete", "ann@x.com", *where, cwd=tmp_path, env=env)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "TYPE:VALUE" in bad.stderr


def test_a_person_is_exported_deleted_and_verified_on_a_local_store(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "events.jsonl").write_text(EVENTS)
    imported = kenning("import", "events.jsonl", "--source", "app", "--db", db, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    _person_lifecycle(tmp_path, "--db", db)
    again = kenning("import", "events.jsonl", "--source", "app", "--db", db, cwd=tmp_path)
    assert again.returncode == 0  # suppressed: ann's events are refused, bo's are duplicates
    found = kenning("privacy", "verify", "email:ann@x.com", "--db", db, cwd=tmp_path)
    assert found.returncode == 0, found.stdout
    audit = kenning("privacy", "audit", "--json", "--db", db, cwd=tmp_path)
    assert audit.returncode == 0
    # retention: bo's event, from March, is older than the 30 days the source now keeps
    kept = kenning("sources", "retention", "app", "30", "--db", db, cwd=tmp_path)
    assert kept.returncode == 0 and "30 days" in kept.stdout
    expired = kenning("privacy", "retention", "--json", "--db", db, cwd=tmp_path)
    assert orjson.loads(expired.stdout)["events_deleted"] == 1
    assert '"events":0' in kenning("stats", "--db", db, "--json", cwd=tmp_path).stdout.replace(
        " ", ""
    )
    unknown = kenning("sources", "retention", "nope", "3", "--db", db, cwd=tmp_path)
    assert unknown.returncode == 1 and "no source named 'nope'" in unknown.stderr


def test_a_person_is_deleted_through_the_running_server(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "live.duckdb").start()
    try:
        env = {"KENNING_TOKEN": ADMIN_TOKEN}
        (tmp_path / "events.jsonl").write_text(EVENTS)
        imported = kenning("import", "events.jsonl", "--source", "app", "--url", server.url,
                           cwd=tmp_path, env=env)  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        _person_lifecycle(tmp_path, "--url", server.url, env=env)
        audit = kenning("privacy", "audit", "--action", "regulation.", "--json", "--url",
                        server.url, cwd=tmp_path, env=env)  # fmt: skip
        entries = orjson.loads(audit.stdout)
        assert [e["action"] for e in entries] == ["regulation.suppress_with_delete"]
    finally:
        server.stop()
