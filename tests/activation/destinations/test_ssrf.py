"""Every outbound kind refuses every address that is not the public internet's, whether named
by its address, spelled another way, reached through a name, or through a redirect.

A tripwire stands in front of the socket layer: a connection that the guard let through is
recorded and refused there, so a broken guard fails these tests without a packet leaving for
a private or metadata address.
"""

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest

from kenning.activation.destinations.base import DestinationContext, Outcome
from kenning.activation.destinations.segment import SegmentForward
from kenning.activation.destinations.smtp import Email
from kenning.activation.destinations.webhook import Webhook
from tests.activation.destinations.make import delivery
from tests.activation.destinations.scripted import Reply, ScriptedServer
from tests.activation.destinations.test_segment import event
from tests.activation.destinations.test_smtp import message

SECRET = "s3cret-of-at-least-16"
DEFAULT = DestinationContext(timeout_seconds=1)  # private destinations not allowed
REFUSED = ("failed", "address not allowed")

ADDRESSES = [
    "127.0.0.1",  # loopback
    "127.9.9.9",
    "10.0.0.1",  # private
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local: the cloud metadata service
    "100.64.0.1",  # shared (CGNAT)
    "0.0.0.0",  # unspecified: "this host"
    "::1",
    "fe80::1",
    "fd00:ec2::254",  # unique local: AWS's IPv6 metadata address
    "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
# Other spellings of 127.0.0.1 that resolvers accept.
SPELLINGS = ["localhost", "2130706433", "0x7f.1", "127.1"]


@pytest.fixture(autouse=True)
def tripwire(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection the guard let through. Only 127.0.0.1 (where the tests' own servers
    listen) is really connected to; anything else is refused before it is made."""
    attempted: list[Any] = []
    real = socket.create_connection

    def connect(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        attempted.append(address)
        if address[0] == "127.0.0.1":
            return real(address, *args, **kwargs)
        raise ConnectionRefusedError("tripwire: the guard let this through")

    monkeypatch.setattr(socket, "create_connection", connect)
    return attempted


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def send_webhook(host: str, port: int = 80, context: DestinationContext = DEFAULT) -> Outcome:
    hook = Webhook("hook", {"url": f"http://{host}:{port}/in", "secret": SECRET}, context)
    try:
        [outcome] = hook.send_many([delivery()])
    finally:
        hook.close()
    return outcome


def send_segment(host: str, port: int = 80, context: DestinationContext = DEFAULT) -> Outcome:
    forward = SegmentForward("fwd", {"url": f"http://{host}:{port}", "write_key": "wk"}, context)
    try:
        [outcome] = forward.send_many([event(1)])
    finally:
        forward.close()
    return outcome


def send_email(host: str, port: int = 25, context: DestinationContext = DEFAULT) -> Outcome:
    mail = Email("mail", {"host": host, "port": port, "from": "news@shop.example"}, context)
    [outcome] = mail.send_many([message()])
    return outcome


KINDS: dict[str, Callable[..., Outcome]] = {
    "webhook": send_webhook,
    "segment": send_segment,
    "email": send_email,
}


def test_these_addresses_are_what_the_guard_is_for() -> None:
    for address in ADDRESSES:
        parsed = ipaddress.ip_address(address)
        assert not parsed.is_global or parsed.ipv4_mapped or parsed in _NAT64, address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("address", ADDRESSES)
def test_an_address_that_is_not_public_is_refused(
    kind: str, address: str, tripwire: list[Any]
) -> None:
    # The email kind takes a host, not a URL: an IPv6 address goes as it is written.
    host = address if kind == "email" else _host(address)
    outcome = KINDS[kind](host)
    assert (outcome.status, outcome.detail) == REFUSED
    assert tripwire == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_loopback_spelled_otherwise_is_refused(
    kind: str, spelling: str, tripwire: list[Any]
) -> None:
    outcome = KINDS[kind](spelling)
    assert (outcome.status, outcome.detail) == REFUSED
    assert tripwire == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "fd00:ec2::254"])
def test_a_name_that_resolves_to_it_is_refused(
    kind: str, address: str, resolver: Callable[..., list[str]], tripwire: list[Any]
) -> None:
    resolver("metadata.test", [address])
    # One public and one private answer: the private one refuses the name.
    resolver("mixed.test", ["93.184.216.34", address])
    for name in ("metadata.test", "mixed.test"):
        outcome = KINDS[kind](name)
        assert (outcome.status, outcome.detail) == REFUSED
    assert tripwire == []


@pytest.mark.parametrize("kind", ["webhook", "segment"])
def test_a_redirect_to_the_metadata_service_is_refused(
    kind: str, http_server: ScriptedServer, tripwire: list[Any]
) -> None:
    """The first hop is allowed (loopback, listed), the redirect is not, and is not made."""
    http_server.script(Reply(307, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    allowed = DestinationContext(allowed_networks=("127.0.0.1/32",), timeout_seconds=1)
    outcome = KINDS[kind]("127.0.0.1", http_server.port, allowed)
    assert (outcome.status, outcome.detail) == REFUSED
    assert len(http_server.requests) == 1
    assert [address[0] for address in tripwire] == ["127.0.0.1"]
