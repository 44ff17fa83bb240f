"""The benchmark's side of the privacy API: an officer with a ``privacy:admin`` token, and a
source sending events with its write key, both on keep-alive connections."""

import base64
import time
from collections.abc import Sequence
from typing import Any

import httpx

from bench.ingest.run import TOKEN

# Polling a running deletion: often enough to time it to a few tens of milliseconds, far below
# the API's 100 requests a second per token.
POLL_SECONDS = 0.05
# A deletion holds the writer, and a batch sent meanwhile waits for it.
SLOW_SECONDS = 3_600.0


class PrivacyApi:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        admin = {"Authorization": f"Bearer {TOKEN}"}
        made = httpx.post(
            self.base + "/v1/tokens",
            json={"name": "bench-privacy-officer", "scopes": ["privacy:admin"]},
            headers=admin,
            timeout=60,
        )
        made.raise_for_status()
        source = httpx.post(
            self.base + "/v1/sources", json={"name": "bench-privacy"}, headers=admin, timeout=60
        )
        source.raise_for_status()
        self.write_key: str = source.json()["write_key"]
        self.officer = httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {made.json()['token']}"},
            timeout=SLOW_SECONDS,
        )
        self.collector = self.new_collector()

    def new_collector(self) -> httpx.Client:
        """A client of its own for the source (one per thread)."""
        return httpx.Client(base_url=self.base, auth=(self.write_key, ""), timeout=SLOW_SECONDS)

    @property
    def basic_auth(self) -> str:
        """The write key as an ``Authorization`` header value (for wrk)."""
        return "Basic " + base64.b64encode(f"{self.write_key}:".encode()).decode()

    def close(self) -> None:
        self.officer.close()
        self.collector.close()

    def health(self) -> None:
        self.collector.get("/health").raise_for_status()

    def regulation(self, kind: str, identifiers: Sequence[str]) -> dict[str, Any]:
        """Ask for a regulation; its status as answered (202)."""
        answer = self.officer.post(
            "/v1/regulations", json={"type": kind, "identifiers": list(identifiers)}
        )
        if answer.status_code != 202:
            raise RuntimeError(f"{kind} answered {answer.status_code}: {answer.text}")
        status: dict[str, Any] = answer.json()
        return status

    def finished(self, regulation_id: str) -> dict[str, Any]:
        """Poll a regulation until it is no longer running; its last status."""
        while True:
            status: dict[str, Any] = (
                self.officer.get(f"/v1/regulations/{regulation_id}").raise_for_status().json()
            )
            if status["status"] != "running":
                return status
            time.sleep(POLL_SECONDS)

    def batch(self, messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
        answer: dict[str, Any] = (
            self.collector.post("/v1/batch", json={"batch": list(messages)})
            .raise_for_status()
            .json()
        )
        return answer

    def verify(self, identifiers: Sequence[str]) -> dict[str, Any]:
        answer: dict[str, Any] = (
            self.officer.post("/v1/privacy/verify", json={"identifiers": list(identifiers)})
            .raise_for_status()
            .json()
        )
        return answer
