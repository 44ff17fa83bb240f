"""A webhook receiver on loopback: records when each delivery arrived, and answers 200 at once.

A threaded ``http.server`` (HTTP/1.1, keep-alive), as a customer's endpoint would be: the
time is taken when the whole body has been read, before anything else is done with it. The
first arrival of each idempotency key counts; a retry of the same key (at least once) is
counted as a repeat.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Arrival:
    at: float  # time.time() when the body was read
    key: str
    kind: str  # audience, message, event
    profile_id: int | None
    data: dict[str, Any]


class Received:
    """What arrived, first arrival per idempotency key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Arrival] = {}
        self.repeats = 0

    def add(self, arrival: Arrival) -> None:
        with self._lock:
            if arrival.key in self._by_key:
                self.repeats += 1
            else:
                self._by_key[arrival.key] = arrival

    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._by_key.values())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: Received

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        at = time.time()
        envelope = orjson.loads(body)
        profile = envelope.get("profile_id")
        self.received.add(
            Arrival(
                at=at,
                key=self.headers.get("Idempotency-Key") or str(envelope.get("id")),
                kind=str(envelope.get("kind")),
                profile_id=None if profile is None else int(profile),
                data=envelope.get("data") or {},
            )
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def receiving() -> Iterator[tuple[str, Received]]:
    """A receiver on a free loopback port: its URL and what it received."""
    received = Received()
    handler = type("Handler", (_Handler,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="bench-receiver", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
