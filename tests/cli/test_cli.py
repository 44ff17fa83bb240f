"""The ``kenning`` command, run as a user runs it: on the store file, and through a server."""

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.live import ADMIN_TOKEN, LiveServer


def kenning(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kenning", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


CUSTOMERS = "customer_id,first_name,email,spend\nC1,Ann,ann@example.com,10.5\nC2,Bob,,3\n"


def test_local_store_sources_import_twice_stats_export(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    created = kenning("sources", "create", "web", "--db", db, "--json", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert orjson.loads(created.stdout)["name"] == "web"

    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    args = (
        "import",
        "customers.csv",
        "--source",
        "crm",
        "--kind",
        "customers",
        "--id-column",
        "customer_id",
        "--db",
        db,
        "--json",
    )
    first = kenning(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert orjson.loads(first.stdout) == {"rows": 2, "stored": 2, "duplicates": 0, "rejected": 0}
    second = kenning(*args, cwd=tmp_path)
    assert orjson.loads(second.stdout) == {"rows": 2, "stored": 0, "duplicates": 2, "rejected": 0}

    stats = orjson.loads(kenning("stats", "--db", db, "--json", cwd=tmp_path).stdout)
    assert (stats["events"], stats["sources"]) == (2, 2)

    exported = kenning("export", "events", "--db", db, cwd=tmp_path)
    rows = [orjson.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(r["payload"]["traits"]["first_name"] for r in rows) == ["Ann", "Bob"]
    assert rows[0]["payload"]["context"]["externalIds"][0]["type"] == "crm_id"

    parquet = kenning(
        "export", "events", "--format", "parquet", "--out", "e.parquet", "--db", db, cwd=tmp_path
    )
    assert parquet.returncode == 0 and "exported 2 events" in parquet.stderr


def test_commands_go_through_the_running_server(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "live.duckdb").start()
    try:
        env = {"KENNING_TOKEN": ADMIN_TOKEN}
        db = str(server.db)
        # The file is locked by the server: the CLI finds the server beside it.
        created = kenning("sources", "create", "app", "--db", db, "--json", cwd=tmp_path, env=env)
        assert created.returncode == 0, created.stderr
        (tmp_path / "customers.csv").write_text(CUSTOMERS)
        imported = kenning(
            "import",
            "customers.csv",
            "--source",
            "crm",
            "--kind",
            "customers",
            "--id-column",
            "customer_id",
            "--url",
            server.url,
            "--json",
            cwd=tmp_path,
            env=env,
        )
        assert orjson.loads(imported.stdout)["stored"] == 2
        with server.admin() as admin:
            assert admin.get("/v1/stats").json()["events"] == 2
            write_key = created and orjson.loads(created.stdout)["write_key"]
        import httpx

        httpx.post(server.url + "/v1/track", json={"event": "no id"}, auth=(write_key, ""))
        listed = kenning("quarantine", "list", "--db", db, "--json", cwd=tmp_path, env=env)
        [item] = orjson.loads(listed.stdout)
        assert item["code"] == "missing_identity"
        replay = kenning("quarantine", "replay", "--db", db, "--json", cwd=tmp_path, env=env)
        assert orjson.loads(replay.stdout)["still_invalid"] == 1

        no_token = kenning(
            "stats",
            "--url",
            server.url,
            cwd=tmp_path,
            env={"KENNING_TOKEN": "", "KENNING_ADMIN_TOKEN": ""},
        )
        assert no_token.returncode == 1
        assert "pass --token" in no_token.stderr
    finally:
        server.stop()


def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    cases = [
        (("import", "absent.csv", "--source", "s", "--db", db), "absent.csv does not exist"),
        (
            ("import", "x.csv", "--source", "s", "--kind", "people", "--db", db),
            "--kind must be one of",
        ),
        (("export", "events", "--since", "last week", "--db", db), "not an ISO 8601"),
        (("stats", "--url", "http://127.0.0.1:9", "--token", "t"), "cannot reach the server"),
    ]
    (tmp_path / "x.csv").write_text("a\n1\n")
    for args, expected in cases:
        result = kenning(*args, cwd=tmp_path)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], result.stderr
        assert "Traceback" not in result.stderr


def test_identity_explain_and_export(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "events.jsonl").write_text(
        '{"type": "identify", "userId": "u1", "anonymousId": "a1", "event": "x"}\n'
        '{"type": "identify", "anonymousId": "a1", "traits": {"email": "e@x.com"}}\n'
    )
    imported = kenning("import", "events.jsonl", "--source", "app", "--db", db, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    result = kenning(
        "identity", "explain", "email:e@x.com", "user_id:u1", "--db", db, "--json", cwd=tmp_path
    )
    assert orjson.loads(result.stdout)["joined"] is True
    text = kenning("identity", "explain", "email:e@x.com", "user_id:u1", "--db", db, cwd=tmp_path)
    assert "are one profile" in text.stdout
    bad = kenning("identity", "explain", "nocolon", "user_id:u1", "--db", db, cwd=tmp_path)
    assert bad.returncode == 1 and "is not TYPE:VALUE" in bad.stderr
    exported = kenning("export", "identities", "--db", db, cwd=tmp_path)
    assert exported.stdout.splitlines()[0] == "profile_id,type,value,source,first_seen"
    assert len(exported.stdout.splitlines()) == 4
    (tmp_path / "truth.csv").write_text("identifier,person_id\nemail:e@x.com,p\nuser_id:u1,p\n")
    scored = kenning(
        "identity", "evaluate", "--truth", "truth.csv", "--ceiling", "--db", db, cwd=tmp_path
    )
    assert scored.returncode == 0, scored.stderr
    assert "pairwise (evidence ceiling)" in scored.stdout
    assert "clusters in the evidence ceiling: 1 " in scored.stdout
    figures = orjson.loads(
        kenning(
            "identity",
            "evaluate",
            "--truth",
            "truth.csv",
            "--ceiling",
            "--json",
            "--db",
            db,
            cwd=tmp_path,
        ).stdout
    )
    assert figures["ceiling"]["pairwise_recall"] == figures["pairwise_recall"] == 1.0


def test_identity_detach_overrides_and_lift(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "events.jsonl").write_text(
        '{"type": "page", "anonymousId": "a1", "context": {"traits": {"email": "f@x.com"}}}\n'
        '{"type": "page", "anonymousId": "a2", "context": {"traits": {"email": "f@x.com"}}}\n'
    )
    kenning("import", "events.jsonl", "--source", "web", "--db", db, cwd=tmp_path)
    pair = ("anonymous_id:a1", "anonymous_id:a2")
    detached = kenning(
        "identity", "detach", "email:F@x.com", "--reason", "shared", "--db", db, cwd=tmp_path
    )
    assert detached.returncode == 0, detached.stderr
    assert "override 1 (detach)" in detached.stdout and "1 -> 2 profiles" in detached.stdout
    apart = kenning("identity", "explain", *pair, "--db", db, "--json", cwd=tmp_path)
    assert orjson.loads(apart.stdout)["joined"] is False
    why = kenning("identity", "explain", "email:f@x.com", pair[0], "--db", db, cwd=tmp_path)
    assert "override 1: detach email:f@x.com" in why.stdout
    listed = kenning("identity", "overrides", "--db", db, "--json", cwd=tmp_path)
    assert [(o["kind"], o["a"], o["reason"]) for o in orjson.loads(listed.stdout)] == [
        ("detach", "email:f@x.com", "shared")
    ]
    lifted = kenning("identity", "lift", "1", "--db", db, cwd=tmp_path)
    assert lifted.returncode == 0 and "2 -> 1 profiles" in lifted.stdout
    again = kenning("identity", "lift", "1", "--db", db, cwd=tmp_path)
    assert again.returncode == 1 and "no active override 1" in again.stderr
    bad = kenning(
        "identity", "never-join", "email:a@x.com", "email:A@x.com", "--db", db, cwd=tmp_path
    )
    assert bad.returncode == 1 and "cannot be kept apart from itself" in bad.stderr


def test_config_file_phone_region_stitches_national_numbers(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "kenning.yaml").write_text("identity:\n  phone_region: GB\n")
    (tmp_path / "calls.jsonl").write_text(
        '{"type": "identify", "userId": "u1", "traits": {"phone": "+44 7700 900123"}}\n'
        '{"type": "track", "anonymousId": "call-1", "event": "Call Completed",'
        ' "context": {"traits": {"phone": "07700900123"}}}\n'
    )
    env = {"KENNING_CONFIG": str(tmp_path / "kenning.yaml")}
    kenning("import", "calls.jsonl", "--source", "calls", "--db", db, cwd=tmp_path, env=env)
    result = kenning(
        "identity",
        "explain",
        "anonymous_id:call-1",
        "user_id:u1",
        "--db",
        db,
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert orjson.loads(result.stdout)["joined"] is True
    bad = kenning("stats", "--db", db, cwd=tmp_path, env={"KENNING_CONFIG": "/nonexistent.yaml"})
    assert bad.returncode == 1 and "cannot read /nonexistent.yaml" in bad.stderr
