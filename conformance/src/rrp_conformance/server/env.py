"""What the server suite knows about its target: where it listens and the settings it claims.

A setting the target does not claim is assumed by one policy (``rrp_conformance.suite.ASSUMPTION_POLICY``),
stated at the top of every report; the suite verifies claims rather than trusting them.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rrp_spec import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    DEFAULT_TCP_MAX_PAYLOAD,
    MAX_REQUEST_DEADLINE,
    MAX_SEND_TIMEOUT,
    MAX_UDP_PAYLOAD,
    addresses,
)
from rrp_spec.addresses import AddressError, require_destination
from rrp_spec.secure_wire import sequence_at

if TYPE_CHECKING:
    from rrp_spec.secure import SecureContext

#: Where the source-address check sends when the target listens on a wildcard address.
DEFAULT_ALT_ADDRESS = "127.0.0.2"

Address = addresses.Address


def parse_address(text: str) -> Address:
    """A target's ``HOST:PORT`` (``[V6]:PORT``, or a name such as ``localhost``) as a numeric address to send to.

    ``ValueError`` with one sentence if malformed, a wildcard, port 0, or a name that does not resolve.
    A name is resolved once, to the first address the system lists (as ``rrp serve`` binds it), so
    that every check talks to one address and the report names it.
    """
    host, port = require_destination(addresses.parse_address(text), text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            host = str(socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_DGRAM)[0][4][0])
        except (OSError, UnicodeError) as error:
            raise AddressError(
                f"{text!r}: cannot resolve {host!r} ({getattr(error, 'strerror', None) or error})"
            ) from None
    return host, port


def parse_listening_address(text: str) -> Address:
    """``HOST:PORT`` or ``[V6]:PORT`` as a ``(host, port)`` pair, wildcards included (what a server says it bound)."""
    return addresses.parse_address(text)


def family_of(host: str) -> socket.AddressFamily:
    """AF_INET or AF_INET6 for a literal address."""
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def show(address: Address) -> str:
    """``host:port`` (``[host]:port`` for IPv6)."""
    return addresses.format_address(address)


#: Why each setting's default is what it is, under the suites' assumption policy.
ASSUMED_FROM: dict[str, str] = {
    "request_deadline": "the spec's maximum, TCP-SRV-5",
    "idle_timeout": "the reference default; the spec sets no bound",
    "send_timeout": "the spec's maximum, TCP-SRV-10",
    "udp_max_payload": "what the spec asks a server to accept, UDP-SRV-4",
    "tcp_max_payload": "the reference default; the spec sets no bound",
    "max_connections": "the reference default; the spec sets no bound",
    "max_connections_per_source": "the reference default; the spec sets no bound",
}


#: Settings a target may claim that have no assumed value: unclaimed, the checks that need them are skipped.
OPTIONAL_CLAIMS = ("dedup_entries", "memory_budget")


@dataclass(frozen=True, slots=True)
class ServerClaims:
    """The settings the target says it has; the others are assumed (:data:`rrp_conformance.suite.ASSUMPTION_POLICY`)."""

    request_deadline: float = MAX_REQUEST_DEADLINE
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    send_timeout: float = MAX_SEND_TIMEOUT
    udp_max_payload: int = MAX_UDP_PAYLOAD
    tcp_max_payload: int = DEFAULT_TCP_MAX_PAYLOAD
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connections_per_source: int = DEFAULT_MAX_CONNECTIONS_PER_SOURCE
    #: Entries the UDP duplicate-reply cache holds; ``None``: not claimed (the flood check is skipped).
    dedup_entries: int | None = None
    #: Bytes of request payloads being collected and replies not yet sent that all the TCP connections together
    #: may hold (TCP-SRV-14); ``None``: not claimed (the memory-budget check is skipped).
    memory_budget: int | None = None
    #: The names of the settings the target claimed; every other one holds its assumed value.
    claimed: frozenset[str] = frozenset(ASSUMED_FROM)

    def max_payload(self, transport: str) -> int:
        """The payload limit claimed (or assumed) for ``transport``: no check sends a larger payload unless it
        means to test the limit."""
        return self.udp_max_payload if transport == "udp" else self.tcp_max_payload

    def fit(self, payload: bytes, transport: str) -> bytes:
        """``payload`` cut to the limit of ``transport``, so a target with a lower limit is not failed for it."""
        return payload[: self.max_payload(transport)]

    def shown(self, name: str, unit: str = "") -> str:
        """The setting's value for the report, saying whether it was claimed or assumed, and why."""
        value = getattr(self, name)
        text = f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"
        return text if name in self.claimed else f"{text} (assumed: {ASSUMED_FROM[name]})"


class AmplificationMeter:
    """The worst reply/request size ratio over every UDP reply the suite received in the whole run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.worst = 0.0
        self.worst_case = ""
        self.replies = 0

    def record(self, request_size: int, reply_size: int, what: str) -> None:
        """Count one reply datagram to a request datagram of ``request_size`` bytes; ``what`` describes the reply."""
        ratio = reply_size / max(request_size, 1)
        with self._lock:
            self.replies += 1
            if ratio > self.worst:
                self.worst = ratio
                self.worst_case = f"a {reply_size}-byte reply to a {request_size}-byte request ({what})"


@dataclass(slots=True)
class ServerEnv:
    """The target of a server run."""

    udp: Address | None
    tcp: Address | None
    claims: ServerClaims = field(default_factory=ServerClaims)
    alt_address: str = DEFAULT_ALT_ADDRESS
    amplification: AmplificationMeter = field(default_factory=AmplificationMeter)
    #: The RRP/1-S port and the key the suite holds for it, when graded.
    secure: SecureTarget | None = None
    #: The RRP/1-over-TLS port, when graded.
    tls: TlsTarget | None = None

    def loopback_sources(self, count: int) -> list[str] | None:
        """``count`` distinct loopback source addresses other than the default one, starting at the alt address.

        ``None`` when the target is not on IPv4 loopback (only then can the suite pick its source freely).
        """
        if self.tcp is None or not ipaddress.ip_address(self.tcp[0]).is_loopback or ":" in self.tcp[0]:
            return None
        try:
            first = ipaddress.IPv4Address(self.alt_address)
        except ValueError:
            return None
        if not first.is_loopback:
            return None
        sources = [str(first + i) for i in range(count)]
        if not all(ipaddress.IPv4Address(s).is_loopback for s in sources):
            return None
        return sources

    def loopback_networks(self, count: int) -> list[str] | None:
        """``count`` loopback source addresses in distinct IPv4 networks (/24), none in the default source's.

        The alt address moved up by 256, 512, ...: ``127.0.1.2``, ``127.0.2.2`` and so on. ``None`` when the
        target is not on IPv4 loopback.
        """
        first = self.loopback_sources(1)
        if first is None:
            return None
        base = ipaddress.IPv4Address(first[0])
        sources = [base + 256 * (i + 1) for i in range(count)]
        if not all(s.is_loopback for s in sources):
            return None
        return [str(s) for s in sources]


@dataclass(slots=True)
class SecureTarget:
    """An RRP/1-S port of the target and the key the suite holds for it."""

    #: Where the secure UDP port listens.
    address: Address
    #: The key ID the suite uses.
    key_id: int
    #: Seals and opens under that key.
    context: SecureContext
    _last: int = field(default=0)

    @classmethod
    def with_secret(cls, address: Address, key_id: int, secret: bytes) -> SecureTarget:
        """The target at ``address`` with the key ``key_id`` = ``secret``; needs the ``cryptography`` package."""
        from rrp_spec.secure import SecureContext

        return cls(address, key_id, SecureContext.from_secret(secret, key_id))

    def next_sequence(self) -> int:
        """A sequence the suite has not used yet: the clock in microseconds, strictly increasing (SUDP-2)."""
        self._last = max(sequence_at(time.time()), self._last + 1)
        return self._last

    def seal(self, message: bytes) -> bytes:
        """``message`` sealed as a request under a fresh sequence."""
        return self.context.seal_request(self.next_sequence(), message)


@dataclass(frozen=True, slots=True)
class TlsTarget:
    """The target's TLS port and how the suite verifies it."""

    #: Where the TLS port listens.
    address: Address
    #: A CA file to verify the target's certificate with; ``None`` grades without verifying it.
    cafile: str | None = None
    #: The name the certificate must carry (SNI too); defaults to the address's host.
    server_name: str | None = None
