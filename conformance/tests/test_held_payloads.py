"""The memory-budget check's held requests: how many fill a budget, and sending them never blocks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import example, given
from hypothesis import strategies as st

from rrp_conformance.server.held_payloads import held_to_fill, push, queued, wait_drained


@given(budget=st.integers(1, 1 << 34), size=st.integers(2, 1 << 32))
@example(budget=16 << 20, size=1 << 20)
@example(budget=1 << 20, size=1 << 20)
def test_held_requests_leave_no_room_for_one_more_however_the_target_counts(budget: int, size: int) -> None:
    """One more request of ``size`` exceeds the budget even counted as arrived bytes; one held request fewer
    would not: the check probes at the budget's edge, never inside it, and holds no more than it must."""
    count = held_to_fill(budget, size)
    assert count * (size - 1) + size > budget
    assert count == 1 or (count - 1) * (size - 1) + size <= budget


def test_sixteen_full_size_requests_fill_sixteen_of_them_exactly() -> None:
    """Counted as declared, the held requests reach the budget itself: the probe is the one past it."""
    assert held_to_fill(16 << 20, 1 << 20) == 16


@contextmanager
def _unread_connections(count: int) -> Iterator[list[socket.socket]]:
    """``count`` loopback connections whose other end never reads."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        clients = [socket.create_connection(listener.getsockname()) for _ in range(count)]
        servers = [listener.accept()[0] for _ in clients]
        try:
            yield clients
        finally:
            for sock in clients + servers:
                sock.close()


def test_a_peer_that_never_reads_stops_the_push_at_its_deadline_without_blocking() -> None:
    chunk, length = memoryview(bytes(1 << 16)), 64 << 20  # far more than the kernel buffers of two connections hold
    with _unread_connections(2) as socks:
        for sock in socks:
            sock.settimeout(30.0)  # a blocking send to a peer that never reads would wait this long
        started = time.monotonic()
        sent = push(socks, chunk, length, started + 0.3)
        took = time.monotonic() - started
        assert min(sent) > 0 and max(sent) < length
        assert took < 10.0  # the deadline ended it, not a blocked send
        assert [sock.gettimeout() for sock in socks] == [30.0, 30.0]  # blocking mode restored
        left = wait_drained(socks, time.monotonic() + 0.1)
        assert left is None or left > 0  # the peer reads nothing: bytes stay queued


def test_a_peer_that_reads_everything_gets_every_byte_and_the_queues_drain() -> None:
    chunk, length = memoryview(bytes(range(256)) * 1000), 8 << 20  # the chunk repeats: the length is no multiple
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        received = bytearray()

        def read_all() -> None:
            server.settimeout(10.0)
            while len(received) < length and (data := server.recv(1 << 20)):
                received.extend(data)

        reader = threading.Thread(target=read_all)
        with client, server:
            reader.start()
            assert push([client], chunk, length, time.monotonic() + 10.0) == [length]
            assert wait_drained([client], time.monotonic() + 10.0) in (0, None)
            reader.join(10.0)
            assert len(received) == length
            whole, rest = divmod(length, len(chunk))
            assert received == bytes(chunk) * whole + bytes(chunk[:rest])
            assert queued([client]) in (0, None)
