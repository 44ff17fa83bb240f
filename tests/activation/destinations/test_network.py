import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest

from kenning.activation.destinations.base import DestinationContext
from kenning.activation.destinations.network import (
    AddressGuard,
    AddressNotAllowed,
    NameNotResolved,
    connect_checked,
    is_public,
)
from kenning.activation.destinations.webhook import Webhook
from tests.activation.destinations.make import delivery
from tests.activation.destinations.scripted import ScriptedServer, running

SECRET = "s3cret-of-at-least-16"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("10.0.0.1", False),  # private
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),  # loopback
        ("127.0.0.2", False),
        ("::1", False),
        ("169.254.169.254", False),  # link-local: cloud metadata services
        ("fe80::1", False),
        ("0.0.0.0", False),  # unspecified
        ("::", False),
        ("224.0.0.1", False),  # multicast
        ("ff02::1", False),
        ("240.0.0.1", False),  # reserved
        ("255.255.255.255", False),
        ("100.64.0.1", False),  # shared address space (CGNAT)
        ("192.0.2.1", False),  # documentation
        ("198.18.0.1", False),  # benchmarking
        ("fc00::1", False),  # unique local
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:10.1.2.3", False),
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def _send(url: str, context: DestinationContext) -> tuple[str, str]:
    destination = Webhook("t", {"url": url, "secret": SECRET, "timeout_seconds": 1}, context)
    try:
        [outcome] = destination.send_many([delivery()])
    finally:
        destination.close()
    return outcome.status, outcome.detail


def test_loopback_is_refused_by_default_and_allowed_on_request(
    http_server: ScriptedServer,
) -> None:
    assert _send(http_server.url, DestinationContext()) == ("failed", "address not allowed")
    assert http_server.requests == []
    assert _send(http_server.url, DestinationContext(allow_private=True))[0] == "delivered"
    assert len(http_server.requests) == 1


def test_a_name_that_resolves_to_loopback_is_refused(http_server: ScriptedServer) -> None:
    url = f"http://localhost:{http_server.port}/"
    assert _send(url, DestinationContext()) == ("failed", "address not allowed")
    assert http_server.requests == []


def test_ipv6_loopback_is_refused() -> None:
    with running("::1") as server:
        assert _send(server.url, DestinationContext()) == ("failed", "address not allowed")
        allowed = DestinationContext(allowed_networks=("::1/128",))
        assert _send(server.url, allowed)[0] == "delivered"


def test_allowed_networks_allow_exactly_those_addresses() -> None:
    only_first = DestinationContext(allowed_networks=("127.0.0.1/32",))
    with running("127.0.0.1") as first, running("127.0.0.2") as second:
        assert _send(first.url, only_first)[0] == "delivered"
        assert _send(second.url, only_first) == ("failed", "address not allowed")
        assert second.requests == []


def test_every_address_of_a_name_is_checked(
    resolver: Callable[..., list[str]], http_server: ScriptedServer
) -> None:
    resolver("mixed.test", ["127.0.0.1", "127.0.0.2"])
    only_first = DestinationContext(allowed_networks=("127.0.0.1/32",))
    url = f"http://mixed.test:{http_server.port}/"
    assert _send(url, only_first) == ("failed", "address not allowed")
    assert http_server.requests == []


def test_the_checked_address_is_the_one_connected_to(
    resolver: Callable[..., list[str]],
) -> None:
    """A rebinding resolver answers an allowed address first and a refused one after: the
    request still goes to the first, because the name is resolved once per connection."""
    only_first = DestinationContext(allowed_networks=("127.0.0.1/32",))
    # Both on one port, so a connection to the second address would land, not be refused.
    with running("127.0.0.1") as allowed, running("127.0.0.2", allowed.port) as refused:
        asked = resolver("rebind.test", ["127.0.0.1"], ["127.0.0.2"])
        url = f"http://rebind.test:{allowed.port}/in"
        assert _send(url, only_first)[0] == "delivered"
        assert asked == ["rebind.test"]
        [request] = allowed.requests
        assert request.headers["host"] == f"rebind.test:{allowed.port}"
        assert refused.requests == []


def test_a_name_that_does_not_resolve_is_retried(resolver: Callable[..., list[str]]) -> None:
    resolver("gone.test", [])
    assert _send("http://gone.test/", DestinationContext()) == ("retry", "name did not resolve")


def test_connect_checked_refuses_and_connects(
    resolver: Callable[..., list[str]], http_server: ScriptedServer
) -> None:
    guard = AddressGuard(DestinationContext())
    with pytest.raises(AddressNotAllowed):
        connect_checked(guard, "127.0.0.1", http_server.port, 1)
    resolver("gone.test", [])
    with pytest.raises(NameNotResolved):
        connect_checked(guard, "gone.test", 80, 1)
    allowed = AddressGuard(DestinationContext(allow_private=True))
    with connect_checked(allowed, "localhost", http_server.port, 1) as sock:
        peer: Any = sock.getpeername()
        assert peer[0] == "127.0.0.1"
        assert sock.family == socket.AF_INET
