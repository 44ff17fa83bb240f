"""The address guard: a destination reaches the public internet only, unless told otherwise.

A destination's URL is configured by whoever may configure destinations, and the request is
sent from inside our network, so a URL naming ``127.0.0.1``, ``169.254.169.254`` (a cloud's
metadata service) or an internal host would let that person reach what only we can (SSRF).
So every name is resolved here, EVERY address it resolves to is checked, and the connection
is made to an address that was checked: never to the name again, which a hostile DNS server
could answer differently the second time (DNS rebinding). The HTTP kinds connect through
``GuardedBackend`` (an httpcore network backend, so the Host header and TLS SNI still carry
the name); the SMTP kind through ``connect_checked``. Redirects are checked hop by hop
(``transport.py``), since each hop connects through the same backend.

Refused: private, loopback, link-local, multicast, reserved, unspecified and shared (CGNAT)
addresses, anything else that is not globally routable, and IPv6 addresses that carry such an
IPv4 address inside (IPv4-mapped, 6to4, Teredo, NAT64). ``DestinationContext.allow_private``
lifts the rule; ``allowed_networks`` lifts it for the CIDRs listed.
"""

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore

from kenning.activation.destinations.base import DestinationConfigError, DestinationContext

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The well-known NAT64 prefix (RFC 6052): the IPv4 address is the last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressNotAllowed(Exception):
    """The destination's name resolves to an address the guard refuses."""

    def __init__(self, detail: str = "address not allowed") -> None:
        super().__init__(detail)
        self.detail = detail


class NameNotResolved(ConnectionError):
    """The name did not resolve (now): taken as a connection failure, so retried, since
    a resolver that is down looks the same as a name that is gone."""


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address.

    >>> [is_public(ipaddress.ip_address(a)) for a in ("8.8.8.8", "10.1.2.3", "::ffff:127.0.0.1")]
    [True, False, False]
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public(embedded):
            return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse_networks(networks: Iterable[str], field: str) -> tuple[IPNetwork, ...]:
    parsed = []
    for i, text in enumerate(networks):
        try:
            parsed.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise DestinationConfigError(
                f"not a network (CIDR): {text!r}", f"{field}[{i}]"
            ) from None
    return tuple(parsed)


class AddressGuard:
    """Resolves a host and returns its addresses if every one of them may be reached."""

    def __init__(self, context: DestinationContext) -> None:
        self.allow_private = context.allow_private
        self.allowed = parse_networks(context.allowed_networks, "context.allowed_networks")

    def allows(self, address: IPAddress) -> bool:
        if self.allow_private or is_public(address):
            return True
        return any(
            address.version == network.version and address in network for network in self.allowed
        )

    def resolve(self, host: str, port: int) -> list[str]:
        """The checked addresses of ``host``, in the resolver's order; raises
        ``AddressNotAllowed`` when one of them is refused, ``NameNotResolved`` when there
        are none."""
        try:
            infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise NameNotResolved("name did not resolve") from None
        addresses: list[str] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            text = str(sockaddr[0])
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                raise AddressNotAllowed() from None
            # A single refused address refuses the name: otherwise a resolver that answers
            # with one public and one private address would get to pick the one we connect to.
            if not self.allows(_without_scope(address)):
                raise AddressNotAllowed()
            if text not in addresses:
                addresses.append(text)
        if not addresses:
            raise NameNotResolved("name did not resolve")
        return addresses


def _without_scope(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return ipaddress.IPv6Address(str(address).split("%", 1)[0])
    return address


def connect_checked(
    guard: AddressGuard, host: str, port: int, timeout: float | None
) -> socket.socket:
    """A TCP connection to one of ``host``'s checked addresses (the first that answers)."""
    error: OSError | None = None
    for address in guard.resolve(host, port):
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as failure:
            error = failure
    assert error is not None
    raise error


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's own synchronous backend, connecting only to checked addresses.

    httpcore hands ``connect_tcp`` the URL's host; TLS is started afterwards on the stream
    with the URL's host as ``server_hostname``, so SNI and certificate checks use the name
    while the socket goes to the address that was checked.
    """

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        error: Exception | None = None
        options: Sequence[Any] | None = None if socket_options is None else list(socket_options)
        try:
            addresses = self._guard.resolve(host, port)
        except NameNotResolved as failure:
            raise httpcore.ConnectError(str(failure)) from failure
        for address in addresses:
            try:
                return self._backend.connect_tcp(address, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as failure:
                error = failure
        assert error is not None
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise AddressNotAllowed("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)
