"""The UDP adapter over real loopback sockets: batched receive (``recvmmsg``), segmented replies (UDP GSO), and the
standard-library paths they fall back to, which must all answer exactly the same."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import itertools
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from rrp import ServerSettings, UdpServerCore
from rrp._aio import udp_mmsg
from rrp._aio.udp_endpoint import BATCH, UdpEndpoint
from rrp._aio.udp_replies import MAX_SEGMENT_SIZE, REFUSALS_BEFORE_OFF, SOL_UDP, UDP_SEGMENT, ReplySender
from rrp._sansio.counters import ServerCounters
from rrp._sansio.dispatch import Dispatcher
from rrp._sansio.server_events import Answer, CallRequested, DropReason
from rrp_spec import (
    APPLICATION_RANGE_START,
    HEADER_SIZE,
    MAX_UDP_DATAGRAM,
    UDP_RECEIVE_BUFFER_SIZE,
    Op,
    Result,
    pack_reply,
    pack_request,
    unpack_header,
)

LOOPBACK = "127.0.0.1"
UPPER = APPLICATION_RANGE_START
ASYNC_UPPER = APPLICATION_RANGE_START + 1
FAILING = APPLICATION_RANGE_START + 2
TIMEOUT = 5.0
#: Large enough for a few hundred small datagrams waiting at once.
RCVBUF = 1 << 22

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="recvmmsg and UDP GSO are Linux's")
#: Every combination of the fast paths and their fallbacks.
_NEEDS_RECVMMSG = pytest.mark.skipif(not udp_mmsg.available(), reason="no recvmmsg here")
PATHS = pytest.mark.parametrize(
    ("batched_receive", "gso"),
    [
        pytest.param(True, True, id="recvmmsg+gso", marks=_NEEDS_RECVMMSG),
        pytest.param(True, False, id="recvmmsg", marks=_NEEDS_RECVMMSG),
        pytest.param(False, True, id="recvfrom+gso"),
        pytest.param(False, False, id="recvfrom"),
    ],
)


class CountingSocket(socket.socket):
    """A UDP socket that counts its sends and can refuse segmented ones, as a kernel without GSO would."""

    def __init__(self, family: int = socket.AF_INET, *, refuse_gso: int | None = None) -> None:
        super().__init__(family, socket.SOCK_DGRAM)
        self.refuse_gso = refuse_gso
        self.segmented_sends = 0
        self.single_sends = 0

    def sendto(self, data: Any, *args: Any) -> int:
        self.single_sends += 1
        return super().sendto(data, *args)

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        if any(level == SOL_UDP and kind == UDP_SEGMENT for level, kind, _ in ancdata):
            self.segmented_sends += 1
            if self.refuse_gso is not None:
                raise OSError(self.refuse_gso, "segmentation refused (test)")
        else:
            self.single_sends += 1
        return super().sendmsg(buffers, ancdata, flags, address)


def _core() -> UdpServerCore:
    dispatcher = Dispatcher()
    dispatcher.register(UPPER, lambda payload: payload.upper())

    async def upper_later(payload: bytes) -> bytes:
        await asyncio.sleep(0.01)
        return payload.upper()

    def failing(payload: bytes) -> bytes:
        raise KeyError("internal detail")

    dispatcher.register(ASYNC_UPPER, upper_later)
    dispatcher.register(FAILING, failing)
    return UdpServerCore(ServerSettings(), dispatcher)


def _socket(host: str = LOOPBACK, sock: socket.socket | None = None) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = sock or socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.bind((host, 0))
    return sock


def _client(host: str = LOOPBACK) -> socket.socket:
    client = _socket(host)
    client.setblocking(False)
    return client


class Harness:
    """One :class:`UdpEndpoint` on the running loop, its core, its counters, and the calls it had carried out."""

    def __init__(self, sock: socket.socket, *, batched_receive: bool | None = None, gso: bool | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.core = _core()
        self.counters = ServerCounters()
        self.tasks: list[asyncio.Task[Any]] = []
        self.endpoint = UdpEndpoint(
            self.loop, sock, self.core, self.counters.observe, self._carry_out, batched_receive=batched_receive, gso=gso
        )
        self.port: int = sock.getsockname()[1]

    def _carry_out(self, call: CallRequested, answer: Answer) -> None:
        async def run() -> None:
            try:
                value = await self.core.dispatcher.start(call.operation, call.payload)
            except Exception as error:
                answer(call, None, error)
            else:
                answer(call, value, None)

        self.tasks.append(self.loop.create_task(run()))


async def _collect(client: socket.socket, count: int, timeout: float = TIMEOUT) -> list[tuple[bytes, Any]]:
    """``count`` datagrams from ``client`` (fewer if they do not come within ``timeout``), with their sources."""
    received: list[tuple[bytes, Any]] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        try:
            received.append(client.recvfrom(UDP_RECEIVE_BUFFER_SIZE))
        except BlockingIOError:
            await asyncio.sleep(0.002)
    return received


async def _quiet(client: socket.socket, wait: float = 0.1) -> list[bytes]:
    """Whatever else arrives at ``client`` within ``wait`` seconds (should be nothing)."""
    extra = await _collect(client, 1, wait)
    return [data for data, _ in extra]


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]


def _by_id(replies: list[tuple[bytes, Any]]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for data, _ in replies:
        request_id = unpack_header(data).request_id
        assert request_id not in found, f"two replies to request {request_id}"
        found[request_id] = data
    return found


@PATHS
def test_a_burst_from_two_clients_is_answered_once_each_and_correctly(batched_receive: bool, gso: bool) -> None:
    """Requests queued before the endpoint reads (so they arrive in batches) all get their own, right reply."""

    async def test() -> None:
        harness = Harness(_socket(), batched_receive=batched_receive, gso=gso)
        assert harness.endpoint.batched_receive is batched_receive
        clients = [_client(), _client()]
        expected: list[dict[int, bytes]] = [{}, {}]
        requests: dict[int, bytes] = {}
        for request_id in range(1, 181):
            # Runs of equal sizes (segmentable), size changes, both clients interleaved in small runs.
            which = (request_id // 7) % 2
            payload = bytes([97 + request_id % 26]) * (16 if request_id % 50 < 30 else request_id % 50)
            operation = Op.ECHO if request_id % 3 else UPPER
            requests[request_id] = pack_request(operation, request_id, payload)
            clients[which].sendto(requests[request_id], (LOOPBACK, harness.port))
            expected[which][request_id] = payload if operation == Op.ECHO else payload.upper()
        clients[0].sendto(b"short", (LOOPBACK, harness.port))  # invalid: silently dropped (UDP-SRV-1)
        harness.endpoint.start()
        for client, wanted in zip(clients, expected, strict=True):
            replies = _by_id(await _collect(client, len(wanted)))
            assert {request_id: data[HEADER_SIZE:] for request_id, data in replies.items()} == wanted
            assert all(unpack_header(data).result == Result.OK for data in replies.values())
            assert await _quiet(client) == []
        # A retransmission of an application request gets the cached reply (UDP-SRV-7), once.
        clients[0].sendto(requests[3], (LOOPBACK, harness.port))
        (again,) = await _collect(clients[0], 1)
        assert again[0][HEADER_SIZE:] == expected[0][3]
        assert harness.counters.dedup_hits == 1
        assert harness.counters.drops[DropReason.SEND_FAILED] == 0
        harness.endpoint.close()
        for client in clients:
            client.close()

    _run(test)


@linux_only
def test_a_run_of_equal_replies_to_one_client_goes_out_in_one_segmented_send() -> None:
    """64 same-size replies to one client: one or two ``sendmsg`` with UDP_SEGMENT, 64 separate datagrams arrive."""

    async def test() -> None:
        sock = _socket(sock=CountingSocket())
        assert isinstance(sock, CountingSocket)
        harness = Harness(sock, gso=True)
        client = _client()
        for request_id in range(1, 65):
            client.sendto(pack_request(Op.ECHO, request_id, bytes([request_id]) * 40), (LOOPBACK, harness.port))
        harness.endpoint.start()
        replies = await _collect(client, 64)
        assert len(replies) == 64 and {len(data) for data, _ in replies} == {HEADER_SIZE + 40}
        assert all(source == (LOOPBACK, harness.port) for _, source in replies)
        assert {unpack_header(data).request_id: data[-1] for data, _ in replies} == {i: i for i in range(1, 65)}
        if not harness.endpoint.gso:
            pytest.skip("this kernel refused UDP_SEGMENT")
        # Some of the 64 may have been read in an earlier round, but never one send each.
        assert 1 <= sock.segmented_sends <= 8 and sock.single_sends < 32
        harness.endpoint.close()
        client.close()

    _run(test)


@linux_only
def test_segmented_replies_carry_the_source_address_control_message_too() -> None:
    """UDP-SRV-6 and GSO together: a run of replies to a request sent to 127.0.0.2 leaves, segmented, from it."""

    async def test() -> None:
        sock = _socket("0.0.0.0", CountingSocket())
        assert isinstance(sock, CountingSocket)
        harness = Harness(sock, gso=True)
        client = _client()
        for request_id in range(1, 33):
            client.sendto(pack_request(Op.ECHO, request_id, b"two" * 10), ("127.0.0.2", harness.port))
        harness.endpoint.start()
        replies = await _collect(client, 32)
        assert len(_by_id(replies)) == 32
        assert all(source == ("127.0.0.2", harness.port) for _, source in replies)
        if not harness.endpoint.gso:
            pytest.skip("this kernel refused UDP_SEGMENT")
        assert sock.segmented_sends >= 1 and sock.single_sends < 16
        harness.endpoint.close()
        client.close()

    _run(test)


@pytest.mark.parametrize("refusal", [errno.EIO, errno.EINVAL, errno.ENOPROTOOPT])
def test_when_the_kernel_refuses_segmentation_the_replies_go_out_one_by_one(refusal: int) -> None:
    async def test() -> None:
        sock = _socket(sock=CountingSocket(refuse_gso=refusal))
        assert isinstance(sock, CountingSocket)
        harness = Harness(sock, gso=True)
        client = _client()
        for request_id in range(1, 41):
            client.sendto(pack_request(Op.ECHO, request_id, b"x" * 30), (LOOPBACK, harness.port))
        harness.endpoint.start()
        replies = _by_id(await _collect(client, 40))
        assert sorted(replies) == list(range(1, 41))
        assert sock.segmented_sends >= 1
        assert harness.counters.drops[DropReason.SEND_FAILED] == 0
        harness.endpoint.close()
        client.close()

    _run(test)


class RouteRefusingSocket(socket.socket):
    """Refuses segmented sends to one port only, as a route with an IPsec policy or a forged tiny MTU would."""

    def __init__(self, refused_port: int) -> None:
        super().__init__(socket.AF_INET, socket.SOCK_DGRAM)
        self.refused_port = refused_port

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        segmented = any(level == SOL_UDP and kind == UDP_SEGMENT for level, kind, _ in ancdata)
        if segmented and address is not None and address[1] == self.refused_port:
            raise OSError(errno.EINVAL, "segmentation refused on this route (test)")
        return super().sendmsg(buffers, ancdata, flags, address)


@linux_only
def test_one_destination_whose_route_refuses_segmentation_cannot_switch_gso_off_for_everyone() -> None:
    with _client() as attacker, _client() as honest, RouteRefusingSocket(attacker.getsockname()[1]) as sock:
        sock.bind((LOOPBACK, 0))
        sender = ReplySender(sock, gso=True)
        if not sender.gso:
            pytest.skip("this kernel does not know UDP_SEGMENT")
        reply = pack_reply(unpack_header(pack_request(Op.ECHO, 1, b"x")), Result.OK, b"x")
        for _ in range(3 * REFUSALS_BEFORE_OFF):
            assert sender.send([(attacker.getsockname(), reply, None)] * 4) == 0  # one by one instead
            assert sender.send([(honest.getsockname(), reply, None)] * 4) == 0
        assert sender.gso, "the honest client's segmented sends keep GSO on"
        for _ in range(REFUSALS_BEFORE_OFF):
            sender.send([(attacker.getsockname(), reply, None)] * 4)
        assert not sender.gso, "refused every time with nothing going out between: the socket cannot segment"


class OldKernelSocket(socket.socket):
    """A UDP socket that behaves like Linux before 4.18: ``UDP_SEGMENT`` is an unknown option and its control
    message is skipped, not refused, so a segmented send leaves as one datagram of all the replies."""

    def getsockopt(self, level: int, option: int, *args: Any) -> Any:
        if (level, option) == (SOL_UDP, UDP_SEGMENT):
            raise OSError(errno.ENOPROTOOPT, "Protocol not available (test)")
        return super().getsockopt(level, option, *args)

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        kept = [item for item in ancdata if item[0] != SOL_UDP]
        return super().sendmsg(buffers, kept, flags, address)


@pytest.mark.parametrize("gso", [None, True])
def test_a_kernel_that_would_ignore_udp_segment_gets_no_segmented_sends(gso: bool | None) -> None:
    """Even when asked for, no run of replies may reach a client merged into one datagram (UDP-SRV-5)."""
    with OldKernelSocket(socket.AF_INET, socket.SOCK_DGRAM) as sock, _client() as client:
        sock.bind((LOOPBACK, 0))
        sender = ReplySender(sock, gso=gso)
        assert sender.gso is False
        replies = [bytes([index]) * 30 for index in range(5)]
        assert sender.send([(client.getsockname(), reply, None) for reply in replies]) == 0
        deadline = time.monotonic() + TIMEOUT
        got: list[bytes] = []
        while len(got) < len(replies) and time.monotonic() < deadline:
            try:
                got.append(client.recv(UDP_RECEIVE_BUFFER_SIZE))
            except BlockingIOError:
                time.sleep(0.002)
        assert got == replies


def test_an_unreachable_destination_counts_its_replies_as_failed_but_keeps_gso() -> None:
    """A spoofed source port 0 makes every send fail (EINVAL): counted, and it cannot switch segmentation off."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sender = ReplySender(sock, gso=True)
        assert sender.send([((LOOPBACK, 0), b"r" * 30, None)] * 3) == 3
        assert sender.gso is True


def test_replies_larger_than_a_segment_or_alone_go_out_singly() -> None:
    with CountingSocket() as sock, _client() as client:
        sock.bind((LOOPBACK, 0))
        target = client.getsockname()
        big = b"b" * (MAX_SEGMENT_SIZE + 1)
        sender = ReplySender(sock, gso=True)
        assert sender.send([(target, big, None), (target, big, None), (target, b"one", None)]) == 0
        assert sock.segmented_sends == 0 and sock.single_sends == 3
        deadline = time.monotonic() + TIMEOUT
        got: list[bytes] = []
        while len(got) < 3 and time.monotonic() < deadline:
            try:
                got.append(client.recv(UDP_RECEIVE_BUFFER_SIZE))
            except BlockingIOError:
                time.sleep(0.002)
        assert got == [big, big, b"one"]


def test_one_wake_up_handles_at_most_a_batch_so_tcp_is_not_starved() -> None:
    """With more than BATCH datagrams waiting, the loop gets control back after at most BATCH of them."""

    async def test() -> None:
        harness = Harness(_socket())
        calls = 0
        handle = harness.core.handle_datagram

        def counting(*args: Any) -> Any:
            nonlocal calls
            calls += 1
            return handle(*args)

        harness.core.handle_datagram = counting  # type: ignore[method-assign, assignment]
        client = _client()
        total = BATCH + 100
        for request_id in range(1, total + 1):
            client.sendto(pack_request(Op.NOOP, request_id), (LOOPBACK, harness.port))
        seen: list[int] = []

        def tick() -> None:
            seen.append(calls)
            if calls < total:
                harness.loop.call_soon(tick)

        harness.endpoint.start()
        harness.loop.call_soon(tick)
        replies = await _collect(client, total)
        assert len(replies) == total
        steps = [seen[0]] + [after - before for before, after in itertools.pairwise(seen)]
        assert max(steps) <= BATCH
        harness.endpoint.close()
        client.close()

    _run(test)


@PATHS
def test_async_handlers_and_handler_errors(batched_receive: bool, gso: bool) -> None:
    """An async handler's reply is sent when it finishes; a failing handler gives INTERNAL_ERROR (SRV-15)."""

    async def test() -> None:
        harness = Harness(_socket(), batched_receive=batched_receive, gso=gso)
        client = _client()
        for request_id in range(1, 11):
            operation = ASYNC_UPPER if request_id % 2 else FAILING
            client.sendto(pack_request(operation, request_id, b"abc"), (LOOPBACK, harness.port))
        harness.endpoint.start()
        replies = _by_id(await _collect(client, 10))
        for request_id, data in replies.items():
            if request_id % 2:
                assert unpack_header(data).result == Result.OK and data[HEADER_SIZE:] == b"ABC"
            else:
                assert unpack_header(data).result == Result.INTERNAL_ERROR and data[HEADER_SIZE:] == b""
        assert len(replies) == 10 and len(harness.tasks) == 5
        assert harness.core.in_progress == 0
        harness.endpoint.close()
        client.close()

    _run(test)


def _destination(request_id: int) -> str:
    return "127.0.0.2" if (request_id // 3) % 2 == 0 else LOOPBACK


@PATHS
def test_wildcard_bound_replies_come_from_the_address_the_requests_were_sent_to(
    batched_receive: bool, gso: bool
) -> None:
    """UDP-SRV-6 with batches: bound to 0.0.0.0, runs of requests to 127.0.0.2 are answered from 127.0.0.2."""

    async def test() -> None:
        harness = Harness(_socket("0.0.0.0"), batched_receive=batched_receive, gso=gso)
        assert harness.endpoint.batched_receive is batched_receive
        client = _client()
        for request_id in range(1, 61):
            # Runs of three equal replies to one client, alternating between the two local addresses: only the
            # control message tells one run from the next.
            destination = _destination(request_id)
            payload = b"p" * 24 if request_id % 11 else b"q" * 25
            operation = Op.ECHO if request_id % 10 else ASYNC_UPPER
            client.sendto(pack_request(operation, request_id, payload), (destination, harness.port))
        harness.endpoint.start()
        replies = await _collect(client, 60)
        assert len(replies) == 60
        for data, source in replies:
            request_id = unpack_header(data).request_id
            assert source == (_destination(request_id), harness.port), request_id
        assert len(_by_id(replies)) == 60
        harness.endpoint.close()
        client.close()

    _run(test)


def test_stop_stops_reading_and_close_closes() -> None:
    async def test() -> None:
        sock = _socket()
        harness = Harness(sock)
        client = _client()
        harness.endpoint.start()
        client.sendto(pack_request(Op.ECHO, 1, b"a"), (LOOPBACK, harness.port))
        assert len(await _collect(client, 1)) == 1
        harness.endpoint.stop()
        client.sendto(pack_request(Op.ECHO, 2, b"b"), (LOOPBACK, harness.port))
        assert await _quiet(client, 0.2) == []
        harness.endpoint.start()
        assert len(await _collect(client, 1)) == 1, "the waiting datagram is read after start()"
        harness.endpoint.close()
        assert sock.fileno() == -1
        harness.endpoint.stop()  # idempotent after close
        client.close()

    _run(test)


@_NEEDS_RECVMMSG
@pytest.mark.parametrize("host", [LOOPBACK, "::1"])
def test_mmsg_receiver_gives_what_recvfrom_would(host: str) -> None:
    """Same bytes (empty and maximum-size datagrams included) and the very address tuples ``recvfrom`` returns."""
    if ":" in host and not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server, reference = _socket(host), _socket(host)
    except OSError:
        pytest.skip(f"cannot bind {host}")
    receiver = udp_mmsg.MmsgReceiver(server, slots=8)
    try:
        with _client(host) as first, _client(host) as second:
            sizes = [
                0,
                1,
                100,
                MAX_UDP_DATAGRAM if host == LOOPBACK else UDP_RECEIVE_BUFFER_SIZE,
                7,
                20,
                20,
                3,
                5,
                9,
                11,
            ]
            for index, size in enumerate(sizes):
                datagram = bytes([index]) * size
                for target in (server, reference):
                    (first if index % 3 else second).sendto(datagram, target.getsockname())
            time.sleep(0.05)
            reference.setblocking(False)
            expected = [reference.recvfrom(1 << 17) for _ in sizes]
            batch_one = receiver.receive()
            batch_two = receiver.receive()
            assert len(batch_one[0]) == 8 and len(batch_two[0]) == len(sizes) - 8
            assert list(zip(*batch_one, strict=True)) + list(zip(*batch_two, strict=True)) == expected
            assert receiver.receive() == ([], [])
    finally:
        receiver.close()
        server.close()
        reference.close()


class RefusingLibc:
    """A C library that has ``recvmmsg`` while the kernel refuses the system call, as under a seccomp filter."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.calls = 0

    def recvmmsg(self, *args: Any) -> int:
        self.calls += 1
        ctypes.set_errno(self.code)
        return -1


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EPERM])
def test_a_refused_recvmmsg_system_call_falls_back_to_recvfrom(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Not an endlessly woken reader that never reads: the endpoint reads with recvfrom and answers."""
    libc = RefusingLibc(code)
    monkeypatch.setattr(udp_mmsg, "_libc", libc)
    monkeypatch.setattr(udp_mmsg, "_libc_errno", libc, raising=False)

    async def test() -> None:
        harness = Harness(_socket())
        assert harness.endpoint.batched_receive is False
        client = _client()
        for request_id in range(1, 11):
            client.sendto(pack_request(Op.ECHO, request_id, b"e"), (LOOPBACK, harness.port))
        harness.endpoint.start()
        assert sorted(_by_id(await _collect(client, 10, 1.0))) == list(range(1, 11))
        harness.endpoint.close()
        client.close()

    _run(test)
    with _socket() as sock, pytest.raises(OSError, match="recvmmsg does not work here") as refused:
        udp_mmsg.MmsgReceiver(sock)
    assert refused.value.errno == code


@pytest.mark.skipif(not udp_mmsg.available(), reason="no recvmmsg here")
def test_the_recvmmsg_check_leaves_a_waiting_datagram_to_be_read() -> None:
    with _socket() as server, _client() as client:
        client.sendto(b"first", server.getsockname())
        time.sleep(0.05)
        receiver = udp_mmsg.MmsgReceiver(server, slots=4)
        try:
            assert receiver.receive() == ([b"first"], [client.getsockname()])
        finally:
            receiver.close()


@pytest.mark.skipif(not udp_mmsg.available(), reason="no recvmmsg here")
def test_a_closed_receiver_reads_nothing_into_its_released_buffers() -> None:
    with _socket() as server, _client() as client:
        receiver = udp_mmsg.MmsgReceiver(server, slots=4)
        receiver.close()
        client.sendto(b"after close", server.getsockname())
        time.sleep(0.05)
        assert receiver.receive() == ([], [])
        server.setblocking(False)
        assert server.recvfrom(100) == (b"after close", client.getsockname()), "the datagram is still there"


@pytest.mark.needs_ipv6_loopback
@PATHS
def test_ipv6_wildcard_bound_replies_come_from_the_address_the_requests_were_sent_to(
    batched_receive: bool, gso: bool
) -> None:
    """UDP-SRV-6 over IPv6: bound to ::, a batch of requests to ::1 is answered from ::1 (IPV6_PKTINFO)."""

    async def test() -> None:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        harness = Harness(_socket("::", sock), batched_receive=batched_receive, gso=gso)
        client = _client("::1")
        for request_id in range(1, 31):
            client.sendto(pack_request(Op.ECHO, request_id, b"six" * (1 + request_id % 2)), ("::1", harness.port))
        harness.endpoint.start()
        replies = await _collect(client, 30)
        assert len(_by_id(replies)) == 30
        assert all(source[:2] == ("::1", harness.port) for _, source in replies)
        harness.endpoint.close()
        client.close()

    _run(test)


@linux_only
@pytest.mark.needs_ipv6_loopback
@pytest.mark.parametrize("destination", ["::1", "127.0.0.2"], ids=["ipv6", "ipv4-mapped"])
def test_segmented_replies_on_an_ipv6_wildcard_socket_keep_the_source_address(destination: str) -> None:
    """UDP-SRV-6 and GSO over IPv6: IPV6_PKTINFO and UDP_SEGMENT in one sendmsg, native and IPv4-mapped."""

    async def test() -> None:
        sock = CountingSocket(socket.AF_INET6)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        harness = Harness(_socket("::", sock), gso=True)
        client = _client(destination)
        for request_id in range(1, 33):
            client.sendto(pack_request(Op.ECHO, request_id, b"v6" * 10), (destination, harness.port))
        harness.endpoint.start()
        replies = await _collect(client, 32)
        assert len(_by_id(replies)) == 32
        assert all(source[:2] == (destination, harness.port) for _, source in replies)
        if not harness.endpoint.gso:
            pytest.skip("this kernel refused UDP_SEGMENT")
        assert sock.segmented_sends >= 1 and sock.single_sends < 16
        harness.endpoint.close()
        client.close()

    _run(test)


def test_parse_control_reads_what_recvmsg_returns() -> None:
    """The raw control messages of a recvmmsg slot parse to recvmsg's ``(level, type, data)`` list."""
    pktinfo = bytes(range(12))
    raw = struct.pack("@Nii", socket.CMSG_LEN(len(pktinfo)), socket.IPPROTO_IP, 8) + pktinfo
    raw += bytes(socket.CMSG_SPACE(len(pktinfo)) - len(raw))
    second = bytes(range(20))
    raw += struct.pack("@Nii", socket.CMSG_LEN(len(second)), socket.IPPROTO_IPV6, 50) + second
    assert udp_mmsg.parse_control(raw) == [(socket.IPPROTO_IP, 8, pktinfo), (socket.IPPROTO_IPV6, 50, second)]
    assert udp_mmsg.parse_control(b"") == []
    assert udp_mmsg.parse_control(raw[:10]) == [], "a truncated header is not a message"
