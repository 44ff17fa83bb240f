"""Deletion without a trace, end to end: a person spread over every part of Kenning (events on
two devices merged into one profile, traits, consent, computed traits, an audience, a file
export, predictions, a quarantined message, another person's event naming them) is deleted by
a regulation request; then the server is stopped and every column of every table of the
store's file, and every exported file, is searched for anything of theirs, by SQL written
here, not by the code under test."""

import csv
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from tests.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("deletion") / "kenning.duckdb").start()
    yield live
    live.stop()


def _until(check: Any, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    return check()


def _everything(email: str, user: str, device: str, tag: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)

    def at(days: float) -> str:
        return (now - timedelta(days=days)).isoformat()

    grant = {"consent": {"categoryPreferences": {"personalisation": True, "analytics": True}}}
    return [
        # first on a phone, signed in; then on a laptop, where signing in merges the two
        {"type": "identify", "anonymousId": f"{device}-phone", "userId": user,
         "timestamp": at(31), "messageId": f"{tag}-0"},
        {"type": "page", "anonymousId": device, "name": "Home", "timestamp": at(30),
         "messageId": f"{tag}-1", "context": {"ip": "198.51.100.7"}},
        {"type": "identify", "anonymousId": device, "userId": user, "timestamp": at(29),
         "messageId": f"{tag}-2", "context": grant,
         "traits": {"email": email, "firstName": "Grace", "tag": tag}},
        *[{"type": "track", "userId": user, "event": "Order Completed", "timestamp": at(d),
           "messageId": f"{tag}-o{d}", "properties": {"revenue": 20 + d}}
          for d in (28, 20, 10, 3)],
        # someone else's event that names them (a referral)
        {"type": "track", "userId": f"friend-{tag}", "event": "Referred", "timestamp": at(2),
         "messageId": f"{tag}-ref", "properties": {"referred_email": email}},
    ]  # fmt: skip


def test_a_deleted_person_leaves_no_trace(server: LiveServer, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    email, user, device = f"grace.{tag}@example.com", f"grace-{tag}", f"device-{tag}"
    friend = f"friend-{tag}"
    write_key = server.create_source(f"shop-{tag}")
    exports = server.db.parent / f"exports-{tag}"
    with (
        server.admin() as admin,
        httpx.Client(base_url=server.url, auth=(write_key, ""), timeout=30) as shop,
    ):
        audience = f"buyers_{tag}"
        assert (
            admin.put(
                f"/v1/audiences/{audience}", json={"condition": {"trait": "tag", "eq": tag}}
            ).status_code
            == 200
        )
        assert admin.put(f"/v1/destinations/files_{tag}", json={
            "kind": "file", "config": {"folder": exports.name, "format": "csv"},
            "audiences": [audience]}).status_code == 200  # fmt: skip
        batch = _everything(email, user, device, tag)
        assert shop.post("/v1/batch", json={"batch": batch}).json()["accepted"] == len(batch)
        # a message that could not be stored, naming them: quarantined with their email
        bad = {"type": "identify", "userId": user, "timestamp": "not a time",
               "traits": {"email": email}}  # fmt: skip
        assert shop.post("/v1/batch", json={"batch": [bad]}).json()["rejected"]
        person = _until(
            lambda: (
                admin.get(f"/v1/profiles/email:{email}").json()
                if admin.get(f"/v1/audiences/{audience}").json()["size"] == 1
                else None
            )
        )
        profile_id = person["profile_id"]
        assert {i["type"] for i in person["identities"]} >= {"email", "user_id", "anonymous_id"}
        assert admin.post(f"/v1/destinations/files_{tag}/snapshot").status_code == 200
        ran = admin.post("/v1/predictions/run", json={"models": ["rfm", "lifecycle"]})
        assert ran.status_code == 200, ran.text
        assert admin.get(f"/v1/profiles/email:{email}").json()["predictions"]
        assert any(email in p.read_text() for p in exports.rglob("*.csv"))  # it was exported

        asked = admin.post(
            "/v1/regulations",
            json={"type": "SUPPRESS_WITH_DELETE", "identifiers": [f"email:{email}"]},
        )
        assert asked.status_code == 202, asked.text
        done = _until(lambda: (r := admin.get(f"/v1/regulations/{asked.json()['id']}").json())
                      ["status"] != "running" and r)  # fmt: skip
        assert done["status"] == "finished", done
        receipt = done["receipt"]
        assert receipt["traces_left"] == 0 and receipt["profiles"] == 2  # device merged in
        assert receipt["rows"]["__kenning_events"] == len(batch)  # the referral too
        assert receipt["files_rewritten"] >= 1
        assert email not in str(done) and user not in str(done)  # the receipt names nobody
        assert admin.get(f"/v1/profiles/email:{email}").status_code == 404
        assert admin.get(f"/v1/profiles/user_id:{user}").status_code == 404
        assert admin.get(f"/v1/profiles/user_id:{friend}").status_code == 200  # others stay
        verified = admin.post("/v1/privacy/verify", json={"identifiers": [
            f"email:{email}", f"user_id:{user}", f"anonymous_id:{device}"]}).json()  # fmt: skip
        assert verified == {"identifiers": 3, "traces": [], "clean": True}
        # suppressed: their next event is not stored
        again = shop.post("/v1/batch", json={"batch": [
            {"type": "track", "userId": user, "event": "Back"}]}).json()  # fmt: skip
        assert again["suppressed"] == 1
    server.stop()

    needles = [email, user, device, "198.51.100.7", *(e["messageId"] for e in batch)]
    assert f"{device}-phone".startswith(device)  # the phone's id is found through the laptop's
    con = duckdb.connect(str(server.db), read_only=True)
    try:
        found = _scan(con, needles, profile_id)
    finally:
        con.close()
    assert found == []
    for path in exports.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not [n for n in needles if n in text], path
            with path.open(newline="") as opened:
                assert all(r["profile_id"] != str(profile_id) for r in csv.DictReader(opened))


def _scan(con: duckdb.DuckDBPyConnection, needles: list[str], profile_id: int) -> list[str]:
    """Every (table, column) holding a needle in its text, or the profile's number in a column
    that names profiles; the audit log may name the number (never an identifier)."""
    found = []
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    for (table,) in tables:
        columns = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
            "AND database_name = current_database()", [table]
        ).fetchall()  # fmt: skip
        for (column,) in columns:
            text = f'lower(CAST("{column}" AS VARCHAR))'
            for needle in needles:
                hits = con.execute(
                    f'SELECT count(*) FROM "{table}" WHERE contains({text}, ?)', [needle.lower()]
                ).fetchone()
                if hits and hits[0]:
                    found.append(f"{table}.{column}: {needle}")
            names_profiles = column in ("profile_id", "canonical_id", "kept", "merged")
            if names_profiles and table != "__kenning_audit":
                hits = con.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}" = ?', [profile_id]
                ).fetchone()
                if hits and hits[0]:
                    found.append(f"{table}.{column}: profile {profile_id}")
    return found
