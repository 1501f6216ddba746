"""What the server suite knows about its target: where it listens and the settings it claims.

The claimed settings default to the reference defaults of :mod:`rrp_spec`; the suite
verifies the claims rather than trusting them.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass, field

from rrp_spec import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    DEFAULT_REQUEST_DEADLINE,
    DEFAULT_TCP_MAX_PAYLOAD,
    DEFAULT_UDP_MAX_PAYLOAD,
    MAX_SEND_TIMEOUT,
)

#: Where the source-address check sends when the target listens on a wildcard address.
DEFAULT_ALT_ADDRESS = "127.0.0.2"

Address = tuple[str, int]


def parse_address(text: str) -> Address:
    """A target's ``HOST:PORT`` or ``[V6]:PORT``; ``ValueError`` with one sentence if malformed or a wildcard."""
    host, port = parse_listening_address(text)
    if ipaddress.ip_address(host).is_unspecified:
        loopback = "[::1]" if ":" in host else "127.0.0.1"
        raise ValueError(
            f"{text!r}: {host} is the wildcard a server binds to, not an address to send to; try {loopback}:{port}"
        )
    return host, port


def parse_listening_address(text: str) -> Address:
    """``HOST:PORT`` or ``[V6]:PORT`` as a ``(host, port)`` pair, wildcards included (what a server says it bound)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: port {port} is out of range")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: {host!r} is not an IP address") from None
    return host, port


def family_of(host: str) -> socket.AddressFamily:
    """AF_INET or AF_INET6 for a literal address."""
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def show(address: Address) -> str:
    """``host:port`` (``[host]:port`` for IPv6)."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class ServerClaims:
    """The settings the target says it has."""

    request_deadline: float = DEFAULT_REQUEST_DEADLINE
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    send_timeout: float = MAX_SEND_TIMEOUT
    udp_max_payload: int = DEFAULT_UDP_MAX_PAYLOAD
    tcp_max_payload: int = DEFAULT_TCP_MAX_PAYLOAD
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connections_per_source: int = DEFAULT_MAX_CONNECTIONS_PER_SOURCE


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
