"""``GET /v1/coverage`` against a live server of its own: the report equals a brute-force count
over every profile read through the Profile API; a reader may see it, a token without the
scope may not."""

from pathlib import Path
from typing import Any

import httpx
import orjson

from kenning.store.store import Store
from tests.api.test_profiles_api import reader
from tests.live import LiveServer
from tests.profiles.test_coverage import BRAND, brute_force, counts

OTHER_SCOPE_TOKEN = "kn_test_other_scope"


def test_the_report_over_http_equals_a_brute_force_count(tmp_path: Path) -> None:
    db = tmp_path / "kenning.duckdb"
    with Store.open(db) as store:
        # a token for some other scope (later capabilities will have their own)
        store.tokens.create("exporter", ["events:export"], token=OTHER_SCOPE_TOKEN)
    server = LiveServer(db).start()
    try:
        with server.admin() as admin:
            for name, messages in BRAND:
                key = server.create_source(name)
                with httpx.Client(base_url=server.url, auth=(key, ""), timeout=30) as collector:
                    for message in messages:  # one at a time, as they arrive
                        sent = collector.post("/v1/batch", json={"batch": [message]})
                        assert sent.status_code == 200
            assert admin.post("/v1/identity/households", json={}).status_code == 200
            rows = [
                orjson.loads(line)
                for line in admin.get(
                    "/v1/identities/export", params={"format": "jsonl"}
                ).content.splitlines()
            ]
            events = [
                orjson.loads(line) for line in admin.get("/v1/events/export").content.splitlines()
            ]
            with reader(server, admin) as client:
                answer = client.get("/v1/coverage")
                assert answer.status_code == 200
                report = answer.json()
                kinds = {
                    t["name"]: t["kind"]
                    for t in client.get("/v1/computed-traits").json()["computed_traits"]
                }

                def read(profile_id: int) -> dict[str, Any]:
                    found: dict[str, Any] = client.get(
                        f"/v1/profiles/profile_id:{profile_id}"
                    ).json()
                    return found

                assert counts(report) == brute_force(read, rows, events, kinds)
        assert report["households"]["sharing_a_household"]["profiles"] == 3
        assert sum(level["profiles"] for level in report["understanding"]["levels"]) == len(
            {row["profile_id"] for row in rows}
        )
        with httpx.Client(base_url=server.url, timeout=30) as anonymous:
            assert anonymous.get("/v1/coverage").status_code == 401
            other = anonymous.get(
                "/v1/coverage", headers={"Authorization": f"Bearer {OTHER_SCOPE_TOKEN}"}
            )
            assert other.status_code == 403
            assert other.json() == {
                "code": "forbidden",
                "message": "this token lacks the scope 'profiles:read'",
                "field": "Authorization",
            }
    finally:
        server.stop()
