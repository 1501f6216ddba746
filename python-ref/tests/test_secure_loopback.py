"""Both secure profiles over real loopback sockets: the reference server and client, and what an attacker sees."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rrp import Client, ConnectionFailed, GaveUp, Server, ServerSettings
from rrp.secure import client_key
from rrp_spec import Op, RetryPolicy, pack_request
from rrp_spec.secure import SecureContext
from rrp_spec.secure_wire import SECURE_HEADER_SIZE, sequence_at

SECRET = bytes(range(32))
KEY_ID = 42
FAST = 0.2  # seconds a silent answer is waited for


class _Served:
    """A reference server with ``start_kwargs`` on its own loop in a thread; ``ports`` are what it bound."""

    def __init__(self, server: Server, **start_kwargs: Any) -> None:
        self.server, self._kwargs = server, start_kwargs
        self.ports: list[int] = []
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self.ports = [endpoint.port for endpoint in await self.server.start(**self._kwargs)]
        self._ready.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.02)
        await self.server.shutdown(grace=0)

    def __enter__(self) -> _Served:
        self._thread.start()
        assert self._ready.wait(10), "the server did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def secure_udp() -> Iterator[int]:
    with _Served(Server(ServerSettings(), keys={KEY_ID: SECRET}), secure_udp=[("127.0.0.1", 0)]) as served:
        yield served.ports[0]


def _silent(port: int, datagram: bytes) -> bool:
    """True when ``datagram`` sent to ``port`` gets no answer at all."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(FAST)
        sock.sendto(datagram, ("127.0.0.1", port))
        try:
            sock.recv(65536)
        except TimeoutError:
            return True
        return False


def test_a_secure_udp_client_is_served_and_its_retransmission_is_not_carried_out_twice(secure_udp: int) -> None:
    """SUDP-SRV-3 and SUDP-CLI-2 on the wire: the same sealed bytes twice get the same protected reply."""
    with Client.secure_udp("127.0.0.1", secure_udp, client_key(KEY_ID, SECRET)) as client:
        assert client.call(Op.ECHO, b"sealed").payload == b"sealed"
        first = int.from_bytes(client.call(Op.INCREMENT).payload, "big")
    context = SecureContext.from_secret(SECRET, KEY_ID)
    request = context.seal_request(sequence_at(time.time()), pack_request(Op.INCREMENT, 0xABCDEF))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        replies = []
        for _ in range(2):
            sock.sendto(request, ("127.0.0.1", secure_udp))
            replies.append(sock.recv(65536))
    assert replies[0] == replies[1], "a retransmission gets the cached protected reply byte for byte"
    counter = context.open_reply(replies[0], request[:SECURE_HEADER_SIZE])[-8:]
    assert int.from_bytes(counter, "big") == first + 1


def test_the_secure_port_answers_nothing_but_authentic_requests(secure_udp: int) -> None:
    """SUDP-SRV-1: plain RRP/1, forgeries, unknown keys and replays get silence."""
    context = SecureContext.from_secret(SECRET, KEY_ID)
    genuine = context.seal_request(sequence_at(time.time()), pack_request(Op.NOOP, 77))
    forged = genuine[:-1] + bytes([genuine[-1] ^ 1])
    other = SecureContext.from_secret(SECRET, KEY_ID + 1).seal_request(
        sequence_at(time.time()), pack_request(Op.NOOP, 1)
    )
    for datagram in (pack_request(Op.NOOP, 5), forged, other, b"RS" + bytes(60)):
        assert _silent(secure_udp, datagram)


def test_a_client_with_the_wrong_secret_gives_up_and_says_so(secure_udp: int) -> None:
    """SUDP-SRV-1 from the client's side: no answer is no oracle; the client reports how long it tried."""
    policy = RetryPolicy(initial_timeout=0.1, max_timeout=0.1, max_attempts=2)
    wrong = client_key(KEY_ID, bytes(32))
    with Client.secure_udp("127.0.0.1", secure_udp, wrong, policy=policy) as client, pytest.raises(GaveUp):
        client.call(Op.NOOP)


def test_plain_clients_cannot_reach_the_secure_port(secure_udp: int) -> None:
    """SUDP-SRV-1: a plain RRP/1 client times out; nothing is answered in clear."""
    policy = RetryPolicy(initial_timeout=0.1, max_timeout=0.1, max_attempts=1)
    with Client.udp("127.0.0.1", secure_udp, policy=policy) as client, pytest.raises((GaveUp, ConnectionFailed)):
        client.call(Op.NOOP)
