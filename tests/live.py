"""A live Kenning server in a subprocess on a free loopback port, as users run it."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ADMIN_TOKEN = "kn_test_admin_token"
KENNING = [sys.executable, "-m", "kenning"]


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (exists and is not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_gone(pids: "set[int] | list[int]", seconds: float = 15) -> list[int]:
    """Wait up to ``seconds`` for the processes to end; the ones still running."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(running(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if running(pid)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    def __init__(
        self, db: Path, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.db = db
        self.env = env or {}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(".log")

    def start(self, timeout: float = 30) -> "LiveServer":
        # Destinations in tests listen on loopback, which a server refuses unless allowed.
        env = {
            **os.environ,
            "KENNING_ADMIN_TOKEN": ADMIN_TOKEN,
            "KENNING_ALLOW_PRIVATE_DESTINATIONS": "1",
            **self.env,
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*KENNING, "serve", "--db", str(self.db), "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )

    def create_source(self, name: str, **extra: Any) -> str:
        with self.admin() as client:
            response = client.post("/v1/sources", json={"name": name, **extra})
            response.raise_for_status()
            key: str = response.json()["write_key"]
            return key
