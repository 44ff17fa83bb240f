import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kenning.store.store import Store
from tests.live import LiveServer

_names = itertools.count()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("server") / "kenning.duckdb").start()
    yield live
    live.stop()


@pytest.fixture()
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.admin() as client:
        yield client


@dataclass(frozen=True)
class SourceUnderTest:
    name: str
    write_key: str


@pytest.fixture()
def source(server: LiveServer) -> SourceUnderTest:
    """A fresh source per test, so tests never see each other's events."""
    name = f"test-{next(_names)}"
    return SourceUnderTest(name, server.create_source(name))


@pytest.fixture()
def collector(server: LiveServer, source: SourceUnderTest) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, auth=(source.write_key, ""), timeout=30) as client:
        yield client


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "kenning.duckdb") as opened:
        yield opened


@pytest.fixture()
def stored(admin: httpx.Client, source: SourceUnderTest) -> Callable[[], list[dict[str, Any]]]:
    """The stored events of the test's source, read back through the export endpoint."""

    def fetch() -> list[dict[str, Any]]:
        response = admin.get("/v1/events/export", params={"source": source.name})
        response.raise_for_status()
        return [orjson.loads(line) for line in response.content.splitlines() if line]

    return fetch


@pytest.fixture()
def quarantined(
    admin: httpx.Client, source: SourceUnderTest, server: LiveServer
) -> Callable[[], list[dict[str, Any]]]:
    """The pending quarantine rows of the test's source."""

    def fetch() -> list[dict[str, Any]]:
        response = admin.get("/v1/quarantine", params={"status": "all", "limit": 10_000})
        response.raise_for_status()
        sources = {s["name"]: s["id"] for s in admin.get("/v1/sources").json()["sources"]}
        items: list[dict[str, Any]] = response.json()["items"]
        return [i for i in items if i["source_id"] == sources[source.name]]

    return fetch
