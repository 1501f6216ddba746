"""The asyncio client, the same shape as the blocking one: ``async with AsyncClient.udp(h, p) as c: await c.call(...)``.

Like :mod:`rrp._blocking.client` it only moves bytes and arms timers; the sans-IO cores
decide. Over UDP the adapter follows aioquic: each datagram and each timer
firing is handed to the :class:`~rrp._sansio.udp_exchange.UdpExchange` with
``loop.time()``, whatever it produced is transmitted, and one ``loop.call_at``
is re-armed only when the core's deadline changed. One call at a time per
client: concurrent calls wait their turn, so a reply is never routed to the
wrong exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from types import TracebackType
from typing import Self

from rrp_spec import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_REPLY_TIMEOUT,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TCP_MAX_PAYLOAD,
    RetryPolicy,
)

from .._sansio.addresses import Address, address_key, format_address
from .._sansio.client_errors import ConnectionFailed, DeadlineExceeded, ErrorResult, GaveUp, RrpError
from .._sansio.client_events import Connected, DatagramIgnored, EventObserver, IgnoreReason, RequestSent, ignore_event
from .._sansio.reply import Reply
from .._sansio.request_ids import RequestIdSource, new_request_id
from .._sansio.tcp_reply_reader import TcpReplyReader
from .._sansio.udp_exchange import JitterSource, UdpExchange, build_request

_READ_CHUNK = 1 << 16


class _UdpCallDriver:
    """Runs one UdpExchange on the event loop until it finishes."""

    def __init__(self, transport: asyncio.DatagramTransport, exchange: UdpExchange, on_event: EventObserver) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport, self._exchange, self._on_event = transport, exchange, on_event
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        #: Resolved when the exchange is over (answered or given up).
        self.finished: asyncio.Future[None] = self._loop.create_future()

    def start(self) -> None:
        self._exchange.start(self._loop.time())
        self._service()

    def datagram_received(self, data: bytes, source: tuple[object, ...]) -> None:
        self._exchange.receive_datagram(data, source, self._loop.time())
        self._service()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        # Forget the armed deadline: asyncio may fire a hair early, and the core then needs the same timer again.
        self._timer, self._timer_at = None, None
        self._exchange.handle_timer(self._loop.time())
        self._service()

    def _service(self) -> None:
        for data, _ in self._exchange.datagrams_to_send():
            self._transport.sendto(data)  # the socket is connected to the server
        while (event := self._exchange.next_event()) is not None:
            self._on_event(event)
        if self._exchange.finished:
            self.stop()
            if not self.finished.done():
                self.finished.set_result(None)
            return
        deadline = self._exchange.get_timer()
        if deadline != self._timer_at:
            self.stop()
            if deadline is not None:
                self._timer = self._loop.call_at(deadline, self._fire)
            self._timer_at = deadline


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: Address, on_event: EventObserver) -> None:
        self._server, self._on_event = server, on_event
        self.current: _UdpCallDriver | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.current is not None:
            self.current.datagram_received(data, addr)
        else:
            self._on_event(DatagramIgnored(address_key(addr), IgnoreReason.LATE))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors can be forged and must not end an exchange (UDP-CLI-2); they are only reported.
        self._on_event(DatagramIgnored(self._server, IgnoreReason.PORT_UNREACHABLE, str(exc)))


class _AsyncUdp:
    def __init__(
        self,
        host: str,
        port: int,
        policy: RetryPolicy,
        request_ids: RequestIdSource,
        jitter: JitterSource,
        on_event: EventObserver,
    ) -> None:
        self._host, self._port = host, port
        self._policy, self._request_ids, self._jitter, self._on_event = policy, request_ids, jitter, on_event
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _UdpProtocol | None = None
        self._server: Address = ("", 0)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as error:
            raise ConnectionFailed(f"cannot resolve {self._host!r}: {error}") from None
        family, _, _, _, sockaddr = infos[0]
        self._server = address_key(sockaddr)
        server = self._server
        try:
            self._transport, self._protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(server, self._on_event), remote_addr=server, family=family
            )
        except OSError as error:
            raise ConnectionFailed(f"cannot reach {format_address(server)}: {error.strerror}") from None

    async def call(self, operation: int, payload: bytes, timeout: float | None) -> Reply:
        assert self._transport is not None and self._protocol is not None, "open() first"
        exchange = UdpExchange(
            self._server,
            operation,
            payload,
            policy=self._policy,
            request_ids=self._request_ids,
            jitter=self._jitter,
            give_up_after=timeout,
        )
        driver = _UdpCallDriver(self._transport, exchange, self._on_event)
        self._protocol.current = driver
        try:
            driver.start()
            await driver.finished
        finally:
            driver.stop()
            self._protocol.current = None
        outcome = exchange.outcome
        if isinstance(outcome, GaveUp):
            raise GaveUp(outcome.attempts, outcome.elapsed)
        assert outcome is not None, "a finished exchange has an outcome"
        return outcome

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _AsyncTcp:
    def __init__(
        self,
        host: str,
        port: int,
        connect_timeout: float,
        reply_timeout: float,
        request_ids: RequestIdSource,
        max_reply_payload: int,
        on_event: EventObserver,
    ) -> None:
        self._host, self._port, self._connect_timeout = host, port, connect_timeout
        self._reply_timeout, self._request_ids, self._on_event = reply_timeout, request_ids, on_event
        self._reader = TcpReplyReader(max_reply_payload)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._server: Address = ("", 0)
        self._broken = False

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self._connect_timeout):
                self._streams = await asyncio.open_connection(self._host, self._port)
        except TimeoutError:
            raise DeadlineExceeded("connection", self._connect_timeout) from None
        except OSError as error:
            host = f"[{self._host}]" if ":" in self._host else self._host
            raise ConnectionFailed(f"cannot connect to {host}:{self._port}: {error.strerror or error}") from None
        self._server = address_key(self._streams[1].get_extra_info("peername"))
        self._on_event(Connected(self._server, loop.time() - started))

    async def call(self, operation: int, payload: bytes, timeout: float | None) -> Reply:
        assert self._streams is not None, "open() first"
        if self._broken:
            raise ConnectionFailed("the connection was abandoned after an earlier error")
        reader, writer = self._streams
        timeout = self._reply_timeout if timeout is None else timeout
        request, data = build_request(operation, payload, self._request_ids())
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._reader.expect(request)
        try:
            async with asyncio.timeout(timeout):
                writer.write(data)
                await writer.drain()
                self._on_event(RequestSent(self._server, request.request_id, timeout))
                while (message := self._reader.next_reply()) is None:
                    self._reader.receive_data(await reader.read(_READ_CHUNK))
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
        return Reply(header.operation, header.result, message.payload, header.request_id, 1, loop.time() - started)

    def _abandon(self) -> None:
        # The stream's framing is unknown after a timeout or a bad reply (TCP-CLI-3): drop the connection.
        self._broken = True
        if self._streams is not None:
            self._streams[1].close()

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            writer.close()
            with contextlib.suppress(OSError):  # a reset while closing changes nothing for us
                await writer.wait_closed()


class AsyncClient:
    """An asyncio RRP client over one UDP socket or one TCP connection.

    Make one with :meth:`udp` or :meth:`tcp` and enter it with ``async with``
    (which opens the socket). Calls on one client run one at a time.
    """

    def __init__(self, transport: _AsyncUdp | _AsyncTcp) -> None:
        """Use :meth:`udp` or :meth:`tcp`."""
        self._transport = transport
        self._lock = asyncio.Lock()

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
    ) -> AsyncClient:
        """A client of the UDP server at ``host``:``port``, retransmitting per ``policy``."""
        return cls(_AsyncUdp(host, port, policy, request_ids, jitter, on_event))

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
    ) -> AsyncClient:
        """A client of the TCP server at ``host``:``port``; connects on entry, within ``connect_timeout``."""
        return cls(_AsyncTcp(host, port, connect_timeout, timeout, request_ids, max_reply_payload, on_event))

    async def open(self) -> None:
        """Open the socket (``async with`` does this)."""
        await self._transport.open()

    async def call(
        self, operation: int, payload: bytes = b"", *, timeout: float | None = None, check: bool = True
    ) -> Reply:
        """Send one request and return its reply; the same contract as :meth:`rrp._blocking.client.Client.call`."""
        async with self._lock:
            reply = await self._transport.call(operation, payload, timeout)
        if check and not reply.ok:
            raise ErrorResult(reply.result, reply.operation)
        return reply

    async def close(self) -> None:
        """Close the socket."""
        await self._transport.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()
