"""Transport addresses as the client core sees them: ``(host, port)`` pairs of numeric IPs.

Sockets report IPv6 sources as 4-tuples and may spell one address several ways
(``::1`` and ``0:0:0:0:0:0:0:1``, or ``::ffff:127.0.0.1`` on a dual-stack socket);
:func:`address_key` reduces each to one canonical form so that "is this datagram
from a server we asked?" (UDP-CLI-1) is a plain comparison.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from rrp_spec import addresses as spec_addresses

#: A peer: numeric host and port, as passed to ``sendto`` and returned by ``recvfrom``.
Address = tuple[str, int]


def address_key(address: tuple[Any, ...]) -> Address:
    """The canonical ``(host, port)`` of a socket address (extra IPv6 fields dropped)."""
    host, port = str(address[0]), int(address[1])
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host.lower(), port
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.compressed, port


def format_address(address: tuple[Any, ...]) -> str:
    """``HOST:PORT``, with IPv6 hosts in brackets (``[::1]:7000``)."""
    return spec_addresses.format_address(address_key(address))
