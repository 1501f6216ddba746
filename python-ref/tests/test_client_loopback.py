"""The client adapters and ``rrp call`` over real loopback sockets, against small hand-written fake servers.

This is the only client test file that opens sockets. Each fake server is a
thread with a socket on 127.0.0.0/8, closed in a ``finally``; timing assertions
have margins of a second or more because the machine is shared.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest

from rrp._aio.async_client import AsyncClient
from rrp._blocking.client import Client, call_many
from rrp._sansio.client_errors import (
    ConnectionClosed,
    ConnectionFailed,
    DeadlineExceeded,
    ErrorResult,
    GaveUp,
    ReplyRejected,
)
from rrp._sansio.client_events import ClientEvent, DatagramIgnored, IgnoreReason
from rrp_spec import (
    APPLICATION_RANGE_END,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_REPLY_TIMEOUT,
    HEADER_SIZE,
    MAX_UDP_PAYLOAD,
    UDP_RECEIVE_BUFFER_SIZE,
    Header,
    Op,
    Result,
    RetryPolicy,
    pack_reply,
    unpack_header,
)

LOOPBACK = "127.0.0.1"
OTHER_LOOPBACK = "127.0.0.2"
#: A quick schedule for tests: 0.05 s, 0.1 s, 0.2 s, no jitter.
QUICK = RetryPolicy(initial_timeout=0.05, max_timeout=0.2, max_attempts=3)
MARGIN = 1.5  # seconds of slack for a busy machine


def no_jitter() -> float:
    return 0.0


# --- fake UDP servers ---------------------------------------------------------------------

UdpResponder = Callable[["FakeUdpServer", bytes, tuple[str, int]], None]


class FakeUdpServer:
    """A UDP socket on loopback whose thread calls ``respond`` for every datagram it receives."""

    def __init__(self, respond: UdpResponder) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.received: list[tuple[float, bytes]] = []
        self._respond = respond
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(UDP_RECEIVE_BUFFER_SIZE)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append((time.monotonic(), data))
            self._respond(self, data, source)

    def reply(self, data: bytes, result: int = Result.OK, payload: bytes | None = None) -> bytes:
        request = unpack_header(data)
        return pack_reply(request, result, data[HEADER_SIZE:] if payload is None else payload)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@contextmanager
def udp_server(respond: UdpResponder) -> Iterator[FakeUdpServer]:
    server = FakeUdpServer(respond)
    server._thread.start()
    try:
        yield server
    finally:
        server.stop()


def echo(server: FakeUdpServer, data: bytes, source: tuple[str, int]) -> None:
    server.sock.sendto(server.reply(data), source)


def silent(server: FakeUdpServer, data: bytes, source: tuple[str, int]) -> None:
    """Never answers."""


def drop_first(count: int) -> UdpResponder:
    def respond(server: FakeUdpServer, data: bytes, source: tuple[str, int]) -> None:
        if len(server.received) > count:
            echo(server, data, source)

    return respond


def spoof_first(server: FakeUdpServer, data: bytes, source: tuple[str, int]) -> None:
    """A valid reply (right ID, right port) from 127.0.0.2 first, then the real one from 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spoofer:
        spoofer.bind((OTHER_LOOPBACK, server.port))
        spoofer.sendto(server.reply(data, payload=b"spoofed"), source)
    time.sleep(0.05)
    echo(server, data, source)


def wrong_id_first(server: FakeUdpServer, data: bytes, source: tuple[str, int]) -> None:
    request = unpack_header(data)
    stale = Header(operation=request.operation, request_id=request.request_id ^ 1)
    server.sock.sendto(pack_reply(stale, Result.OK, b"stale"), source)
    server.sock.sendto(b"garbage", source)
    echo(server, data, source)


def error_result(server: FakeUdpServer, data: bytes, source: tuple[str, int]) -> None:
    server.sock.sendto(server.reply(data, Result.MALFORMED), source)


def counter(server: FakeUdpServer, data: bytes, source: tuple[str, int]) -> None:
    server.sock.sendto(server.reply(data, payload=(1234).to_bytes(8, "big")), source)


# --- fake TCP servers ---------------------------------------------------------------------

TcpHandler = Callable[[socket.socket, threading.Event], None]


def read_request(conn: socket.socket) -> tuple[Header, bytes]:
    data = b""
    while len(data) < HEADER_SIZE or len(data) < HEADER_SIZE + unpack_header(data).size:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("client closed early")
        data += chunk
    return unpack_header(data), data[HEADER_SIZE:]


@contextmanager
def tcp_server(handle: TcpHandler) -> Iterator[int]:
    """A listening socket on loopback whose thread runs ``handle`` on each accepted connection, in turn."""
    listener = socket.create_server((LOOPBACK, 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, suppress(OSError):
                handle(conn, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def tcp_echo(conn: socket.socket, stop: threading.Event) -> None:
    while True:
        header, payload = read_request(conn)
        conn.sendall(pack_reply(header, Result.OK, payload))


def tcp_drip(conn: socket.socket, stop: threading.Event) -> None:
    """Sends the reply one byte per segment."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    header, payload = read_request(conn)
    for byte in pack_reply(header, Result.OK, payload):
        conn.send(bytes([byte]))
        time.sleep(0.002)
    stop.wait(2)


def tcp_close_mid_reply(conn: socket.socket, stop: threading.Event) -> None:
    header, payload = read_request(conn)
    conn.sendall(pack_reply(header, Result.OK, payload)[: HEADER_SIZE + 2])


def tcp_never_answer(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    stop.wait(10)


def tcp_wrong_id(conn: socket.socket, stop: threading.Event) -> None:
    header, payload = read_request(conn)
    other = Header(operation=header.operation, request_id=header.request_id ^ (1 << 63))
    conn.sendall(pack_reply(other, Result.OK, payload))
    stop.wait(2)


@contextmanager
def full_backlog() -> Iterator[int]:
    """A listener that never accepts, its queue already full, so a new connect hangs (Linux drops the SYN)."""
    listener = socket.create_server((LOOPBACK, 0), backlog=0)
    port: int = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            fillers.append(filler)
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect((LOOPBACK, port))
        time.sleep(0.05)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port


# --- blocking UDP --------------------------------------------------------------------------


def test_udp_round_trip() -> None:
    """CLI-2, CLI-3: a request goes out well formed and its reply comes back through a connected socket."""
    with udp_server(echo) as server, Client.udp(LOOPBACK, server.port) as client:
        reply = client.call(Op.ECHO, b"hello")
        assert (reply.payload, reply.result, reply.attempts) == (b"hello", Result.OK, 1)
        second = client.call(Op.ECHO, b"again")
        assert second.payload == b"again"
        assert second.request_id != reply.request_id
        sent = [unpack_header(data) for _, data in server.received]
        assert [h.request_id for h in sent] == [reply.request_id, second.request_id]


def test_reply_from_another_loopback_address_is_not_accepted() -> None:
    """UDP-CLI-1: a reply from 127.0.0.2 with the right ID and port is not the answer; the real one is."""
    with udp_server(spoof_first) as server, Client.udp(LOOPBACK, server.port) as client:
        assert client.call(Op.ECHO, b"real").payload == b"real"


def test_call_many_ignores_a_stranger_and_matches_replies_to_servers() -> None:
    """UDP-CLI-1, UDP-CLI-2: on an unconnected socket the core alone filters: 127.0.0.2 is reported and ignored."""
    events: list[ClientEvent] = []
    with udp_server(spoof_first) as first, udp_server(echo) as second, udp_server(silent) as third:
        outcomes = call_many(
            [(LOOPBACK, first.port), (LOOPBACK, second.port), (LOOPBACK, third.port)],
            Op.ECHO,
            b"real",
            policy=QUICK,
            on_event=events.append,
            jitter=no_jitter,
        )
    assert [o.server for o in outcomes] == [(LOOPBACK, first.port), (LOOPBACK, second.port), (LOOPBACK, third.port)]
    assert outcomes[0].reply is not None and outcomes[0].reply.payload == b"real"
    assert outcomes[1].reply is not None and outcomes[1].ok
    assert outcomes[2].reply is None and isinstance(outcomes[2].error, GaveUp)
    ignored = [e for e in events if isinstance(e, DatagramIgnored)]
    assert DatagramIgnored((OTHER_LOOPBACK, first.port), IgnoreReason.WRONG_SOURCE) in ignored


def test_wrong_id_and_garbage_are_ignored_and_the_real_reply_accepted() -> None:
    """UDP-CLI-2: a stale reply and a short datagram from the server itself do not end the exchange."""
    events: list[ClientEvent] = []
    with udp_server(wrong_id_first) as server, Client.udp(LOOPBACK, server.port, on_event=events.append) as client:
        assert client.call(Op.ECHO, b"real").payload == b"real"
    reasons = [e.reason for e in events if isinstance(e, DatagramIgnored)]
    assert reasons == [IgnoreReason.UNKNOWN_ID, IgnoreReason.MALFORMED]


def test_retransmits_the_same_bytes_after_drops() -> None:
    """UDP-CLI-3, UDP-CLI-4: two requests dropped; the third attempt, byte-for-byte the first, is answered."""
    with (
        udp_server(drop_first(2)) as server,
        Client.udp(LOOPBACK, server.port, policy=QUICK, jitter=no_jitter) as client,
    ):
        reply = client.call(Op.INCREMENT)
    assert reply.attempts == 3
    times = [t for t, _ in server.received]
    assert len({data for _, data in server.received}) == 1
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Arrival times are seen through a thread on a shared machine: loose bounds here; exact ones on simulated time.
    assert gaps[0] >= QUICK.base_timeout(1) / 2 and gaps[1] >= QUICK.base_timeout(2) / 2
    assert all(gap < MARGIN for gap in gaps)


def test_gives_up_on_schedule() -> None:
    """UDP-CLI-6: a server that never answers gets exactly max_attempts identical requests, then a clear error."""
    started = time.monotonic()
    with udp_server(silent) as server, Client.udp(LOOPBACK, server.port, policy=QUICK, jitter=no_jitter) as client:
        with pytest.raises(GaveUp) as caught:
            client.call(Op.NOOP)
        elapsed = time.monotonic() - started
        time.sleep(0.1)  # nothing more may arrive after giving up
        assert len(server.received) == QUICK.max_attempts
    assert QUICK.best_case_span() <= elapsed < QUICK.best_case_span() + MARGIN
    assert re.fullmatch(
        r"no reply after 3 attempts over 0\.[3-9]\d s|no reply after 3 attempts over 1\.\d\d s", str(caught.value)
    )


def test_icmp_port_unreachable_does_not_end_the_exchange() -> None:
    """UDP-CLI-2: a closed port's ICMP errors (forgeable) are reported, and the client retries until it gives up."""
    events: list[ClientEvent] = []
    port = closed_udp_port()
    with (
        Client.udp(LOOPBACK, port, policy=QUICK, jitter=no_jitter, on_event=events.append) as client,
        pytest.raises(GaveUp, match="no reply after 3 attempts"),
    ):
        client.call(Op.NOOP)
    unreachable = [e for e in events if isinstance(e, DatagramIgnored)]
    assert unreachable and all(e.reason is IgnoreReason.PORT_UNREACHABLE for e in unreachable)
    assert str(unreachable[0]) == f"ignored ICMP port unreachable for {LOOPBACK}:{port}"


def test_timeout_cuts_the_exchange_short() -> None:
    """UDP-CLI-6: a call's timeout ends the exchange before the schedule does."""
    slow = RetryPolicy(initial_timeout=1.0, max_timeout=2.0, max_attempts=5)
    with udp_server(silent) as server, Client.udp(LOOPBACK, server.port, policy=slow) as client:
        started = time.monotonic()
        with pytest.raises(GaveUp):
            client.call(Op.NOOP, timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 0.2 + MARGIN


def test_error_result_raises() -> None:
    """CLI-3: an error reply is the answer; call() reports it as ErrorResult, or returns it with check=False."""
    with udp_server(error_result) as server, Client.udp(LOOPBACK, server.port) as client:
        with pytest.raises(ErrorResult, match="server answered MALFORMED"):
            client.call(Op.ECHO, b"x")
        assert client.call(Op.ECHO, b"x", check=False).result == Result.MALFORMED


# --- blocking TCP --------------------------------------------------------------------------


def test_tcp_round_trip_and_reuse() -> None:
    """TCP-CLI-1: two calls on one connection, each with its own ID."""
    with tcp_server(tcp_echo) as port, Client.tcp(LOOPBACK, port) as client:
        assert client.call(Op.ECHO, b"one").payload == b"one"
        assert client.call(Op.ECHO, b"two" * 1000).payload == b"two" * 1000


def test_tcp_reply_one_byte_at_a_time() -> None:
    """TCP-CLI-1: a reply delivered one byte per segment is reassembled."""
    with tcp_server(tcp_drip) as port, Client.tcp(LOOPBACK, port) as client:
        assert client.call(Op.ECHO, b"dripping").payload == b"dripping"


def test_tcp_server_closing_mid_reply_is_a_clean_error() -> None:
    """TCP-CLI-4: the server closing after 22 bytes is ConnectionClosed, promptly, not a hang."""
    with tcp_server(tcp_close_mid_reply) as port, Client.tcp(LOOPBACK, port) as client:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed, match=f"after {HEADER_SIZE + 2} of {HEADER_SIZE + 5} reply bytes"):
            client.call(Op.ECHO, b"hello")
        assert time.monotonic() - started < MARGIN


def test_tcp_server_that_never_answers_is_abandoned_at_the_deadline() -> None:
    """TCP-CLI-2: the reply deadline bounds the wait, and the connection is abandoned."""
    with tcp_server(tcp_never_answer) as port, Client.tcp(LOOPBACK, port, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"no reply within 0\.30 s"):
            client.call(Op.NOOP)
        assert 0.3 <= time.monotonic() - started < 0.3 + MARGIN
        with pytest.raises(ConnectionFailed, match="abandoned"):
            client.call(Op.NOOP)


def test_tcp_reply_with_wrong_id_is_rejected() -> None:
    """TCP-CLI-3: a reply with another request ID is an error, not an answer, and the connection is dropped."""
    with (
        tcp_server(tcp_wrong_id) as port,
        Client.tcp(LOOPBACK, port) as client,
        pytest.raises(ReplyRejected, match="request_id"),
    ):
        client.call(Op.ECHO, b"x")


def test_tcp_connect_deadline() -> None:
    """TCP-CLI-2: a connect that never completes is abandoned at the connect deadline."""
    with full_backlog() as port:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"no connection within 0\.30 s"):
            Client.tcp(LOOPBACK, port, connect_timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 0.3 + MARGIN


def test_tcp_connection_refused() -> None:
    """TCP-CLI-2: a refused connection is reported at once as ConnectionFailed."""
    with pytest.raises(ConnectionFailed, match=r"cannot connect to 127\.0\.0\.1:\d+: .*refused"):
        Client.tcp(LOOPBACK, closed_port())


# --- asyncio -------------------------------------------------------------------------------


def test_async_udp_round_trip_and_retransmission() -> None:
    """UDP-CLI-3, UDP-CLI-4: the asyncio client retransmits the same bytes on the core's timer."""

    async def main() -> tuple[int, bytes]:
        async with AsyncClient.udp(LOOPBACK, server.port, policy=QUICK, jitter=no_jitter) as client:
            reply = await client.call(Op.ECHO, b"async")
            return reply.attempts, reply.payload

    with udp_server(drop_first(1)) as server:
        assert asyncio.run(main()) == (2, b"async")
        assert len({data for _, data in server.received}) == 1


def test_async_udp_gives_up() -> None:
    """UDP-CLI-6: the asyncio client gives up after max_attempts with the same wording."""

    async def main() -> None:
        async with AsyncClient.udp(LOOPBACK, server.port, policy=QUICK, jitter=no_jitter) as client:
            await client.call(Op.NOOP)

    with udp_server(silent) as server:
        with pytest.raises(GaveUp, match="no reply after 3 attempts over"):
            asyncio.run(main())
        assert len(server.received) == QUICK.max_attempts


def test_async_tcp_drip_close_and_deadline() -> None:
    """TCP-CLI-1, TCP-CLI-2, TCP-CLI-3, TCP-CLI-4: the asyncio TCP client reassembles, reports a close, bounds its
    connect and its wait, and rejects a mismatched reply."""

    async def call(
        port: int, timeout: float = DEFAULT_REPLY_TIMEOUT, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    ) -> bytes:
        async with AsyncClient.tcp(LOOPBACK, port, timeout=timeout, connect_timeout=connect_timeout) as client:
            return (await client.call(Op.ECHO, b"hello")).payload

    with tcp_server(tcp_drip) as port:
        assert asyncio.run(call(port)) == b"hello"
    with tcp_server(tcp_close_mid_reply) as port, pytest.raises(ConnectionClosed):
        asyncio.run(call(port))
    with tcp_server(tcp_never_answer) as port, pytest.raises(DeadlineExceeded, match="no reply"):
        asyncio.run(call(port, timeout=0.2))
    with full_backlog() as port, pytest.raises(DeadlineExceeded, match="no connection"):
        asyncio.run(call(port, connect_timeout=0.2))
    with tcp_server(tcp_wrong_id) as port, pytest.raises(ReplyRejected):
        asyncio.run(call(port))


# --- rrp call ------------------------------------------------------------------------------


def rrp_call(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rrp", "call", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_cli_echo_hex_and_increment() -> None:
    """CLI-2: rrp call prints the payload as text, as hex with --hex, and INCREMENT's counter in decimal."""
    with udp_server(echo) as server:
        url = f"udp://{LOOPBACK}:{server.port}"
        text = rrp_call(url, "echo", "héllo")
        hexed = rrp_call(url, "ECHO", "--payload-hex", "00ff10", "--hex")
        binary = rrp_call(url, "0x0001", "--payload-hex", "00ff10")
    assert (text.returncode, text.stdout, text.stderr) == (0, "héllo\n", "")
    assert (hexed.returncode, hexed.stdout) == (0, "00ff10\n")
    assert binary.stdout == "00ff10\n"
    with udp_server(counter) as server:
        inc = rrp_call(f"udp://{LOOPBACK}:{server.port}", "increment")
    assert (inc.returncode, inc.stdout) == (0, "1234\n")


def test_cli_tcp_round_trip() -> None:
    """TCP-CLI-1: rrp call over TCP with a reply that drips in byte by byte."""
    with tcp_server(tcp_drip) as port:
        done = rrp_call(f"tcp://{LOOPBACK}:{port}", "echo", "over tcp", "--timeout", "10")
    assert (done.returncode, done.stdout) == (0, "over tcp\n")


def test_cli_error_result_exit_1() -> None:
    """CLI-3: an error result exits 1 and names the result."""
    with udp_server(error_result) as server:
        done = rrp_call(f"udp://{LOOPBACK}:{server.port}", "echo", "x")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "error: server answered MALFORMED\n")


def test_cli_gives_up_exit_3_and_verbose_attempts() -> None:
    """UDP-CLI-6, UDP-CLI-4: -v shows each attempt and its wait; giving up exits 3 saying attempts and time."""
    with udp_server(silent) as server:
        done = rrp_call(f"udp://{LOOPBACK}:{server.port}", "noop", "--attempts", "2", "--initial-timeout", "0.05", "-v")
        assert len(server.received) == 2
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    assert re.fullmatch(r"attempt 1/2: waiting up to 0\.0[5-7] s", lines[0])
    assert re.fullmatch(r"attempt 2/2: waiting up to 0\.1[0-5] s", lines[1])
    assert re.fullmatch(r"error: no reply after 2 attempts over \d+\.\d\d s", lines[-1])


def test_cli_timeout_bounds_a_udp_call() -> None:
    """UDP-CLI-6: --timeout ends the exchange at the earlier of the schedule's end and S."""
    with udp_server(silent) as server:
        started = time.monotonic()
        done = rrp_call(
            f"udp://{LOOPBACK}:{server.port}",
            "noop",
            "--initial-timeout",
            "2",
            "--max-timeout",
            "2",
            "--timeout",
            "0.3",
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 3
    # The time reported is the time measured, which a loaded machine may stretch past 0.30 s.
    assert re.fullmatch(r"error: no reply after 1 attempt over (0\.[3-9]|[1-9]\.)\d s\n", done.stderr)
    assert elapsed < 0.3 + 5  # interpreter start-up included


def test_cli_verbose_reports_ignored_datagrams() -> None:
    """UDP-CLI-2: -v names every ignored datagram and why, then the reply is printed."""
    with udp_server(wrong_id_first) as server:
        done = rrp_call(f"udp://{LOOPBACK}:{server.port}", "echo", "real", "-v")
    assert done.returncode == 0 and done.stdout == "real\n"
    source = f"{LOOPBACK}:{server.port}"
    assert f"ignored datagram from {source}: unknown request ID (request ID 0x" in done.stderr
    assert f"ignored datagram from {source}: malformed reply (MSG-1: " in done.stderr


def test_cli_connection_failures_exit_4() -> None:
    """TCP-CLI-2, TCP-CLI-3, TCP-CLI-4: refused, closed mid-reply and a mismatched reply all exit 4."""
    refused = rrp_call(f"tcp://{LOOPBACK}:{closed_port()}", "noop")
    with tcp_server(tcp_close_mid_reply) as port:
        closed = rrp_call(f"tcp://{LOOPBACK}:{port}", "echo", "hello")
    with tcp_server(tcp_wrong_id) as port:
        mismatched = rrp_call(f"tcp://{LOOPBACK}:{port}", "echo", "hello")
    assert [refused.returncode, closed.returncode, mismatched.returncode] == [4, 4, 4]
    assert refused.stderr.startswith("error: cannot connect to 127.0.0.1:")
    assert closed.stderr.startswith("error: server closed the connection after")
    assert mismatched.stderr.startswith("error: server sent an unacceptable reply (SRV-12: request_id")


def test_cli_tcp_never_answering_exit_3() -> None:
    """TCP-CLI-2: --timeout is the whole call's deadline over TCP: for the reply and for the connect."""
    with tcp_server(tcp_never_answer) as port:
        done = rrp_call(f"tcp://{LOOPBACK}:{port}", "noop", "--timeout", "0.3")
    assert done.returncode == 3
    assert done.stderr.startswith("error: no reply within 0.")
    with full_backlog() as port:
        hung = rrp_call(f"tcp://{LOOPBACK}:{port}", "noop", "--timeout", "0.3")
    assert (hung.returncode, hung.stderr) == (3, "error: no connection within 0.30 s\n")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["http://127.0.0.1:1", "noop"], "unknown transport 'http'"),
        (["udp://127.0.0.1", "noop"], "is not a URL like udp://HOST:PORT"),
        (["udp://::1:7000", "noop"], "is not a URL like udp://HOST:PORT"),
        (["udp://127.0.0.1:70000", "noop"], "port 70000"),
        (["udp://127.0.0.1:7000", "frobnicate"], "operation 'frobnicate' is not noop|echo|increment or a number"),
        (
            ["udp://127.0.0.1:7000", str(APPLICATION_RANGE_END + 1)],
            f"operation {APPLICATION_RANGE_END + 1} is outside 0-{APPLICATION_RANGE_END}",
        ),
        (["udp://127.0.0.1:7000", "echo", "--payload-hex", "abc"], "'abc' is not hex bytes"),
        (["udp://127.0.0.1:7000", "echo", "x", "--payload-hex", "00"], "not both"),
        (["udp://127.0.0.1:7000", "noop", "--timeout", "-1"], "'-1' is not a positive number of seconds"),
        (["udp://127.0.0.1:7000", "noop", "--attempts", "0"], "'0' is not a whole number of at least 1"),
        (["udp://127.0.0.1:7000", "noop", "--initial-timeout", "3"], "--max-timeout (2 s) must be at least"),
        (["udp://127.0.0.1:7000", "echo", "--payload-hex", "00" * (MAX_UDP_PAYLOAD + 1)], "does not fit one datagram"),
        (["udp://127.0.0.1:7000", "noop", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_sentence(args: list[str], complaint: str) -> None:
    """CLI-2: bad input never reaches the wire: exit 2, one clear sentence, no traceback."""
    done = rrp_call(*args)
    assert done.returncode == 2
    assert complaint in done.stderr
    assert "Traceback" not in done.stderr
    assert re.match(r"rrp( call)?: error: ", done.stderr.strip().splitlines()[-1])


def test_cli_ipv6_url() -> None:
    """UDP-CLI-1: an IPv6 server in brackets works when the host has ::1."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this host")
    with sock:
        sock.settimeout(10)
        port = sock.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "rrp", "call", f"udp://[::1]:{port}", "echo", "six"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            data, source = sock.recvfrom(UDP_RECEIVE_BUFFER_SIZE)
            sock.sendto(pack_reply(unpack_header(data), Result.OK, data[HEADER_SIZE:]), source)
            out, _ = process.communicate(timeout=30)
        finally:
            process.kill()
            process.wait()
    assert (process.returncode, out) == (0, "six\n")
