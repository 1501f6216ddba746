"""Grouping client addresses by network prefix, for the per-source connection limit and UDP rate limiting.

An attacker controls the low bits of its address (an IPv6 host typically owns a
whole /64), so limits that should bind one attacker bind a prefix: TCP-SRV-12
groups IPv4 addresses by /32 and IPv6 ones by /64, UDP-SRV-10 by /24 and /56.
"""

from __future__ import annotations

import socket

_V4_MAPPED = "::ffff:"


def source_prefix(host: str, v4_bits: int, v6_bits: int) -> int:
    """A hashable key naming ``host``'s /``v4_bits`` (IPv4) or /``v6_bits`` (IPv6) network.

    IPv4-mapped IPv6 addresses count as IPv4; an IPv6 zone (``%eth0``) is ignored.
    Raises ``OSError`` for a string that is not an IP address.
    """
    if ":" in host:
        if host.startswith(_V4_MAPPED) and "." in host:
            host = host[len(_V4_MAPPED) :]
        else:
            address = int.from_bytes(socket.inet_pton(socket.AF_INET6, host.partition("%")[0]), "big")
            return ((address >> (128 - v6_bits)) << 1) | 1
    address = int.from_bytes(socket.inet_pton(socket.AF_INET, host), "big")
    return (address >> (32 - v4_bits)) << 1
