import socket
from collections.abc import Callable, Iterator

import pytest

from tests.activation.destinations.scripted import ScriptedServer, fake_getaddrinfo, running


@pytest.fixture()
def http_server() -> Iterator[ScriptedServer]:
    with running("127.0.0.1") as server:
        yield server


@pytest.fixture()
def resolver(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """Give made-up names answers: ``resolver("a.test", ["127.0.0.1"], ["127.0.0.2"])``;
    returns the list of names looked up, in order."""
    answers: dict[str, list[list[str]]] = {}
    asked: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo(socket.getaddrinfo, answers, asked))

    def give(name: str, *replies: list[str]) -> list[str]:
        answers[name] = list(replies)
        return asked

    return give
