"""Probabilistic matching over HTTP and through the CLI against a live server (FEBRL4)."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.identity.matching.febrl import load_febrl4
from tests.live import ADMIN_TOKEN, KENNING, LiveServer


@pytest.fixture(scope="module")
def febrl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path, _ = load_febrl4(tmp_path_factory.mktemp("febrl-server"))
    live = LiveServer(path).start()
    yield live
    live.stop()


def test_match_review_accept_and_reject_over_http(febrl_server: LiveServer) -> None:
    with febrl_server.admin() as admin:
        admin.timeout = httpx.Timeout(120)
        bad = admin.post(
            "/v1/identity/match", json={"match_probability": 0.9, "review_probability": 0.95}
        )
        assert bad.status_code == 400
        assert (bad.json()["code"], bad.json()["field"]) == (
            "invalid_thresholds",
            "review_probability",
        )
        report = admin.post("/v1/identity/match", json={}).json()
        assert report["records"] == 10_000 and report["merged"] > 4_000
        compared = {w["comparison"] for w in report["weights"]}
        assert {"address", "birthday"} <= compared  # the model's weights are reported
        pending = admin.get("/v1/identity/reviews").json()["reviews"]
        assert pending and all(r["status"] == "pending" for r in pending)
        accepted = admin.post(f"/v1/identity/reviews/{pending[0]['id']}/accept").json()
        assert accepted["merged"] and accepted["review"]["status"] == "accepted"
        again = admin.post(f"/v1/identity/reviews/{pending[0]['id']}/reject")
        assert again.status_code == 409 and again.json()["code"] == "already_decided"
        missing = admin.post("/v1/identity/reviews/999999/accept")
        assert missing.status_code == 404 and missing.json()["field"] == "review_id"
        unknown = admin.get("/v1/identity/reviews", params={"status": "maybe"})
        assert unknown.status_code in (400, 422)


def test_the_cli_matches_through_the_server(febrl_server: LiveServer, tmp_path: Path) -> None:
    base = [*KENNING, "identity"]
    remote = ["--url", febrl_server.url, "--token", ADMIN_TOKEN, "--json"]
    run = subprocess.run([*base, "match", *remote], capture_output=True, check=True)
    report = orjson.loads(run.stdout)
    assert report["records"] > 0 and "run_id" in report
    listed = subprocess.run(
        [*base, "reviews", "--status", "all", *remote], capture_output=True, check=True
    )
    assert isinstance(orjson.loads(listed.stdout), list)
    failed = subprocess.run([*base, "accept", "999999", *remote], capture_output=True)
    assert failed.returncode != 0 and b"no review 999999" in failed.stderr
