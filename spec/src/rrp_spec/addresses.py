"""Transport addresses as every RRP tool writes them: ``HOST:PORT`` and ``udp://HOST:PORT``.

One parser and one formatter for the reference's ``rrp serve``/``rrp call``, the
conformance suite and the benchmarks, so that every tool accepts the same spellings
and words each mistake the same way:

* ``127.0.0.1:7373``, ``[::1]:7373`` (an IPv6 host always in brackets, as in URLs),
  ``localhost:7373`` (a host name, resolved by whoever opens the socket);
* ``udp://127.0.0.1:7373`` and ``tcp://[::1]:7373`` where the transport is part of the
  address (``rrp call``, the client suite's ``{url}``).

IP literals come back in the text a socket reports (``::1`` for ``0:0::1``), names in
lower case, so ``parse_address(format_address(a)) == a``. Whether a wildcard or port
0 makes sense is the caller's policy, not the parser's: a server may bind
``0.0.0.0:0``, a client may not send there (:func:`require_destination`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from .validate import Transport

#: A host (IP literal or name) and a port.
Address = tuple[str, int]

#: The highest port number of UDP and TCP.
MAX_PORT = 0xFFFF

# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_MAX_HOST_NAME = 253
_SHAPE = "HOST:PORT (an IPv6 host goes in brackets: [::1]:7373)"
_URL_SHAPE = "a URL like udp://HOST:PORT or tcp://HOST:PORT (IPv6: udp://[::1]:7373)"


class AddressError(ValueError):
    """An address or URL that cannot be used, with one sentence saying why."""


def parse_address(text: str) -> Address:
    """``HOST:PORT`` or ``[IPV6]:PORT`` as ``(host, port)``; :class:`AddressError` when it is neither.

    The host is an IP literal (returned in canonical form) or a host name such as
    ``localhost`` (lower case); the port is 0-65535.
    """
    _printable(text)
    return _split(text, text, _SHAPE)


def parse_url(text: str) -> tuple[Transport, Address]:
    """``udp://HOST:PORT`` or ``tcp://HOST:PORT`` as ``(transport, (host, port))``; :class:`AddressError` if not."""
    scheme, address = _url(text, tuple(Transport))
    return Transport(scheme), address


#: The URL schemes of every profile: plain RRP/1 over UDP and TCP, RRP/1-S over UDP, RRP/1 over TLS.
PROFILE_SCHEMES = ("udp", "tcp", "sudp", "tls")


def parse_profile_url(text: str) -> tuple[str, Address]:
    """A URL of any profile (:data:`PROFILE_SCHEMES`) as ``(scheme, (host, port))``; :class:`AddressError` if not."""
    return _url(text, PROFILE_SCHEMES)


def _url(text: str, schemes: tuple[str, ...]) -> tuple[str, Address]:
    _printable(text)
    try:
        parts = urlsplit(text)
        scheme, authority = parts.scheme, parts.netloc
    except ValueError:  # urllib rejects some bracketed hosts itself, in its own words
        scheme, authority = text.partition("://")[0], ""
    if not text.lower().startswith(f"{scheme}://") or not scheme:
        raise AddressError(f"{text!r} is not {_URL_SHAPE}")
    if scheme.lower() not in schemes:
        choices = " or ".join(f"{s}://" for s in schemes)
        raise AddressError(f"unknown transport {scheme!r} in {text!r}: use {choices}")
    if not authority or parts.path or parts.query or parts.fragment or "@" in authority:
        raise AddressError(f"{text!r} is not {_URL_SHAPE}")
    return scheme.lower(), _split(authority, text, _URL_SHAPE)


def format_address(address: tuple[object, ...]) -> str:
    """``HOST:PORT``, IPv6 hosts in brackets (``[::1]:7373``); extra socket-address fields are dropped."""
    host, port = str(address[0]), int(str(address[1]))
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_url(transport: Transport | str, address: tuple[object, ...]) -> str:
    """``udp://HOST:PORT`` (IPv6 hosts in brackets)."""
    return f"{Transport(transport)}://{format_address(address)}"


def require_destination(address: Address, text: str | None = None) -> Address:
    """``address`` if one can send to it; :class:`AddressError` for port 0 or a wildcard host."""
    host, port = address
    shown = text if text is not None else format_address(address)
    if port == 0:
        raise AddressError(f"{shown!r}: port 0 is what a server binds to get a free port, not a port to send to")
    try:
        wildcard = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        wildcard = False
    if wildcard:
        loopback = "::1" if ":" in host else "127.0.0.1"
        raise AddressError(
            f"{shown!r}: {host} is the wildcard a server binds to, not an address to send to; "
            f"try {format_address((loopback, port))}"
        )
    return address


def _split(authority: str, text: str, shape: str) -> Address:
    """``authority`` (``HOST:PORT``) as an address; ``text`` is what the user typed and ``shape`` what it should be."""
    host_text, sep, port_text = authority.rpartition(":")
    if not sep or not host_text or not (port_text.isascii() and port_text.isdigit()):
        raise AddressError(f"{text!r} is not {shape}")
    port = int(port_text)
    if port > MAX_PORT:
        raise AddressError(f"port {port} in {text!r} is not between 0 and {MAX_PORT}")
    if host_text.startswith("[") and host_text.endswith("]"):
        try:
            ip = ipaddress.ip_address(host_text[1:-1])
        except ValueError:
            ip = None
        if not isinstance(ip, ipaddress.IPv6Address):
            raise AddressError(f"{text!r}: {host_text[1:-1]!r} in brackets is not an IPv6 address")
        # The text a socket reports (inet_ntop), so a parsed address compares equal to a received one.
        canonical = socket.inet_ntop(socket.AF_INET6, ip.packed)
        return (f"{canonical}%{ip.scope_id}" if ip.scope_id else canonical), port
    if any(c in host_text for c in ":[]"):
        raise AddressError(f"{text!r} is not {shape}")
    try:
        return ipaddress.IPv4Address(host_text).compressed, port
    except ValueError:
        pass
    # A name's last label is never all digits (RFC 3696 §2): "300.1.1.1" is a mistyped address, not a name.
    top_label = host_text.rstrip(".").rpartition(".")[2]
    if len(host_text) > _MAX_HOST_NAME or _HOST_NAME.fullmatch(host_text) is None or top_label.isdigit():
        raise AddressError(f"{text!r}: {host_text!r} is neither an IP address nor a host name")
    return host_text.lower(), port


def _printable(text: str) -> None:
    # urllib silently drops tabs and newlines inside a URL; an address with any of them is a typing accident.
    if not text.isprintable() or " " in text:
        raise AddressError(f"{text!r} contains spaces or control characters")
