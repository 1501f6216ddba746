"""The reference server over real loopback sockets: round trips, deadlines, limits, slow peers, source addresses.

The server runs on its own event loop in a thread; the tests are plain blocking
clients. Timing assertions have wide margins (the machine is small and shared):
a deadline of 1 s is checked to fire between 0.7 s and 4 s, "served promptly"
means well under the deadline that is being abused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rrp import Server, ServerSettings
from rrp._aio.server import Endpoint
from rrp._sansio.rejectlog import RateLimitedLog
from rrp_spec import (
    APPLICATION_RANGE_START,
    COUNTER_SIZE,
    HEADER_SIZE,
    UDP_RECEIVE_BUFFER_SIZE,
    Header,
    Op,
    Result,
    pack_header,
    pack_request,
    unpack_header,
)

LOOPBACK = "127.0.0.1"
REVERSE = APPLICATION_RANGE_START
ASYNC_UPPER = 0x8001
SLOW_UPPER = 0x8002
TIMEOUT = 10.0


class RunningServer:
    """A :class:`Server` on its own loop in a background thread."""

    def __init__(self, settings: ServerSettings, udp: list[tuple[str, int]], tcp: list[tuple[str, int]]) -> None:
        self.settings = settings
        self.log: list[str] = []
        self.server = Server(settings, log=RateLimitedLog(self.log.append, max_per_second=1000))
        self.server.register(REVERSE, lambda payload: payload[::-1])

        async def upper(payload: bytes) -> bytes:
            await asyncio.sleep(0.05)
            return payload.upper()

        async def slow_upper(payload: bytes) -> bytes:
            await asyncio.sleep(0.5)
            return payload.upper()

        self.server.register(ASYNC_UPPER, upper)
        self.server.register(SLOW_UPPER, slow_upper)
        self._udp, self._tcp = udp, tcp
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.endpoints: list[Endpoint] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                self.endpoints = await self.server.start(udp=self._udp, tcp=self._tcp)
            except BaseException as error:
                self._error = error
                self._ready.set()
                return
            self._ready.set()
            await self._stop.wait()
            await self.server.shutdown(grace=self.settings.grace)

        asyncio.run(main())

    def __enter__(self) -> RunningServer:
        self._thread.start()
        assert self._ready.wait(TIMEOUT), "server did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT + self.settings.grace)
        assert not self._thread.is_alive(), "server did not stop"

    def port(self, transport: str) -> int:
        return next(e.port for e in self.endpoints if e.transport == transport)

    def call_in_loop(self, fn: Any) -> Any:
        """Run ``fn()`` on the server's loop and return its result (for reading counters consistently)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(_call(fn), self._loop).result(TIMEOUT)

    def wait_until(self, condition: Any, what: str) -> None:
        """Wait until ``condition()``, read on the server's loop, holds (ordered by state, not by sleeps)."""
        deadline = time.monotonic() + TIMEOUT
        while not self.call_in_loop(condition):
            assert time.monotonic() < deadline, f"timed out waiting until {what}"
            time.sleep(0.005)


async def _call(fn: Any) -> Any:
    return fn()


@contextlib.contextmanager
def running(
    settings: ServerSettings | None = None,
    *,
    udp: list[tuple[str, int]] | None = None,
    tcp: list[tuple[str, int]] | None = None,
) -> Iterator[RunningServer]:
    server = RunningServer(
        settings or ServerSettings(request_deadline=1.0, grace=1.0),
        [(LOOPBACK, 0)] if udp is None else udp,
        [(LOOPBACK, 0)] if tcp is None else tcp,
    )
    with server:
        yield server


def _connect(port: int, source: str = LOOPBACK, host: str = LOOPBACK) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.bind((source, 0))
    sock.connect((host, port))
    return sock


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def _tcp_reply(sock: socket.socket) -> tuple[Header, bytes]:
    header = unpack_header(_recv_exact(sock, HEADER_SIZE))
    return header, _recv_exact(sock, header.size)


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _udp_call(port: int, datagram: bytes, host: str = LOOPBACK) -> tuple[bytes, tuple[str, int]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(datagram, (host, port))
        data, source = sock.recvfrom(UDP_RECEIVE_BUFFER_SIZE)
        return data, source


CASES = [
    (Op.NOOP, b"", Result.OK, b""),
    (Op.ECHO, bytes(range(256)) * 4, Result.OK, bytes(range(256)) * 4),
    (REVERSE, b"abc", Result.OK, b"cba"),
    (ASYNC_UPPER, b"abc", Result.OK, b"ABC"),
    (0x9999, b"x", Result.UNKNOWN_OPERATION, b""),
]


def test_round_trips_over_udp_and_tcp_for_every_operation() -> None:
    """SRV-6, SRV-9, SRV-10, SRV-11, SRV-12, TCP-SRV-2: each operation over both transports, sync and async handlers."""
    with running() as server:
        tcp = _connect(server.port("tcp"))
        with tcp:
            for request_id, (operation, payload, result, expected) in enumerate(CASES, start=1):
                data, _ = _udp_call(server.port("udp"), pack_request(operation, request_id, payload))
                header = unpack_header(data)
                assert (header.result, data[HEADER_SIZE:], header.request_id) == (result, expected, request_id)
                assert header.operation == operation and header.flags == 1
                tcp.sendall(pack_request(operation, request_id, payload))
                header, body = _tcp_reply(tcp)
                assert (header.result, body, header.request_id) == (result, expected, request_id)
            # INCREMENT: one counter for both transports.
            first, _ = _udp_call(server.port("udp"), pack_request(Op.INCREMENT, 100))
            tcp.sendall(pack_request(Op.INCREMENT, 101))
            _, second = _tcp_reply(tcp)
            assert int.from_bytes(first[HEADER_SIZE:], "big") + 1 == int.from_bytes(second, "big")
            assert len(second) == COUNTER_SIZE
            # Pipelined with an async handler first: replies still in order.
            tcp.sendall(pack_request(ASYNC_UPPER, 7, b"a") + pack_request(Op.ECHO, 8, b"b"))
            assert [_tcp_reply(tcp)[0].request_id for _ in range(2)] == [7, 8]


def test_garbage_from_one_peer_does_not_stop_service_to_others() -> None:
    """SRV-16, UDP-SRV-1, UDP-SRV-2, SRV-1, TCP-SRV-3: bad input is dropped or closed; the next client is served."""
    with running() as server:
        port = server.port("udp")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            for junk in (b"", b"R", b"XX" + bytes(18), pack_header(Header(flags=1, operation=0, request_id=1))):
                sock.sendto(junk, (LOOPBACK, port))
            with pytest.raises(TimeoutError):
                sock.recvfrom(100)
        bad = _connect(server.port("tcp"))
        with bad:
            bad.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _closed_by_peer(bad)
        data, _ = _udp_call(port, pack_request(Op.NOOP, 1))
        assert unpack_header(data).result == Result.OK
        good = _connect(server.port("tcp"))
        with good:
            good.sendall(pack_request(Op.NOOP, 2))
            assert _tcp_reply(good)[0].result == Result.OK
        rejected = server.call_in_loop(lambda: dict(server.server.counters.rejected))
        assert rejected["UDP-SRV-1"] == 2 and rejected["UDP-SRV-2"] == 1 and rejected["SRV-1"] == 1
        assert rejected["TCP-SRV-3"] == 1
        assert any("TCP-SRV-3" in line for line in server.log)


def test_short_request_is_answered_timeout_and_closed_at_the_deadline() -> None:
    """TCP-SRV-5: the header says 100 bytes, 10 arrive: TIMEOUT and a close at the 1 s deadline."""
    with running() as server, _connect(server.port("tcp")) as sock:
        start = time.monotonic()
        sock.sendall(pack_header(Header(operation=Op.ECHO, request_id=3, size=100)) + b"x" * 10)
        header, _ = _tcp_reply(sock)
        assert header.result == Result.TIMEOUT
        assert _closed_by_peer(sock)
        assert 0.7 < time.monotonic() - start < 4.0


def test_slow_drip_is_cut_off_at_the_whole_request_deadline_while_others_are_served() -> None:
    """TCP-SRV-5, TCP-SRV-8: one byte every 0.5 s is cut off 2 s after the first; another client is not delayed.

    The other client comes 0.5 s in: a server stuck on the slow sender would answer it 1.5 s later.
    """
    settings = ServerSettings(request_deadline=2.0, grace=1.0)
    with running(settings) as server, _connect(server.port("tcp")) as drip:
        request = pack_request(Op.ECHO, 1, b"z" * 30)
        start = time.monotonic()
        closed_at = None
        for i in range(len(request)):
            try:
                drip.sendall(request[i : i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            if i == 1:
                other_start = time.monotonic()
                with _connect(server.port("tcp")) as other:
                    other.sendall(pack_request(Op.NOOP, 2))
                    assert _tcp_reply(other)[0].result == Result.OK
                assert time.monotonic() - other_start < 0.9
            drip.settimeout(0.5)
            try:
                if drip.recv(1) == b"":
                    closed_at = time.monotonic()
                    break
            except TimeoutError:
                continue
        assert closed_at is not None, "the slow sender was never cut off"
        assert 1.7 < closed_at - start < 5.0


def test_oversized_request_is_answered_too_large_and_closed_without_reading_the_payload() -> None:
    """TCP-SRV-4, SRV-8: TOO_LARGE arrives even though the client keeps pushing payload; then the connection closes."""
    settings = ServerSettings(tcp_max_payload=1000, request_deadline=1.0, grace=1.0)
    with running(settings) as server, _connect(server.port("tcp")) as sock:
        sock.sendall(pack_header(Header(operation=Op.ECHO, request_id=9, size=1001)) + b"p" * 1001)
        header, body = _tcp_reply(sock)
        assert (header.result, header.request_id, body) == (Result.TOO_LARGE, 9, b"")
        assert _closed_by_peer(sock)


def test_two_hundred_idle_connections_do_not_delay_a_new_client() -> None:
    """TCP-SRV-8: 200 connections (half mid-header) sit open; a new client is answered at once."""
    with running() as server:
        port = server.port("tcp")
        # From four addresses, so that the per-source limit (64) is not what is being tested.
        idle = [_connect(port, source=f"127.0.0.{10 + i % 4}") for i in range(200)]
        try:
            for sock in idle[::2]:
                sock.sendall(b"RR\x01")
            start = time.monotonic()
            with _connect(port) as sock:
                sock.sendall(pack_request(Op.ECHO, 5, b"now"))
                assert _tcp_reply(sock)[1] == b"now"
            assert time.monotonic() - start < 1.0
        finally:
            for sock in idle:
                sock.close()


def test_idle_connection_is_closed_after_the_idle_timeout() -> None:
    """TCP-SRV-6: no request for idle_timeout seconds: the server closes."""
    settings = ServerSettings(idle_timeout=0.5, request_deadline=1.0, grace=1.0)
    with running(settings) as server, _connect(server.port("tcp")) as sock:
        sock.sendall(pack_request(Op.NOOP, 1))
        _tcp_reply(sock)
        start = time.monotonic()
        assert _closed_by_peer(sock)
        assert 0.3 < time.monotonic() - start < 4.0


def test_connection_limit_counts_stalled_connections_from_accept() -> None:
    """TCP-SRV-7, TCP-SRV-11: three connections that never send a byte fill a limit of 3; the fourth gets BUSY."""
    settings = ServerSettings(max_connections=3, max_busy_connections=1, request_deadline=1.0, grace=1.0)
    with running(settings) as server:
        port = server.port("tcp")
        stalled = [_connect(port) for _ in range(3)]
        try:
            server.wait_until(lambda: server.server.open_connections == 3, "the server has accepted all three")
            with _connect(port) as fourth:
                fourth.sendall(pack_request(Op.NOOP, 4))
                assert _tcp_reply(fourth)[0].result == Result.BUSY
                assert _closed_by_peer(fourth)
            with _connect(port) as busy_slot, _connect(port) as refused:
                # One BUSY slot: the second over-limit connection is refused outright.
                assert _closed_by_peer(refused)
                busy_slot.sendall(pack_request(Op.NOOP, 5))
                assert _tcp_reply(busy_slot)[0].result == Result.BUSY
        finally:
            for sock in stalled:
                sock.close()
        server.wait_until(lambda: server.server.open_connections == 0, "the server has seen every close")
        with _connect(port) as after:
            after.sendall(pack_request(Op.NOOP, 6))
            assert _tcp_reply(after)[0].result == Result.OK, "slots free up when connections close"


def test_per_source_limit_keeps_one_host_from_taking_every_slot() -> None:
    """TCP-SRV-12: 4 connections from 127.0.0.2 fill its share; its 5th gets BUSY while 127.0.0.1 is served."""
    settings = ServerSettings(max_connections_per_source=4, request_deadline=1.0, grace=1.0)
    with running(settings) as server:
        port = server.port("tcp")
        attackers = [_connect(port, source="127.0.0.2") for _ in range(4)]
        try:
            server.wait_until(lambda: server.server.open_connections == 4, "the server has accepted all four")
            with _connect(port, source="127.0.0.2") as fifth:
                fifth.sendall(pack_request(Op.NOOP, 5))
                assert _tcp_reply(fifth)[0].result == Result.BUSY
            start = time.monotonic()
            with _connect(port, source="127.0.0.1") as honest:
                honest.sendall(pack_request(Op.NOOP, 6))
                assert _tcp_reply(honest)[0].result == Result.OK
            assert time.monotonic() - start < 1.0
        finally:
            for sock in attackers:
                sock.close()


def test_a_fresh_client_is_served_while_other_networks_hold_every_slot() -> None:
    """TCP-SRV-13: two networks hold all four slots; a newcomer from a third is served, and one held connection
    (the oldest of a largest network) is reset to make room."""
    settings = ServerSettings(max_connections=4, max_connections_per_source=2, request_deadline=1.0, grace=1.0)
    with running(settings) as server:
        port = server.port("tcp")
        held = [_connect(port, source=source) for source in ("127.1.0.1", "127.1.0.1", "127.2.0.1", "127.2.0.1")]
        try:
            for n, sock in enumerate(held):
                sock.sendall(pack_request(Op.NOOP, n + 1))
                assert _tcp_reply(sock)[0].result == Result.OK
            with _connect(port) as honest:
                honest.sendall(pack_request(Op.NOOP, 9))
                assert _tcp_reply(honest)[0].result == Result.OK
            assert _closed_by_peer(held[0]), "the oldest connection of a largest network gave up its slot"
            held[1].sendall(pack_request(Op.NOOP, 10))
            assert _tcp_reply(held[1])[0].result == Result.OK, "the others are untouched"
        finally:
            for sock in held:
                sock.close()


def test_pipelined_requests_to_an_async_handler_start_a_bounded_number_of_coroutines() -> None:
    """TCP-SRV-2: 300 pipelined requests to a slow async handler run at most max_unanswered_requests at once.

    Without the bound every request read would start a coroutine at once: memory grows
    with whatever a client sends. With it, reading pauses and every reply still comes, in order.
    """
    limit, count, tracked_op = 8, 300, 0x8010
    active = peak = 0

    async def tracked(payload: bytes) -> bytes:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return payload

    settings = ServerSettings(max_unanswered_requests=limit, request_deadline=1.0, grace=1.0)
    server = RunningServer(settings, [], [(LOOPBACK, 0)])
    server.server.register(tracked_op, tracked)
    with server, _connect(server.port("tcp")) as sock:
        sock.sendall(b"".join(pack_request(tracked_op, n, n.to_bytes(4, "big")) for n in range(1, count + 1)))
        for n in range(1, count + 1):
            header, payload = _tcp_reply(sock)
            assert (header.request_id, header.result, payload) == (n, Result.OK, n.to_bytes(4, "big"))
        assert server.call_in_loop(lambda: peak) <= limit


def _peer_still_established(sock: socket.socket) -> bool:
    """Whether this end's kernel still has the connection ESTABLISHED (Linux TCP_INFO, first byte)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == 1  # TCP_ESTABLISHED


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="needs Linux TCP_INFO to see a close without reading")
def test_slow_reader_is_dropped_after_the_send_timeout() -> None:
    """TCP-SRV-10: a client that floods requests and never reads replies sees its connection reset.

    Asserted from the client's side: a server that only closes its socket leaves the
    kernel holding the unsent replies in FIN-WAIT-1, and the client stays connected.
    """
    send_timeout = 1.0
    settings = ServerSettings(
        send_timeout=send_timeout,
        max_buffered_reply_bytes=64 * 1024,
        idle_timeout=30.0,
        # Shorter than the send timeout: the request cut short by the paused reading times
        # out first, and the connection is closed while unsent replies still wait.
        request_deadline=0.5,
        grace=1.0,
    )
    with running(settings) as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((LOOPBACK, server.port("tcp")))
        sock.setblocking(False)
        request = pack_request(Op.ECHO, 1, b"r" * 60_000)
        with sock:
            blocked_since = None
            pending = memoryview(request)
            for _ in range(100_000):  # bounded: the kernel buffers fill long before this
                try:
                    sent = sock.send(pending)
                except BlockingIOError:
                    blocked_since = blocked_since or time.monotonic()
                    if time.monotonic() - blocked_since > 0.3:
                        break
                    time.sleep(0.01)
                    continue
                except OSError:
                    break  # already dropped
                blocked_since = None
                pending = pending[sent:] if sent < len(pending) else memoryview(request)
            stalled_at = blocked_since or time.monotonic()
            bound = send_timeout + settings.request_deadline + 2.0
            while _peer_still_established(sock) and time.monotonic() - stalled_at < bound:
                time.sleep(0.02)
            assert not _peer_still_established(sock), "the slow reader is still connected"
        assert server.call_in_loop(lambda: server.server.open_connections) == 0


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="needs Linux TCP_INFO to see a close without reading")
def test_idle_timeout_drops_a_peer_that_left_replies_unread() -> None:
    """TCP-SRV-6: a peer that never read its replies is reset at the idle timeout, not left connected.

    The replies fit the kernel's buffers, so no write ever blocks (TCP-SRV-10 has nothing to
    do); a graceful close would queue the FIN behind them and the peer would stay ESTABLISHED.
    """
    settings = ServerSettings(idle_timeout=0.5, send_timeout=5.0, request_deadline=1.0, grace=1.0)
    with running(settings) as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with sock:
            sock.connect((LOOPBACK, server.port("tcp")))
            sock.sendall(b"".join(pack_request(Op.ECHO, n, b"u" * 1000) for n in range(1, 11)))
            start = time.monotonic()
            while _peer_still_established(sock) and time.monotonic() - start < 5.0:
                time.sleep(0.02)
            assert not _peer_still_established(sock), "still connected after the idle timeout"
            assert time.monotonic() - start < settings.idle_timeout + 2.0


def test_wildcard_bound_udp_answers_from_the_address_the_request_was_sent_to() -> None:
    """UDP-SRV-6: bound to 0.0.0.0, a request to 127.0.0.2 is answered from 127.0.0.2, not 127.0.0.1."""
    with running(udp=[("0.0.0.0", 0)], tcp=[]) as server:
        port = server.port("udp")
        for destination in ("127.0.0.2", "127.0.0.1"):
            data, source = _udp_call(port, pack_request(Op.ECHO, 1, b"src"), host=destination)
            assert source == (destination, port)
            assert data[HEADER_SIZE:] == b"src"
        async_data, async_source = _udp_call(port, pack_request(ASYNC_UPPER, 2, b"a"), host="127.0.0.2")
        assert async_source == ("127.0.0.2", port) and async_data[HEADER_SIZE:] == b"A"


@pytest.mark.needs_ipv6_loopback
def test_wildcard_bound_udp_over_ipv6_answers_from_the_destination_address() -> None:
    """UDP-SRV-6: bound to ::, a request to ::1 is answered from ::1 (IPV6_PKTINFO path)."""
    with running(udp=[("::", 0)], tcp=[("::1", 0)]) as server:
        assert str(server.endpoints[1]).startswith("tcp [::1]:")
        port = server.port("udp")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.sendto(pack_request(Op.ECHO, 1, b"six"), ("::1", port))
            data, source = sock.recvfrom(100)
        assert source[:2] == ("::1", port)
        assert data[HEADER_SIZE:] == b"six"


def test_udp_retransmission_is_answered_from_the_cache_over_the_wire() -> None:
    """UDP-SRV-7: the same INCREMENT datagram twice from one socket gets the same counter value."""
    with running() as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        request = pack_request(Op.INCREMENT, 77)
        replies = []
        for _ in range(2):
            sock.sendto(request, (LOOPBACK, server.port("udp")))
            replies.append(sock.recvfrom(100)[0])
        assert replies[0] == replies[1]


def test_shutdown_lets_a_request_in_flight_finish() -> None:
    """Graceful shutdown: the async handler running when shutdown starts still gets its reply out."""
    server = RunningServer(ServerSettings(grace=2.0), [], [(LOOPBACK, 0)])
    with server:
        sock = _connect(server.port("tcp"))
        sock.sendall(pack_request(SLOW_UPPER, 3, b"late"))
        # Received and its handler running (it takes 0.5 s) when shutdown starts.
        server.wait_until(lambda: server.server.counters.requests[SLOW_UPPER] == 1, "the slow request is running")
    with sock:
        header, body = _tcp_reply(sock)
        assert (header.result, body) == (Result.OK, b"LATE")
        assert _closed_by_peer(sock)
