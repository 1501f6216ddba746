"""The implementer's guide's server, runnable: the UDP loop and the TCP connection handler the guide shows.

The guide (``docs/pages/implementers-guide.md``) shows the parts of this file between ``# [guide:NAME]`` and
``# [/guide:NAME]`` lines, and ``docs/tests/test_guide_examples.py`` grades this server with
``rrp-conformance server --strict`` and expects no failure: what the guide teaches is what passes the suite.

It takes the constants, the header codec and the precedence table (``check_request``) from the spec package,
because what it teaches is the loops around them; the rest is the standard library: one thread per TCP
connection and blocking sockets with deadlines. It serves on loopback until its stdin closes, and prints
``listening udp HOST:PORT`` and ``listening tcp HOST:PORT`` first.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import socket
import struct
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from rrp_spec import (
    AMPLIFICATION_FACTOR,
    CONNECTION_NETWORK_PREFIX_V4,
    CONNECTION_NETWORK_PREFIX_V6,
    COUNTER_SIZE,
    HEADER_SIZE,
    MAX_UDP_PAYLOAD,
    MIN_DEDUP_WINDOW,
    UNSOLICITED_BUSY,
    Action,
    Op,
    ProtocolViolation,
    Result,
    Transport,
    check_request,
    decode_request_datagram,
    pack_reply,
    unpack_header,
)

#: More than any UDP datagram can carry (IPv4 or IPv6), so nothing is cut to fit and judged as if whole.
RECEIVE_BUFFER = 1 << 16
#: The longest a close after a final reply waits for the peer, in seconds (at most the send timeout).
LINGER = 1.0
#: Over-limit connections answered BUSY at once; beyond that they are reset unanswered.
MAX_BUSY = 64
#: ``struct linger`` on, zero seconds: ``close()`` then sends RST and drops unsent bytes.
RESET_ON_CLOSE = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class Settings:
    """The server's limits; the test tells the suite the same numbers."""

    udp_max_payload: int = MAX_UDP_PAYLOAD
    tcp_max_payload: int = 1 << 16
    dedup_window: float = 2 * MIN_DEDUP_WINDOW
    dedup_entries: int = 4096
    dedup_bytes: int = 16 << 20
    request_deadline: float = 1.0
    idle_timeout: float = 2.0
    send_timeout: float = 1.0
    max_connections: int = 16
    max_connections_per_source: int = 4


class Counter:
    """The INCREMENT counter, shared by both transports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def increment(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


def execute(operation: int, payload: bytes, counter: Counter) -> tuple[int, bytes]:
    """Carry out a request that passed every header rule: its result and reply payload."""
    if operation == Op.NOOP:
        return Result.OK, b""
    if operation == Op.ECHO:
        return Result.OK, payload
    if operation == Op.INCREMENT:
        return Result.OK, counter.increment().to_bytes(COUNTER_SIZE, "big")
    return Result.UNKNOWN_OPERATION, b""  # an application operation this server does not implement (SRV-6)


Source = tuple[str, int]


# [guide:dedup-cache]
class DedupCache:
    """Replies of stateful requests by (source, request_id), kept ``window`` seconds, bounded in entries and bytes.

    An entry younger than the minimum window is never evicted to make room (UDP-SRV-9): a cache that evicts its
    oldest entry when full keeps a reply only as long as the server takes to see as many new requests as it
    holds, and a flood sent between a request and its retransmission would make the request run twice. When
    the cache is full of young entries, :meth:`make_room` says no and the request is answered BUSY instead.
    Every entry lives equally long, so insertion order is expiry order: the oldest is always first.
    """

    def __init__(self, window: float, max_entries: int, max_bytes: int) -> None:
        self.window, self.max_entries, self.max_bytes = window, max_entries, max_bytes
        self._entries: OrderedDict[tuple[Source, int], tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[Source, int], now: float) -> bytes | None:
        self._drop_while(lambda expires: expires <= now)
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def make_room(self, size: int, now: float) -> bool:
        """Room for one more reply of up to ``size`` bytes, evicting only entries past the minimum window."""
        # An entry's age is now - (expires - window); it may go once that is at least MIN_DEDUP_WINDOW.
        old_enough = now + self.window - MIN_DEDUP_WINDOW
        self._drop_while(lambda expires: expires <= old_enough and not self._has_room(size))
        return self._has_room(size)

    def put(self, key: tuple[Source, int], reply: bytes, now: float) -> None:
        """Keep ``reply``; call only after :meth:`make_room` said yes for at least its size."""
        self._entries[key] = (now + self.window, reply)
        self._bytes += len(reply)

    def _has_room(self, size: int) -> bool:
        return len(self._entries) < self.max_entries and self._bytes + size <= self.max_bytes

    def _drop_while(self, may_drop: Callable[[float], bool]) -> None:
        while self._entries and may_drop(next(iter(self._entries.values()))[0]):
            _, (_, reply) = self._entries.popitem(last=False)
            self._bytes -= len(reply)


# [/guide:dedup-cache]


# [guide:udp-server]
def serve_udp(sock: socket.socket, settings: Settings, counter: Counter) -> None:
    """The UDP loop. ``sock`` is bound to one local address, so replies leave from the address the request
    arrived on (UDP-SRV-6); a socket on a wildcard address would need IP_PKTINFO to do the same."""
    cache = DedupCache(settings.dedup_window, settings.dedup_entries, settings.dedup_bytes)
    while True:
        datagram, source = sock.recvfrom(RECEIVE_BUFFER)  # never cut to fit (UDP-SRV-4)
        reply = answer_datagram(datagram, source, cache, settings, counter, time.monotonic())
        if reply is not None:
            sock.sendto(reply, source)


def answer_datagram(
    datagram: bytes, source: Source, cache: DedupCache, settings: Settings, counter: Counter, now: float
) -> bytes | None:
    """The reply to one datagram, or ``None`` for silence."""
    try:
        # The processing table, in order, on the header and the datagram's length alone.
        request = decode_request_datagram(datagram, settings.udp_max_payload)
    except ProtocolViolation as violation:
        if violation.action is Action.DROP:
            return None  # short, not "RR", or a reply: silence (UDP-SRV-1, UDP-SRV-2, SRV-1)
        return violation.error_reply()  # a bare header (SRV-13), and never cached (UDP-SRV-12)
    header = request.header
    key = (source, header.request_id)
    reply = cache.get(key, now)
    if reply is None:  # a new request
        # NOOP and ECHO need no entry: carrying them out again sends the same bytes (UDP-SRV-7). So a flood of
        # them cannot fill the cache; anything else needs room for its reply before it runs (UDP-SRV-9).
        stateful = header.operation not in (Op.NOOP, Op.ECHO)
        if stateful and not cache.make_room(HEADER_SIZE + settings.udp_max_payload, now):
            return pack_reply(header, Result.BUSY)  # full of young replies: not carried out, and not cached
        try:
            result, payload = execute(header.operation, request.payload, counter)
        except Exception:  # anything at all: a bare INTERNAL_ERROR that says nothing (SRV-15)
            result, payload = Result.INTERNAL_ERROR, b""
        reply = pack_reply(header, result, payload)
        if len(reply) > AMPLIFICATION_FACTOR * len(datagram):
            reply = pack_reply(header, Result.TOO_LARGE)  # UDP-SRV-5
        if stateful:
            cache.put(key, reply, now)  # whatever the result (UDP-SRV-12)
    # Otherwise a retransmission, whatever its operation and payload: answered from the cache and not carried
    # out again (UDP-SRV-7, UDP-SRV-11). The amplification bound holds for cached replies too: a short datagram
    # reusing the ID of a big request must not fetch the big reply (UDP-SRV-5).
    if len(reply) > AMPLIFICATION_FACTOR * len(datagram):
        reply = pack_reply(header, Result.TOO_LARGE)
    return reply


# [/guide:udp-server]


class Closed(Exception):
    """The connection is over: the peer closed it, or a deadline passed."""


# [guide:stream]
class Stream:
    """One connection's input: a buffer, and reads bounded by a deadline rather than a per-read timeout."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = bytearray()

    def fill(self, deadline: float) -> None:
        """One ``recv``, given only the time left until ``deadline``; :class:`Closed` at the deadline or EOF."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise Closed
        self.conn.settimeout(left)
        try:
            chunk = self.conn.recv(RECEIVE_BUFFER)
        except TimeoutError:
            raise Closed from None
        if not chunk:
            raise Closed
        self.buffer += chunk

    def read_exactly(self, n: int, deadline: float) -> bytes:
        while len(self.buffer) < n:
            self.fill(deadline)
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def discard(self, n: int, deadline: float) -> None:
        while n > 0:
            if not self.buffer:
                self.fill(deadline)
            taken = min(n, len(self.buffer))
            del self.buffer[:taken]
            n -= taken


# [/guide:stream]


# [guide:tcp-server]
def handle_connection(conn: socket.socket, settings: Settings, counter: Counter) -> None:
    """One connection, on a thread of its own so that no connection can delay another (TCP-SRV-8)."""
    stream = Stream(conn)
    try:
        while True:
            # Idle until the first byte of the next request; from accept too, so a connection that never
            # sends is closed like any idle one (TCP-SRV-6).
            if not stream.buffer:
                stream.fill(time.monotonic() + settings.idle_timeout)
            # The whole-request deadline, fixed at the request's first byte and never moved (TCP-SRV-5).
            deadline = time.monotonic() + settings.request_deadline
            header = unpack_header(stream.read_exactly(HEADER_SIZE, deadline))
            try:
                # On the header alone, before a payload byte is read or allocated (TCP-SRV-4).
                check_request(header, transport=Transport.TCP, max_payload=settings.tcp_max_payload)
            except ProtocolViolation as violation:
                if violation.action is Action.CLOSE:
                    break  # not "RR", or a reply: no answer (TCP-SRV-3, SRV-1)
                send_bounded(conn, violation.error_reply(), settings)
                if violation.close_after:  # another version, or TOO_LARGE: the payload is never read
                    close_after_final_reply(conn, settings)
                    return
                stream.discard(header.size, deadline)  # keep the framing and go on (TCP-SRV-9)
                continue
            payload = stream.read_exactly(header.size, deadline)
            try:
                result, out = execute(header.operation, payload, counter)
            except Exception:
                result, out = Result.INTERNAL_ERROR, b""  # SRV-15
            send_bounded(conn, pack_reply(header, result, out), settings)
    except (Closed, OSError):
        pass
    reset(conn)


def send_bounded(conn: socket.socket, data: bytes, settings: Settings) -> None:
    """Write one reply within the send timeout (TCP-SRV-10). Nothing is read while it waits, so this reply is
    all the server buffers for the connection; a peer that does not take it in time is reset by the caller."""
    conn.settimeout(settings.send_timeout)  # since Python 3.5, a bound on the whole sendall()
    conn.sendall(data)


def close_after_final_reply(conn: socket.socket, settings: Settings) -> None:
    """After TOO_LARGE, UNSUPPORTED_VERSION or BUSY: half-close, discard what the peer still sends for a short
    linger (so that its unread bytes do not make the kernel reset the reply away), then reset. The whole close
    takes at most the send timeout, whether or not the peer reads (TCP-SRV-10)."""
    deadline = time.monotonic() + min(LINGER, settings.send_timeout)
    try:
        conn.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            conn.settimeout(left)
            if not conn.recv(RECEIVE_BUFFER):
                break
    except OSError:
        pass
    reset(conn)


def reset(conn: socket.socket) -> None:
    """Close with RST: a plain close() would leave the kernel holding unsent replies for a peer that never
    reads, and that peer connected (TCP-SRV-10)."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
    conn.close()


# [/guide:tcp-server]


# [guide:tcp-limits]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network_of(source: str) -> Network:
    """The network a source counts in: its IPv4 /24 or IPv6 /48 (TCP-SRV-12, TCP-SRV-13)."""
    address = ipaddress.ip_address(source)
    prefix = CONNECTION_NETWORK_PREFIX_V4 if address.version == 4 else CONNECTION_NETWORK_PREFIX_V6
    return ipaddress.ip_network(f"{source}/{prefix}", strict=False)


class ConnectionLimits:
    """Open connections, in all and per source address (TCP-SRV-7, TCP-SRV-12), and by network.

    Per-source limits do not protect the global one: 17 sources of 64 connections fill 1,024 slots and keep
    them with a request every few seconds. So at the global limit a newcomer takes the longest-open slot of
    the network holding the most, when that network holds at least two more than the newcomer's (TCP-SRV-13),
    and a newcomer from a network holding at most one takes the longest-open slot of all (TCP-SRV-16).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._sources: dict[socket.socket, str] = {}
        self._by_source: dict[str, int] = {}
        # Each network's connections, oldest first.
        self._by_network: dict[Network, dict[socket.socket, None]] = {}

    def admit(self, conn: socket.socket, source: str) -> bool:
        network = network_of(source)
        with self._lock:
            if self._by_source.get(source, 0) >= self.settings.max_connections_per_source:
                return False
            mine = len(self._by_network.get(network, {}))
            if len(self._sources) >= self.settings.max_connections:
                largest = max(self._by_network.values(), key=len)
                if len(largest) >= mine + 2:
                    victim = next(iter(largest))
                elif mine <= 1:
                    # One connection from each of many networks: a network holding at most one still gets in,
                    # taking the longest-open slot of all (TCP-SRV-16).
                    victim = next(iter(self._sources))
                else:
                    return False  # the slots are shared fairly already: over the limit
                self._forget(victim)
                # Wake the victim's thread, which then resets the connection (its recv returns at once).
                with contextlib.suppress(OSError):
                    victim.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
                    victim.shutdown(socket.SHUT_RDWR)
            self._sources[conn] = source
            self._by_source[source] = self._by_source.get(source, 0) + 1
            self._by_network.setdefault(network, {})[conn] = None
            return True

    def release(self, conn: socket.socket) -> None:
        with self._lock:
            if conn in self._sources:  # not if its slot was reclaimed
                self._forget(conn)

    def _forget(self, conn: socket.socket) -> None:
        source = self._sources.pop(conn)
        self._by_source[source] -= 1
        network = network_of(source)
        del self._by_network[network][conn]
        if not self._by_network[network]:
            del self._by_network[network]


# [/guide:tcp-limits]


# [guide:tcp-accept]
def serve_tcp(listener: socket.socket, settings: Settings, counter: Counter) -> None:
    """Accept connections; each counts against the limits from this moment (TCP-SRV-11)."""
    limits = ConnectionLimits(settings)
    busy_slots = threading.BoundedSemaphore(MAX_BUSY)
    while True:
        conn, peer = listener.accept()
        source = str(peer[0])
        if limits.admit(conn, source):
            threading.Thread(target=_serve, args=(conn, limits, settings, counter), daemon=True).start()
        elif busy_slots.acquire(blocking=False):
            # Over a limit: TCP-SRV-15's first form, an unsolicited BUSY (request_id 0) before reading anything,
            # then the bounded close; on a thread, because the close may linger (TCP-SRV-8).
            threading.Thread(target=_refuse, args=(conn, busy_slots, settings), daemon=True).start()
        else:
            reset(conn)  # no room even to say BUSY: refused (TCP-SRV-7)


def _refuse(conn: socket.socket, busy_slots: threading.BoundedSemaphore, settings: Settings) -> None:
    try:
        conn.sendall(UNSOLICITED_BUSY)  # 20 bytes into an empty send buffer: never blocks
        close_after_final_reply(conn, settings)
    except OSError:
        reset(conn)
    finally:
        busy_slots.release()


# [/guide:tcp-accept]


def _serve(conn: socket.socket, limits: ConnectionLimits, settings: Settings, counter: Counter) -> None:
    try:
        handle_connection(conn, settings, counter)
    finally:
        limits.release(conn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="the loopback address to serve on")
    parser.add_argument(
        "--also-udp",
        action="append",
        default=[],
        metavar="ADDR",
        help="another local address to serve UDP on, same port, with a socket of its own (UDP-SRV-6)",
    )
    args = parser.parse_args(argv)
    hosts = [args.host, *args.also_udp]
    if not all(ipaddress.ip_address(h).is_loopback for h in hosts):
        parser.error("loopback addresses only")
    settings, counter = Settings(), Counter()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    udp_sockets: list[socket.socket] = []
    port = 0
    for host in hosts:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((host, port))
        port = sock.getsockname()[1]
        udp_sockets.append(sock)
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, 0))
    listener.listen(256)
    for sock in udp_sockets:
        threading.Thread(target=serve_udp, args=(sock, settings, counter), daemon=True).start()
    threading.Thread(target=serve_tcp, args=(listener, settings, counter), daemon=True).start()
    for kind, sock in (("udp", udp_sockets[0]), ("tcp", listener)):
        host, bound = sock.getsockname()[:2]
        print(f"listening {kind} {host}:{bound}", flush=True)
    sys.stdin.read()  # serve until the test closes our stdin
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
