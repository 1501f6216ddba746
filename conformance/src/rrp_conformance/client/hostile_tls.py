"""A hostile TLS server for the client suite: it presents the certificate a check chooses and answers an ECHO.

Each accepted connection gets one handshake with the check's server context; what the client offered
(TLS version, ALPN) and whether it finished the handshake at all are recorded in :class:`TlsExchange` and
the wire log. A client that refuses the certificate ends the handshake itself: the server only notes it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass

from rrp_spec import HEADER_SIZE, unpack_header

from ..wirelog import WireLog
from .forged import genuine_reply
from .hostile_tcp import MAX_CONNECTIONS, MAX_REQUEST_PAYLOAD

#: Seconds the server gives a client to finish its handshake and send its request.
CLIENT_WAIT = 10.0


@dataclass(slots=True)
class TlsExchange:
    """What one connection showed."""

    #: The handshake finished (the client accepted the certificate).
    handshake: bool = False
    #: The negotiated version and ALPN protocol, when it finished.
    version: str | None = None
    alpn: str | None = None
    #: The request the client sent inside TLS, if any.
    request: bytes | None = None
    #: Why the handshake failed, as the server saw it.
    refused: str = ""


class HostileTlsServer:
    """A TLS listener on loopback, one thread per connection, stopped when the ``with`` block ends."""

    def __init__(self, context: ssl.SSLContext, log: WireLog, *, host: str = "127.0.0.1") -> None:
        self._context = context
        self._log = log
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._host = host
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        #: Every connection, in the order accepted.
        self.exchanges: list[TlsExchange] = []

    @property
    def port(self) -> int:
        """The listening port."""
        port: int = self._listener.getsockname()[1]
        return port

    def __enter__(self) -> HostileTlsServer:
        self._listener.bind((self._host, 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self._start(self._accept_loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_WAIT + 1)
        self._listener.close()

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:  # listed only once started: __exit__ never joins a thread that has not started
            thread.start()
            self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                raw, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if len(self.exchanges) >= MAX_CONNECTIONS:  # a client flooding connections gets no more threads
                raw.close()
                continue
            exchange = TlsExchange()
            with self._lock:
                self.exchanges.append(exchange)
            self._start(self._serve, raw, f"tls {peer[0]}:{peer[1]}", exchange)

    def _serve(self, raw: socket.socket, name: str, exchange: TlsExchange) -> None:
        raw.settimeout(CLIENT_WAIT)
        try:
            conn = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as error:
            exchange.refused = str(getattr(error, "reason", None) or error)
            self._log.event(name, f"handshake not completed: {exchange.refused}")
            raw.close()
            return
        with conn:
            exchange.handshake = True
            exchange.version, exchange.alpn = conn.version(), conn.selected_alpn_protocol()
            self._log.event(name, f"handshake completed: {exchange.version}, ALPN {exchange.alpn!r}")
            data = bytearray()
            try:
                # At most MAX_REQUEST_PAYLOAD bytes of payload, whatever size the header declares (4 GiB, say).
                while len(data) < HEADER_SIZE or len(data) < HEADER_SIZE + min(
                    unpack_header(bytes(data[:HEADER_SIZE])).size, MAX_REQUEST_PAYLOAD
                ):
                    if self._stop.is_set():
                        return
                    chunk = conn.recv(65536)
                    if not chunk:
                        self._log.event(name, "closed by the client before a whole request")
                        return
                    data += chunk
            except (ssl.SSLError, OSError) as error:
                self._log.event(name, f"read failed: {error}")
                return
            request = exchange.request = bytes(data)
            self._log.received(name, request, note="request inside TLS")
            reply = genuine_reply(request)
            self._log.sent(name, reply, note="genuine reply inside TLS")
            try:
                conn.sendall(reply)
                conn.recv(1)  # wait for the client to close
            except (ssl.SSLError, OSError):
                return
