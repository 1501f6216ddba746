"""The reference RRP/1 server: UDP and TCP in one asyncio process, around the sans-IO cores.

Usage::

    server = Server(ServerSettings(request_deadline=1.0))
    server.register(0x8000, lambda payload: payload[::-1])
    endpoints = await server.start(udp=[("127.0.0.1", 0)], tcp=[("127.0.0.1", 0)])
    ...
    await server.shutdown()

One :class:`~rrp._sansio.udp_core.UdpServerCore` serves every UDP socket (so its
duplicate-reply cache sees every datagram) and one
:class:`~rrp._sansio.tcp_server.TcpServerCore` admits every TCP connection and gives each
its :class:`~rrp._sansio.tcp_core.TcpConnection`; all of them share the
:class:`~rrp._sansio.dispatch.Dispatcher` (one INCREMENT counter) and the
:class:`~rrp._sansio.counters.ServerCounters`. This module only binds sockets, tracks what
is open, and shuts down gracefully: stop accepting, let requests in flight finish
for up to the grace period, then drop what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rrp_spec import Transport
from rrp_spec.addresses import format_address
from rrp_spec.secure import SecureContext

from .._sansio.counters import ServerCounters
from .._sansio.dispatch import AsyncHandler, Dispatcher, SyncHandler
from .._sansio.rejectlog import RateLimitedLog
from .._sansio.secure_udp import SecureUdpServer, SequenceSource
from .._sansio.server_events import Answer, CallRequested, ServerEvent
from .._sansio.settings import ServerSettings
from .._sansio.tcp_core import TcpConnection
from .._sansio.tcp_server import TcpServerCore
from .._sansio.udp_core import UdpServerCore
from .log_sink import LogSink
from .secure_udp_endpoint import SecureUdpEndpoint
from .tcp_protocol import TcpConnectionProtocol
from .tls_acceptor import Handshakes, TlsAcceptor
from .udp_endpoint import UdpEndpoint

#: TCP accept backlog.
BACKLOG = 1024


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A bound socket: its transport and the address it really got (the real port when 0 was asked)."""

    transport: Transport
    host: str
    port: int
    #: The profile served when it is not plain RRP/1 over ``transport``: ``sudp`` (RRP/1-S) or ``tls``.
    profile: str | None = None

    @property
    def address(self) -> str:
        """``HOST:PORT``, IPv6 hosts in brackets."""
        return format_address((self.host, self.port))

    def __str__(self) -> str:
        return f"{self.profile or self.transport} {self.address}"


class BindError(OSError):
    """A socket could not be bound; the message names the transport and address, and why."""


def bind_socket(transport: Transport, host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A socket of ``transport`` bound to ``host``:``port`` (IPv6 sockets are IPv6-only); :class:`BindError` if not.

    With ``reuse_port`` the socket joins the port's SO_REUSEPORT group, so that several processes share the
    port: the kernel hashes each UDP flow and each TCP connection's 4-tuple to one member (``rrp serve --workers``).
    """
    shown = format_address((host, port))
    try:
        return _bind(transport, host, port, reuse_port=reuse_port)
    except OSError as error:
        raise BindError(f"cannot bind {transport} {shown}: {error.strerror or error}") from error


def _bind(transport: Transport, host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    kind = socket.SOCK_DGRAM if transport is Transport.UDP else socket.SOCK_STREAM
    family, _, _, _, address = socket.getaddrinfo(host, port, socket.AF_UNSPEC, kind, 0, socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if transport is Transport.TCP:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class Server:
    """Serves RRP/1 over UDP and TCP on one event loop. Counters are live in :attr:`counters`."""

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        dispatcher: Dispatcher | None = None,
        log: RateLimitedLog | None = None,
        keys: Mapping[int, bytes] | None = None,
        sequences: SequenceSource | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``keys`` (key ID to master secret) enable RRP/1-S on the ``secure_udp`` addresses given to
        :meth:`start`; ``sequences`` is the server's reply sequence source (by default from the wall clock
        alone; give :func:`rrp.secure.persisted_sequences` to survive a clock stepping back, SUDP-2). ``tls`` (from
        :func:`rrp.secure.tls_server_context`) enables RRP/1 over TLS on the ``tls`` addresses."""
        self.settings = settings = settings or ServerSettings()
        #: The operations served; register application handlers here or with :meth:`register`.
        self.dispatcher = dispatcher or Dispatcher()
        #: What the server has done so far.
        self.counters = ServerCounters()
        # Without a log of the caller's, lines go to stderr through a writer thread: a stalled reader of
        # stderr costs log lines, never service (SRV-17).
        self._own_sink = LogSink() if log is None else None
        self._log = log or RateLimitedLog(self._own_sink.write)  # type: ignore[union-attr]
        #: The UDP core shared by every UDP socket.
        self.udp_core = UdpServerCore(settings, self.dispatcher)
        #: The TCP core: admission within the connection limits, and a connection core for each.
        self.tcp_core = TcpServerCore(settings, self.dispatcher)
        self.tcp_core.on_reclaim = self._connection_reclaimed
        self._keys = dict(keys or {})
        self._sequences = sequences or SequenceSource()
        self._secure_udp: list[SecureUdpEndpoint] = []
        self._tls_context = tls
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: list[UdpEndpoint] = []
        self._tcp: list[asyncio.Server] = []
        self._connections: set[TcpConnectionProtocol] = set()
        self._by_core: dict[TcpConnection, TcpConnectionProtocol] = {}
        self._handshakes: Handshakes = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._drained: asyncio.Event | None = None
        self._shutting_down = False
        #: Every bound socket, in the order asked.
        self.endpoints: list[Endpoint] = []

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs on (set by :meth:`start`)."""
        if self._loop is None:
            raise RuntimeError("the server has not been started")
        return self._loop

    @property
    def open_connections(self) -> int:
        """TCP connections open now, over-limit ones answering BUSY included."""
        return len(self._connections)

    def register(self, operation: int, handler: SyncHandler | AsyncHandler) -> None:
        """Serve application operation ``operation`` (0x8000-0xFFFF) with ``handler``."""
        self.dispatcher.register(operation, handler)

    async def start(
        self,
        *,
        udp: Iterable[tuple[str, int]] = (),
        tcp: Iterable[tuple[str, int]] = (),
        secure_udp: Iterable[tuple[str, int]] = (),
        tls: Iterable[tuple[str, int]] = (),
        reuse_port: bool = False,
    ) -> list[Endpoint]:
        """Bind and start serving every address given; returns the endpoints actually bound.

        With ``reuse_port`` every socket is bound with SO_REUSEPORT, to share its port with other processes.

        ``secure_udp`` addresses serve RRP/1-S only (never plain RRP/1, SUDP-SRV-1) with the server's keys;
        ``tls`` addresses serve RRP/1 over TLS only (no plaintext fallback, TLS-SRV-2).
        """
        self._loop = loop = asyncio.get_running_loop()
        self._drained = asyncio.Event()
        started: list[Endpoint] = []
        try:
            for host, port in udp:
                sock = bind_socket(Transport.UDP, host, port, reuse_port=reuse_port)
                endpoint = UdpEndpoint(loop, sock, self.udp_core, self._observe, self._carry_out)
                self._udp.append(endpoint)
                endpoint.start()
                started.append(_endpoint(Transport.UDP, sock))
            for host, port in secure_udp:
                sock = bind_socket(Transport.UDP, host, port, reuse_port=reuse_port)
                started.append(_endpoint(Transport.UDP, sock, "sudp"))
                await self._start_secure_udp(sock)
            for host, port in tcp:
                sock = bind_socket(Transport.TCP, host, port, reuse_port=reuse_port)
                tcp_server = await loop.create_server(self._new_connection, sock=sock, backlog=BACKLOG)
                self._tcp.append(tcp_server)
                started.append(_endpoint(Transport.TCP, sock))
            for host, port in tls:
                if self._tls_context is None:
                    raise ValueError("serving RRP/1 over TLS needs a certificate (Server(tls=...))")
                sock = bind_socket(Transport.TCP, host, port, reuse_port=reuse_port)
                tls_server = await loop.create_server(self._new_tls_connection, sock=sock, backlog=BACKLOG)
                self._tcp.append(tls_server)
                started.append(_endpoint(Transport.TCP, sock, "tls"))
        except BaseException:
            await self._close_sockets()
            raise
        self.endpoints.extend(started)
        return started

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, let requests in flight finish for up to ``grace`` seconds, then drop the rest."""
        grace = self.settings.grace if grace is None else grace
        self._shutting_down = True
        for tcp_server in self._tcp:
            tcp_server.close()
        for endpoint in self._udp:
            endpoint.stop()
        for connection in list(self._connections):
            connection.shutdown()
        self._check_drained()
        if self._drained is not None and not self._drained.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), grace)
        for connection in list(self._connections):
            connection.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_sockets()
        # Let the aborted transports deliver connection_lost before the loop goes away.
        await asyncio.sleep(0)
        self._log.flush()
        if self._own_sink is not None:
            self._own_sink.close()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    # --- called by the adapters ------------------------------------------------------------

    def _observe(self, events: list[ServerEvent]) -> None:
        """The cores' events: counted, and logged where the operator must hear of them."""
        self.counters.observe(events)
        self._log.observe(events, self.loop.time())

    def _carry_out(self, call: CallRequested, answer: Answer) -> None:
        """Have the application's async handler carry ``call`` out, tracked so that shutdown can wait for it."""
        self._track(self._run_call(call, answer))

    async def _run_call(self, call: CallRequested, answer: Answer) -> None:
        try:
            value = await self.dispatcher.start(call.operation, call.payload)
        except Exception as error:
            answer(call, None, error)
        else:
            answer(call, value, None)

    def _new_connection(self) -> TcpConnectionProtocol:
        return TcpConnectionProtocol(
            self.loop,
            self.tcp_core,
            self._observe,
            self._carry_out,
            self._connection_opened,
            self._connection_closed,
        )

    def _new_tls_connection(self) -> TlsAcceptor:
        assert self._tls_context is not None
        return TlsAcceptor(
            self.loop,
            self.tcp_core,
            self._tls_context,
            self._new_connection(),
            self._observe,
            self._track,
            self._handshakes,
        )

    def _track(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coroutine`` as a task that shutdown waits for (or cancels after its grace period)."""
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _connection_opened(self, connection: TcpConnectionProtocol) -> None:
        self._connections.add(connection)
        if connection.core is not None:
            self._by_core[connection.core] = connection
        if self._shutting_down:
            connection.shutdown()

    def _connection_reclaimed(self, core: TcpConnection) -> None:
        """``core``'s slot went to a newcomer: its adapter resets it now (TCP-SRV-13)."""
        connection = self._by_core.get(core)
        if connection is not None:
            connection.sync()
            return
        handshake = self._handshakes.get(core)
        if handshake is not None:
            handshake.reclaim()

    def _connection_closed(self, connection: TcpConnectionProtocol) -> None:
        self._connections.discard(connection)
        if connection.core is not None:
            self._by_core.pop(connection.core, None)
        self._check_drained()

    # --- internals --------------------------------------------------------------------------

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._check_drained()

    def _check_drained(self) -> None:
        if self._shutting_down and not self._connections and not self._tasks and self._drained is not None:
            self._drained.set()

    async def _start_secure_udp(self, sock: socket.socket) -> None:
        if not self._keys:
            sock.close()
            raise ValueError("serving RRP/1-S needs at least one key")
        contexts = {key_id: SecureContext.from_secret(secret, key_id) for key_id, secret in self._keys.items()}
        layer = SecureUdpServer(
            contexts, started=time.time(), sequences=self._sequences, dedup_window=self.settings.dedup_window
        )
        endpoint = SecureUdpEndpoint(self.loop, layer, self.udp_core, self._observe, self._carry_out)
        await self.loop.create_datagram_endpoint(lambda: endpoint, sock=sock)
        self._secure_udp.append(endpoint)

    async def _close_sockets(self) -> None:
        for secure in self._secure_udp:
            secure.close()
        self._secure_udp.clear()
        for endpoint in self._udp:
            endpoint.close()
        for tcp_server in self._tcp:
            tcp_server.close()
        self._udp.clear()
        self._tcp.clear()


def _endpoint(transport: Transport, sock: socket.socket, profile: str | None = None) -> Endpoint:
    name = sock.getsockname()
    return Endpoint(transport, str(name[0]), int(name[1]), profile)
