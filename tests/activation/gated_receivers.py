"""Receivers on loopback (a webhook endpoint and an SMTP server) behind one gate the test opens
and closes, so that it knows which consent every accepted delivery was checked against.

While the gate is closed every attempt is refused with a temporary error (HTTP 503, SMTP 451):
Kenning keeps the delivery and tries again. Once the test has stated everything a phase
states, it opens the gate, and each delivery is accepted on its **second** attempt in that
phase, never its first: the sender checks consent right before each attempt, so a first
attempt may have been checked before the test's last statement and still reach a gate just
opened; a retry is checked only after its previous attempt was answered, which was after the
gate opened. So whatever a phase accepted was checked on the state the test had stated before
opening it, and before it states anything more (it closes the gate first).
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from aiosmtpd.controller import Controller

from tests.live import free_port


@dataclass(frozen=True)
class Accepted:
    """A delivery a receiver accepted, in the phase it was accepted in."""

    phase: int
    key: str  # the webhook's Idempotency-Key, or the email's Message-ID
    body: Any  # the webhook's envelope, or the email


class Gate:
    """Closed: every attempt is refused. Open (in a new phase): a delivery's first attempt is
    refused, its next accepted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phase = 0
        self._open = False
        self._refused_while_open: set[str] = set()
        self._accepted: list[Accepted] = []

    def close(self) -> None:
        with self._lock:
            self._open = False

    def open(self) -> int:
        """Open in a new phase; returns the phase."""
        with self._lock:
            self._phase += 1
            self._open = True
            self._refused_while_open = set()
            return self._phase

    def admit(self, key: str, body: Any) -> bool:
        with self._lock:
            if not self._open:
                return False
            if key not in self._refused_while_open:
                self._refused_while_open.add(key)
                return False
            self._accepted.append(Accepted(self._phase, key, body))
            return True

    def accepted(self, phase: int) -> list[Accepted]:
        with self._lock:
            return [a for a in self._accepted if a.phase == phase]


class _WebhookHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the second waits for the
    # client's delayed ACK.
    disable_nagle_algorithm = True
    gate: Gate

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        envelope = orjson.loads(body)
        status = 200 if self.gate.admit(str(envelope["id"]), envelope) else 503
        answer = b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def gated_webhook(gate: Gate) -> Iterator[str]:
    """A webhook endpoint behind ``gate``; yields its URL."""
    handler = type("Handler", (_WebhookHandler,), {"gate": gate})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/consent"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class _GatedMailbox:
    """An aiosmtpd handler: the gate decides at DATA, when the Message-ID is known."""

    gate: Gate

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook names)
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        parsed = message_from_bytes(envelope.content, policy=email_policy.default)
        assert isinstance(parsed, EmailMessage)
        if self.gate.admit(str(parsed["Message-ID"]), parsed):
            return "250 Message accepted"
        return "451 4.3.0 Held back by the test"


@contextmanager
def gated_smtp(gate: Gate) -> Iterator[int]:
    """An SMTP server on loopback behind ``gate``; yields its port."""
    port = free_port()
    controller = Controller(_GatedMailbox(gate), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
