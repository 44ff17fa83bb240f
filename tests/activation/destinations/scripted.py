"""A real HTTP server on a loopback address that answers from a script, and a resolver stand-in.

Each request takes the next reply of the script (the last one repeats) and is recorded with
its headers and body, so a test can assert what a destination sent and what it made of each
answer: ``[500, 500, 200]``, ``[400]``, a 429 with Retry-After, a redirect, or a reply held
back until the client gives up.
"""

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    # Hold the answer until the server stops (the client's timeout fires first).
    hang: bool = False


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


class ScriptedServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.requests: list[Received] = []
        self._script: list[Reply] = [Reply()]
        self._lock = threading.Lock()
        self._release = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family})
        self._server = server_class((host, port), self._handler())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def script(self, *replies: Reply | int) -> None:
        with self._lock:
            self._script = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def _next(self) -> Reply:
        with self._lock:
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, the second waits for the
            # client's delayed ACK (40 ms a request on loopback).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer._lock:
                    outer.requests.append(Received("POST", self.path, headers, body))
                reply = outer._next()
                if reply.hang:
                    outer._release.wait(10)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def running(host: str = "127.0.0.1", port: int = 0) -> Iterator[ScriptedServer]:
    server = ScriptedServer(host, port).start()
    try:
        yield server
    finally:
        server.stop()


def fake_getaddrinfo(
    real: Callable[..., Any], answers: dict[str, list[list[str]]], asked: list[str]
) -> Callable[..., Any]:
    """A resolver for made-up names (``*.test``): each lookup of a name takes its next answer
    (the last repeats), as a hostile DNS server would; other names go to the real resolver."""

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        queue = answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port), 0, 0) if ":" in address else (address, int(port))
            infos.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return infos

    return getaddrinfo
