"""The blocking client: ``with Client.udp(host, port) as c: reply = c.call(Op.ECHO, b"hi")``.

This module only moves bytes and waits: every decision (retransmit, accept,
ignore, give up, reject) is made by the sans-IO cores in
:mod:`rrp._sansio.udp_exchange`, :mod:`rrp._sansio.udp_multi_exchange` and
:mod:`rrp._sansio.tcp_reply_reader`.

The UDP socket is ``connect()``-ed, so the kernel already drops datagrams from
other sources; the exchange checks the source again anyway (UDP-CLI-1), because
a client must not depend on one line of defence. :func:`call_many` uses an
unconnected socket and relies on the core's check alone.
"""

from __future__ import annotations

import random
import socket
import ssl
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from rrp_spec import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_REPLY_TIMEOUT,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TCP_MAX_PAYLOAD,
    UDP_RECEIVE_BUFFER_SIZE,
    RetryPolicy,
)
from rrp_spec.secure_wire import TLS_ALPN

from .._sansio.addresses import Address, address_key, format_address
from .._sansio.client_errors import ConnectionFailed, DeadlineExceeded, ErrorResult, GaveUp, RrpError
from .._sansio.client_events import (
    Connected,
    DatagramIgnored,
    EventObserver,
    ExchangeEvent,
    IgnoreReason,
    RequestSent,
    ignore_event,
)
from .._sansio.reply import Reply, ServerOutcome
from .._sansio.request_ids import RequestIdSource, new_request_id
from .._sansio.tcp_reply_reader import TcpReplyReader
from .._sansio.tls_policy import agreed_on_rrp, client_context
from .._sansio.udp_exchange import JitterSource, UdpExchange, build_request
from .._sansio.udp_multi_exchange import UdpMultiExchange

if TYPE_CHECKING:
    from .._sansio.secure_udp import SecureClientKey

# Big enough for any UDP datagram, so an oversized reply is seen whole and judged, never silently truncated.
_DATAGRAM_BUFFER = UDP_RECEIVE_BUFFER_SIZE
_READ_CHUNK = 1 << 16


def resolve(host: str, port: int, kind: socket.SocketKind) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """The first address ``host`` resolves to, or :class:`ConnectionFailed` naming the host."""
    try:
        infos = socket.getaddrinfo(host, port, type=kind)
    except (socket.gaierror, UnicodeError) as error:
        raise ConnectionFailed(f"cannot resolve {host!r}: {getattr(error, 'strerror', None) or error}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, (str(sockaddr[0]), int(sockaddr[1]))


class _UdpCore(Protocol):
    """What :func:`_drive_udp` needs: the API UdpExchange and UdpMultiExchange share."""

    @property
    def finished(self) -> bool: ...
    def start(self, now: float) -> None: ...
    def datagrams_to_send(self) -> list[tuple[bytes, Address]]: ...
    def next_event(self) -> ExchangeEvent | None: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...
    def receive_datagram(self, data: bytes, source: tuple[object, ...], now: float) -> None: ...


def _drive_udp(sock: socket.socket, core: _UdpCore, on_event: EventObserver, *, connected: bool) -> None:
    """Run ``core`` to the end over ``sock``: send what it says, feed it what arrives, fire its timer."""
    clock = time.monotonic
    core.start(clock())
    while True:
        for data, destination in core.datagrams_to_send():
            try:
                if connected:
                    sock.send(data)
                else:
                    sock.sendto(data, destination)
            except ConnectionRefusedError:
                # An ICMP error left over from an earlier datagram; it must not end the exchange (UDP-CLI-2).
                on_event(DatagramIgnored(destination, IgnoreReason.PORT_UNREACHABLE))
            except OSError as error:
                raise ConnectionFailed(f"cannot send to {format_address(destination)}: {error.strerror}") from None
        while (event := core.next_event()) is not None:
            on_event(event)
        if core.finished:
            return
        timer = core.get_timer()
        assert timer is not None, "a running exchange always has a timer"
        wait = timer - clock()
        if wait > 0:
            sock.settimeout(wait)
            try:
                data, source = sock.recvfrom(_DATAGRAM_BUFFER)
            except TimeoutError:
                pass
            except ConnectionRefusedError:
                on_event(DatagramIgnored(address_key(sock.getpeername()), IgnoreReason.PORT_UNREACHABLE))
                continue
            else:
                core.receive_datagram(data, source, clock())
                continue
        core.handle_timer(clock())


class _Transport(Protocol):
    def call(self, operation: int, payload: bytes, timeout: float | None) -> Reply: ...
    def close(self) -> None: ...


class _UdpTransport:
    def __init__(
        self,
        host: str,
        port: int,
        policy: RetryPolicy,
        request_ids: RequestIdSource,
        jitter: JitterSource,
        on_event: EventObserver,
        protection: SecureClientKey | None = None,
    ) -> None:
        self._protection = protection
        family, sockaddr = resolve(host, port, socket.SOCK_DGRAM)
        self._server = address_key(sockaddr)
        self._policy, self._request_ids, self._jitter, self._on_event = policy, request_ids, jitter, on_event
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.connect(sockaddr)
        except OSError as error:
            self._sock.close()
            raise ConnectionFailed(f"cannot reach {format_address(sockaddr)}: {error.strerror}") from None

    def call(self, operation: int, payload: bytes, timeout: float | None) -> Reply:
        exchange = UdpExchange(
            self._server,
            operation,
            payload,
            policy=self._policy,
            request_ids=self._request_ids,
            jitter=self._jitter,
            give_up_after=timeout,
            protection=self._protection,
        )
        _drive_udp(self._sock, exchange, self._on_event, connected=True)
        outcome = exchange.outcome
        if isinstance(outcome, GaveUp):
            raise GaveUp(outcome.attempts, outcome.elapsed)
        assert outcome is not None, "a finished exchange has an outcome"
        return outcome

    def close(self) -> None:
        self._sock.close()


class _TcpTransport:
    def __init__(
        self,
        host: str,
        port: int,
        connect_timeout: float,
        reply_timeout: float,
        request_ids: RequestIdSource,
        max_reply_payload: int,
        on_event: EventObserver,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._reply_timeout, self._request_ids, self._on_event = reply_timeout, request_ids, on_event
        self._reader = TcpReplyReader(max_reply_payload)
        started = time.monotonic()
        try:
            self._sock = socket.create_connection((host, port), timeout=connect_timeout)
        except TimeoutError:
            raise DeadlineExceeded("connection", connect_timeout) from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise ConnectionFailed(f"cannot connect to {format_address((host, port))}: {reason}") from None
        if tls is not None:
            self._sock = _handshake(self._sock, tls, host, port, connect_timeout - (time.monotonic() - started))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._server = address_key(self._sock.getpeername())
        self._broken = False
        on_event(Connected(self._server, time.monotonic() - started))

    def call(self, operation: int, payload: bytes, timeout: float | None) -> Reply:
        if self._broken:
            raise ConnectionFailed("the connection was abandoned after an earlier error")
        timeout = self._reply_timeout if timeout is None else timeout
        request, data = build_request(operation, payload, self._request_ids())
        started = time.monotonic()
        deadline = started + timeout
        self._reader.expect(request)
        try:
            self._sock.settimeout(timeout)
            self._sock.sendall(data)
            self._on_event(RequestSent(self._server, request.request_id, timeout))
            while (message := self._reader.next_reply()) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self._sock.settimeout(remaining)
                self._reader.receive_data(self._sock.recv(_READ_CHUNK))
        except TimeoutError:
            self._abandon()
            raise DeadlineExceeded("reply", timeout) from None
        except RrpError:
            self._abandon()
            raise
        except OSError as error:
            self._abandon()
            raise ConnectionFailed(f"connection to {format_address(self._server)} failed: {error.strerror}") from None
        header = message.header
        return Reply(header.operation, header.result, message.payload, header.request_id, 1, time.monotonic() - started)

    def _abandon(self) -> None:
        # After a timeout or a bad reply the stream's framing is unknown: nothing on it can be trusted (TCP-CLI-3).
        self._broken = True
        self._sock.close()

    def close(self) -> None:
        self._sock.close()


def _handshake(sock: socket.socket, context: ssl.SSLContext, host: str, port: int, timeout: float) -> ssl.SSLSocket:
    """``sock`` after a TLS handshake within ``timeout`` that verified the server and agreed on ALPN rrp/1."""
    where = format_address((host, port))
    try:
        sock.settimeout(max(timeout, 0.001))
        secured = context.wrap_socket(sock, server_hostname=host)
    except TimeoutError:
        sock.close()
        raise DeadlineExceeded("TLS handshake", timeout) from None
    except ssl.SSLCertVerificationError as error:
        sock.close()
        raise ConnectionFailed(f"refusing {where}: its certificate is not trusted: {error.verify_message}") from None
    except (ssl.SSLError, OSError) as error:
        sock.close()
        raise ConnectionFailed(
            f"TLS handshake with {where} failed: {getattr(error, 'reason', None) or error}"
        ) from None
    if not agreed_on_rrp(secured):
        secured.close()
        raise ConnectionFailed(f"refusing {where}: it did not agree to speak RRP/1 (ALPN {TLS_ALPN!r})")
    return secured


class Client:
    """A blocking RRP client over one UDP socket or one TCP connection; one call at a time.

    Make one with :meth:`udp` or :meth:`tcp` and use it as a context manager. Each
    :meth:`call` sends one request with a fresh random request ID (CLI-1).
    """

    def __init__(self, transport: _Transport) -> None:
        """Use :meth:`udp` or :meth:`tcp`."""
        self._transport = transport

    @classmethod
    def udp(
        cls,
        host: str,
        port: int,
        *,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        request_ids: RequestIdSource = new_request_id,
        jitter: JitterSource = random.random,
        on_event: EventObserver = ignore_event,
    ) -> Client:
        """A client of the UDP server at ``host``:``port``, retransmitting per ``policy``."""
        return cls(_UdpTransport(host, port, policy, request_ids, jitter, on_event))

    @classmethod
    def tcp(
        cls,
        host: str,
        port: int,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        timeout: float = DEFAULT_REPLY_TIMEOUT,
        request_ids: RequestIdSource = new_request_id,
        max_reply_payload: int = DEFAULT_TCP_MAX_PAYLOAD,
        on_event: EventObserver = ignore_event,
    ) -> Client:
        """A client connected to the TCP server at ``host``:``port`` (connects now, within ``connect_timeout``).

        ``timeout`` bounds each reply (TCP-CLI-2); replies announcing more than
        ``max_reply_payload`` bytes are rejected before they are read.
        """
        return cls(_TcpTransport(host, port, connect_timeout, timeout, request_ids, max_reply_payload, on_event))

    @classmethod
    def tls(
        cls,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        timeout: float = DEFAULT_REPLY_TIMEOUT,
        request_ids: RequestIdSource = new_request_id,
        max_reply_payload: int = DEFAULT_TCP_MAX_PAYLOAD,
        on_event: EventObserver = ignore_event,
    ) -> Client:
        """A client of RRP/1 over TLS at ``host``:``port``: TLS 1.3, ALPN ``rrp/1``, certificate and host verified.

        ``context`` defaults to the system's trust anchors; build another with
        :func:`rrp.secure.tls_client_context` (a private CA, or verification off for tests). The handshake
        counts against ``connect_timeout``; a server that fails verification raises
        :class:`ConnectionFailed` saying why (TLS-CLI-1).
        """
        tls = context or client_context()
        return cls(_TcpTransport(host, port, connect_timeout, timeout, request_ids, max_reply_payload, on_event, tls))

    @classmethod
    def secure_udp(
        cls,
        host: str,
        port: int,
        key: SecureClientKey,
        *,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        request_ids: RequestIdSource = new_request_id,
        jitter: JitterSource = random.random,
        on_event: EventObserver = ignore_event,
    ) -> Client:
        """A client of RRP/1-S over UDP at ``host``:``port``, sealing every request with ``key``.

        Build ``key`` with :func:`rrp.secure.client_key`. Each request is sealed once and retransmitted
        byte for byte (SUDP-CLI-2); only a reply that opens as the answer to it is accepted (SUDP-CLI-1).
        """
        return cls(_UdpTransport(host, port, policy, request_ids, jitter, on_event, key))

    def call(self, operation: int, payload: bytes = b"", *, timeout: float | None = None, check: bool = True) -> Reply:
        """Send one request and return its reply.

        ``timeout`` caps this call (UDP: the exchange gives up at the earlier of
        the retry schedule's end and ``timeout``; TCP: the reply deadline).
        Raises :class:`ErrorResult` for a result other than OK unless ``check`` is
        false, and the other :class:`RrpError` subclasses for everything else.
        """
        reply = self._transport.call(operation, payload, timeout)
        if check and not reply.ok:
            raise ErrorResult(reply.result, reply.operation)
        return reply

    def close(self) -> None:
        """Close the socket."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def call_many(
    servers: Sequence[tuple[str, int]],
    operation: int,
    payload: bytes = b"",
    *,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    timeout: float | None = None,
    request_ids: RequestIdSource = new_request_id,
    jitter: JitterSource = random.random,
    on_event: EventObserver = ignore_event,
) -> list[ServerOutcome]:
    """Ask every UDP server in ``servers`` at once; one outcome per server, in the order given.

    Each server gets its own request ID and each reply is matched to the server it
    came from (address and port). All servers must be of one address family.
    """
    resolved = [resolve(host, port, socket.SOCK_DGRAM) for host, port in servers]
    families = {family for family, _ in resolved}
    if len(families) != 1:
        raise ValueError("call_many needs servers of one address family (all IPv4 or all IPv6)")
    core = UdpMultiExchange(
        [sockaddr for _, sockaddr in resolved],
        operation,
        payload,
        policy=policy,
        request_ids=request_ids,
        jitter=jitter,
        give_up_after=timeout,
    )
    with socket.socket(families.pop(), socket.SOCK_DGRAM) as sock:
        _drive_udp(sock, core, on_event, connected=False)
    return [_server_outcome(server, outcome) for server, outcome in core.outcomes.items()]


def _server_outcome(server: Address, outcome: Reply | GaveUp | None) -> ServerOutcome:
    if isinstance(outcome, Reply):
        error = None if outcome.ok else ErrorResult(outcome.result, outcome.operation)
        return ServerOutcome(server, outcome, error)
    assert outcome is not None, "a finished exchange has an outcome"
    return ServerOutcome(server, None, outcome)
