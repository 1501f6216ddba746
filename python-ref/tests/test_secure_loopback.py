"""Both secure profiles over real loopback sockets: the reference server and client, and what an attacker sees."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from rrp import Client, ConnectionFailed, ErrorResult, GaveUp, Server, ServerSettings
from rrp.secure import client_key, tls_client_context
from rrp_spec import HEADER_SIZE, Op, Result, RetryPolicy, pack_request
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


# --- RRP/1 over TLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA, name: str = "localhost", client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(name, "127.0.0.1").configure_cert(context)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["rrp/1"])
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = tls_client_context()
    ca.configure_trust(context)
    return context


@contextlib.contextmanager
def _tls_server(context: ssl.SSLContext, settings: ServerSettings | None = None) -> Iterator[int]:
    with _Served(Server(settings or ServerSettings(), tls=context), tls=[("127.0.0.1", 0)]) as served:
        yield served.ports[0]


def test_a_tls_client_is_served_over_tls_1_3_with_alpn(ca: trustme.CA) -> None:
    """TLS-SRV-1 and TLS-CLI-1: a verified TLS 1.3 connection, ALPN rrp/1, RRP/1 inside unchanged."""
    with _tls_server(_server_context(ca)) as port, Client.tls("localhost", port, context=_client_context(ca)) as client:
        assert client.call(Op.ECHO, b"over tls").payload == b"over tls"
        assert int.from_bytes(client.call(Op.INCREMENT).payload, "big") >= 1


def test_the_tls_port_answers_no_plaintext_and_no_other_protocol(ca: trustme.CA) -> None:
    """TLS-SRV-2 and TLS-SRV-1: a plain RRP/1 request gets no RRP/1 reply; a client without ALPN rrp/1 is closed."""
    with _tls_server(_server_context(ca)) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
            plain.sendall(pack_request(Op.ECHO, 7, b"in clear"))
            answer = b""
            with contextlib.suppress(OSError):
                while chunk := plain.recv(4096):
                    answer += chunk
        assert not answer.startswith(b"RR")
        other = ssl.create_default_context()
        ca.configure_trust(other)
        other.set_alpn_protocols(["h2"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            try:
                tls = other.wrap_socket(raw, server_hostname="localhost")
            except (ssl.SSLError, OSError):
                return  # refused in the handshake: also correct
            with tls, contextlib.suppress(OSError, ssl.SSLError):  # reset: also correct
                tls.sendall(pack_request(Op.ECHO, 8, b"h2?"))
                assert tls.recv(4096) == b""


def test_a_handshake_holds_a_slot_and_the_request_deadline_ends_it(ca: trustme.CA) -> None:
    """TLS-SRV-3: silent connections fill the per-source limit until the deadline resets them; then TLS serves."""
    settings = ServerSettings(max_connections_per_source=2, request_deadline=3.0)
    with _tls_server(_server_context(ca), settings) as port:
        silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        # Over the limit: refused outright, or let through the handshake only to be answered BUSY.
        context = _client_context(ca)
        with (
            pytest.raises((ConnectionFailed, ErrorResult)) as refused,
            Client.tls("127.0.0.1", port, context=context, connect_timeout=2) as client,
        ):
            client.call(Op.NOOP)
        if isinstance(refused.value, ErrorResult):
            assert refused.value.result == Result.BUSY
        for sock in silent:
            with contextlib.suppress(OSError):
                assert sock.recv(1) == b""  # reset or closed within the deadline
            sock.close()
        with Client.tls("localhost", port, context=_client_context(ca)) as client:
            assert client.call(Op.NOOP).ok


def test_a_handshake_whose_slot_is_reclaimed_is_reset_at_once(ca: trustme.CA) -> None:
    """TCP-SRV-13 over TLS: at the global limit a newcomer from another network takes the slot of the oldest
    connection of the network holding the most, even while that one is still in its handshake; that connection
    is reset then, not when its handshake would have timed out (the request deadline, 10 s here)."""
    settings = ServerSettings(max_connections=3, request_deadline=10.0)
    with _tls_server(_server_context(ca), settings) as port:
        silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        time.sleep(0.2)  # accepted, in the order opened
        try:
            newcomer = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.1.1", 0))
            with _client_context(ca).wrap_socket(newcomer, server_hostname="localhost") as tls:
                tls.sendall(pack_request(Op.NOOP, 7))
                assert len(tls.recv(4096)) == HEADER_SIZE
            oldest = silent[0]
            oldest.settimeout(2.0)  # far inside the 10 s handshake deadline
            with contextlib.suppress(ConnectionResetError):
                assert oldest.recv(1) == b""
            for sock in silent[1:]:
                sock.settimeout(0.2)
                with pytest.raises(TimeoutError):
                    sock.recv(1)  # the others keep their slots
        finally:
            for sock in silent:
                sock.close()


def test_mutual_tls_admits_only_clients_with_a_certificate_from_its_ca(ca: trustme.CA) -> None:
    """TLS-SRV-4: with a client CA, a client without a certificate is refused, one with a certificate is served."""
    client_ca = trustme.CA()
    with _tls_server(_server_context(ca, client_ca=client_ca)) as port:
        anonymous = _client_context(ca)
        with pytest.raises(ConnectionFailed), Client.tls("localhost", port, context=anonymous) as client:
            client.call(Op.NOOP)
        known = _client_context(ca)
        client_ca.issue_cert("client.example").configure_cert(known)
        with Client.tls("localhost", port, context=known) as client:
            assert client.call(Op.NOOP).ok


@pytest.mark.parametrize("problem", ["wrong host", "untrusted CA"])
def test_the_client_refuses_a_server_it_cannot_verify_and_says_why(ca: trustme.CA, problem: str) -> None:
    """TLS-CLI-1: a certificate for another name, or from a CA the client does not trust, ends the connection."""
    name, trusted = ("other.invalid", ca) if problem == "wrong host" else ("localhost", trustme.CA())
    with _tls_server(_server_context(ca, name=name)) as port, pytest.raises(ConnectionFailed, match="not trusted"):
        Client.tls("localhost", port, context=_client_context(trusted))
