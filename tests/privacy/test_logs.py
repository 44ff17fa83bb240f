"""The server's log holds no personal data and no secret: after a session that stores,
refuses, quarantines, exports, fails deliveries and deletes, the log file is searched for
every email, phone, IP address, write key and token the session used."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.live import ADMIN_TOKEN, LiveServer, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("logs") / "kenning.duckdb").start()
    yield live
    live.stop()


def test_the_log_holds_no_pii_and_no_secret(server: LiveServer) -> None:
    tag = uuid.uuid4().hex[:8]
    email, phone, ip = f"log.{tag}@example.com", "+447700900123", "192.0.2.55"
    key = server.create_source(f"logged-{tag}")
    with server.admin() as admin, httpx.Client(base_url=server.url, auth=(key, "")) as shop:
        identify = {"type": "identify", "userId": f"u-{tag}", "context": {"ip": ip},
                    "traits": {"email": email, "phone": phone, "tag": tag}}  # fmt: skip
        assert shop.post("/v1/batch", json={"batch": [identify]}).status_code == 200
        # refused and quarantined messages carrying PII
        bad = {**identify, "timestamp": "yesterday-ish"}
        assert shop.post("/v1/batch", json={"batch": [bad]}).json()["rejected"]
        assert shop.post("/v1/identify", content=b'{"traits": {"email": "' + email.encode())
        assert (
            httpx.post(server.url + "/v1/track", json={"writeKey": "wrong-" + key}).status_code
            == 401
        )
        # a destination that cannot be reached, sent their traits
        audience = f"logged_{tag}"
        condition = {"condition": {"trait": "tag", "eq": tag}}
        assert admin.put(f"/v1/audiences/{audience}", json=condition).status_code == 200
        url, secret = f"http://127.0.0.1:{free_port()}/hook", f"whsec-{tag}-secret"
        hook = {"kind": "webhook", "config": {"url": url, "secret": secret},
                "audiences": [audience]}  # fmt: skip
        assert admin.put(f"/v1/destinations/hook_{tag}", json=hook).status_code == 200
        assert admin.post("/v1/audiences/evaluate").status_code in (200, 202)
        token = admin.post("/v1/tokens", json={"name": "reader", "scopes": ["profiles:read"]})
        reader_token = token.json()["token"]
        bearer = {"Authorization": f"Bearer {reader_token}"}
        with httpx.Client(base_url=server.url, headers=bearer) as reader:
            assert reader.get(f"/v1/profiles/email:{email}").status_code == 200
            assert reader.get(f"/v1/profiles/email:{email}/export").status_code == 403
        assert admin.get(f"/v1/profiles/email:{email}/export").status_code == 200
        assert admin.get("/v1/events/export").status_code == 200
        request = {"type": "DELETE", "identifiers": [f"email:{email}"]}
        deleted = admin.post("/v1/regulations", json=request)
        assert deleted.status_code == 202
    server.stop()
    log = server.log.read_text()
    assert log  # the server did write a log
    for held in (email, phone, "7700900123", ip, key, reader_token, ADMIN_TOKEN, secret):
        assert held not in log, f"the log holds {held!r}"
