"""The suite's side of the secure profiles: the RRP/1-S key it was given, and TLS connections to the target.

The ``cryptography`` package is needed for RRP/1-S only (``pip install 'rrp-conformance[secure]'``); the
rest of the suite, TLS included (the standard library's ``ssl``), runs without it.
"""

from __future__ import annotations

import ssl

from rrp_spec.secure_wire import TLS_ALPN

from ..wirelog import WireLog
from .env import SecureTarget, TlsTarget
from .net import TcpChannel


def tls_channel(
    log: WireLog,
    target: TlsTarget,
    timeout: float,
    protocols: list[str],
    *,
    maximum: ssl.TLSVersion | None = None,
) -> TcpChannel:
    """A TCP connection to ``target`` after a handshake offering ``protocols`` (and TLS versions up to ``maximum``).

    Raises ``ssl.SSLError`` or ``OSError`` when the handshake fails.
    """
    context = ssl.create_default_context(cafile=target.cafile)
    if target.cafile is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if maximum is not None:
        context.maximum_version = maximum
    if protocols:
        context.set_alpn_protocols(protocols)
    channel = TcpChannel(log, target.address, timeout=timeout)
    # From here the wire log sees the plaintext above TLS, not the records on the wire: the capture leaves it out.
    channel.flow = None
    name = target.server_name or target.address[0]
    try:
        channel.sock = context.wrap_socket(channel.sock, server_hostname=name)
    except BaseException:
        channel.close()
        raise
    version = channel.sock.version() if isinstance(channel.sock, ssl.SSLSocket) else None
    chosen = channel.sock.selected_alpn_protocol() if isinstance(channel.sock, ssl.SSLSocket) else None
    log.event(channel.name, f"TLS handshake done: {version}, ALPN {chosen!r}")
    return channel


def probe_tls(target: TlsTarget, timeout: float) -> str | None:
    """A TLS 1.3 handshake with ALPN rrp/1 and an ECHO inside; ``None`` when it is answered correctly."""
    import os
    import socket

    from rrp_spec import HEADER_SIZE, Result, unpack_header

    from .net import echo_request

    context = ssl.create_default_context(cafile=target.cafile)
    if target.cafile is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols([TLS_ALPN])
    payload = os.urandom(8)
    data, _ = echo_request(payload)
    try:
        with (
            socket.create_connection(target.address, timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=target.server_name or target.address[0]) as sock,
        ):
            sock.sendall(data)
            reply = b""
            while len(reply) < len(data):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except (OSError, ssl.SSLError) as error:
        return f"no TLS handshake and ECHO with the TLS port: {error}"
    if len(reply) < HEADER_SIZE or unpack_header(reply).result != Result.OK or reply[HEADER_SIZE:] != payload:
        return f"no correct reply to an ECHO over TLS ({len(reply)} bytes)"
    return None


def probe_secure_udp(target: SecureTarget, timeout: float, attempts: int) -> str | None:
    """A sealed ECHO to the secure UDP port; ``None`` when an RRP/1-S reply under the suite's key ID comes back.

    Whether the reply opens, is bound to its request and echoes the payload is for the checks to judge: the probe
    only tells a live RRP/1-S server from a dead port, a wrong key (a correct server stays silent) or another
    protocol.
    """
    import os
    import socket

    from rrp_spec.secure_wire import Dropped, parse_clear_header

    from .net import echo_request

    message, _ = echo_request(os.urandom(8))
    sealed = target.seal(message)
    family = socket.AF_INET6 if ":" in target.address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(attempts):
            sock.sendto(sealed, target.address)
            try:
                reply = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as error:
                return f"cannot reach the secure UDP port: {error.strerror or error}"
            try:
                header = parse_clear_header(reply)
            except Dropped as dropped:
                return f"this does not look like an RRP/1-S server: its answer to a sealed ECHO is {dropped}"
            if not header.is_reply or header.key_id != target.key_id:
                return f"this does not look like an RRP/1-S server: it answered with key ID {header.key_id}"
            return None
    return f"no answer to a sealed ECHO in {attempts} attempts (a wrong --psk-id or key, or no RRP/1-S server there)"
