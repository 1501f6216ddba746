"""The TLS profile of RRP/1 as ``ssl`` contexts: TLS 1.3 or later, ALPN ``rrp/1``, verification on by default.

Both the asyncio server and the blocking client build their contexts here, so the policy
(TLS-SRV-1, TLS-SRV-4, TLS-CLI-1) is written once. Nothing here opens a socket.
"""

from __future__ import annotations

import ssl

from rrp_spec.secure_wire import TLS_ALPN


def client_context(*, cafile: str | None = None, verify: bool = True) -> ssl.SSLContext:
    """A client context: TLS 1.3+, ALPN ``rrp/1``, the chain and host name verified (TLS-CLI-1).

    ``cafile`` replaces the system's trust anchors; ``verify=False`` turns verification off, for
    tests against a server whose certificate cannot be checked, and callers must say so loudly.
    """
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols([TLS_ALPN])
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_context(certfile: str, keyfile: str | None = None, *, client_cafile: str | None = None) -> ssl.SSLContext:
    """A server context: TLS 1.3+, ALPN ``rrp/1`` (TLS-SRV-1); with ``client_cafile``, mutual TLS (TLS-SRV-4)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(certfile, keyfile)
    context.set_alpn_protocols([TLS_ALPN])
    if client_cafile is not None:
        context.load_verify_locations(cafile=client_cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def agreed_on_rrp(connection: ssl.SSLObject | ssl.SSLSocket) -> bool:
    """True when the handshake selected ALPN ``rrp/1``: anything else is closed unanswered (TLS-SRV-1)."""
    return connection.selected_alpn_protocol() == TLS_ALPN
