"""A small, correct RRP/1 server, and deliberately broken variants of it, to prove the server suite's checks.

Independent of python-ref (it uses only rrp_spec's codec and validator): plain
threads and blocking sockets. ``--breakage NAME`` switches on exactly one classic
mistake; with none it passes every check. Run as a script, it prints
``listening udp HOST:PORT`` and ``listening tcp HOST:PORT`` and serves until killed.
Loopback only, except that UDP may bind the wildcard address so the reply-source
check can run (as the issue asks of the reference).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import os
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rrp_spec import (
    AMPLIFICATION_FACTOR,
    APPLICATION_RANGE_START,
    COUNTER_SIZE,
    HEADER_SIZE,
    MAGIC,
    MAX_REQUEST_DEADLINE,
    MAX_SEND_TIMEOUT,
    MAX_SMALL_PAYLOAD,
    MAX_UDP_PAYLOAD,
    MIN_DEDUP_WINDOW,
    Action,
    Flag,
    Header,
    Op,
    ProtocolViolation,
    Result,
    Transport,
    check_request,
    decode_request_datagram,
    pack_header,
    unpack_header,
)

#: Linux's IP_PKTINFO (Python's socket module does not export it).
IP_PKTINFO = 8
_PKTINFO = struct.Struct("=I4s4s")


#: ``--select`` patterns: every check over one transport, or over both.
UDP, TCP, BOTH = ("udp/",), ("tcp/",), ("udp/", "tcp/")
#: The checks left out unless a breakage is about them: they take seconds (and a flood loads the shared machine).
SLOW = ("udp/dedup-window", "tcp/fast-neighbour")


@dataclass(frozen=True)
class Proof:
    """What the server suite must find on a toy with one breakage: exactly these requirements broken."""

    #: The mistake, in a few words.
    why: str
    #: Requirement IDs the suite must FAIL the toy on, and no others.
    fails: frozenset[str]
    #: ``--select`` patterns: the checks run against the toy.
    runs: tuple[str, ...]
    #: Requirement IDs (SHOULDs) that must come out NON-STRICT, and no others.
    non_strict: frozenset[str] = frozenset()
    #: ``--exclude`` patterns.
    leaves_out: tuple[str, ...] = SLOW
    #: UDP on the IPv4 wildcard, so the reply-source check runs (and IP_PKTINFO is exercised) rather than skips.
    wildcard: bool = True
    #: (name, value) pairs of :class:`Settings` the toy runs with instead of the defaults.
    settings: tuple[tuple[str, object], ...] = ()
    #: (name, value) pairs of claims the suite is told instead of the toy's settings: a toy just past a bound
    #: claims the bound itself.
    claims: tuple[tuple[str, object], ...] = ()


def breaks(*requirements: str, runs: tuple[str, ...], why: str, **options: object) -> Proof:
    """The :class:`Proof` of a breakage that the suite must fail on ``requirements``."""
    return Proof(why, frozenset(requirements), runs, **options)  # type: ignore[arg-type]


#: How far past a spec maximum the toys that break one go, in seconds.
PAST_BOUND = 0.5
#: The dedup window of the toy that keeps replies too briefly: just under the minimum.
WINDOW_JUST_SHORT = MIN_DEDUP_WINDOW - 0.1
#: A UDP payload limit far below the SHOULD of UDP-SRV-4, which a target may claim.
UDP_LIMIT_LOW = 1000
#: Bytes WHOLE_READ_PER_TURN reads at once, and frames whole before another connection's turn (as the reference's
#: asyncio transport read 256 KiB, about 13,000 pipelined requests, before it bounded the work per turn).
READ_PER_TURN = 1 << 18
#: The checks that see how a target over its connection limits answers.
BUSY_CHECKS = ("tcp/connection-limit", "tcp/limit-counts-from-accept", "tcp/per-source-limit", "tcp/busy-form")

#: The correct toy: nothing fails, and every check runs, the slow one included.
CORRECT = Proof("none", frozenset(), BOTH, leaves_out=())


class Breakage(Enum):
    """One classic mistake each, declared with the requirements the server suite must fail it on.

    Adding a proven check is: the check, plus one member here and the few lines that make the toy break the rule.
    """

    NO_REQUEST_DEADLINE = breaks("TCP-SRV-5", runs=TCP, why="blocks on a short request forever")
    PER_READ_TIMEOUT = breaks("TCP-SRV-5", runs=TCP, why="a timeout per read, reset by every byte")
    LEAKY_BUFFER = breaks("SRV-14", runs=UDP, why="op 0x8000 returns 16 bytes of a reused receive buffer")
    WRONG_SOURCE = breaks("UDP-SRV-6", runs=UDP, why="wildcard socket, no IP_PKTINFO on replies")
    IGNORES_SIZE = breaks("UDP-SRV-3", runs=UDP, why="takes the datagram's length as the payload's")
    NO_DEDUP = breaks("UDP-SRV-7", runs=UDP, leaves_out=(), why="retransmitted INCREMENTs run again")
    OLDEST_OUT_DEDUP = breaks(
        "UDP-SRV-9", runs=("udp/dedup-flood",), why="a full cache evicts its oldest reply, however young"
    )
    SHORT_DEDUP_WINDOW = breaks(
        "UDP-SRV-8",
        runs=("udp/dedup-window", "udp/retransmission"),
        leaves_out=(),
        settings=(("dedup_window", WINDOW_JUST_SHORT),),
        why=f"duplicates remembered {WINDOW_JUST_SHORT:g} s, just under the {MIN_DEDUP_WINDOW:g} s minimum",
    )
    RUNS_CHANGED_RETRANSMISSION = breaks(
        "UDP-SRV-11", runs=("udp/cache-rules",), why="a cached ID with other bytes is carried out as a new request"
    )
    CACHES_REJECTIONS = breaks(
        "UDP-SRV-12",
        runs=("udp/cache-rules",),
        why="looks in the cache before judging, and caches MALFORMED too (the guide's old loop)",
    )
    LOW_UDP_LIMIT = breaks(
        runs=UDP,
        non_strict=frozenset({"UDP-SRV-4"}),
        settings=(("udp_max_payload", UDP_LIMIT_LOW),),
        why=f"not a mistake: a {UDP_LIMIT_LOW}-byte UDP limit, claimed; only the SHOULD of UDP-SRV-4 is missed",
    )
    ANSWERS_REPLIES = breaks("SRV-1", runs=BOTH, why="answers a REPLY-flagged message with MALFORMED")
    AMPLIFYING_ERRORS = breaks("SRV-13", "UDP-SRV-5", runs=BOTH, why="error replies carry a 100-byte text")
    # Also the reply-source check's skip path: UDP is not on the wildcard address.
    AMPLIFYING_OPERATION = breaks("UDP-SRV-5", runs=UDP, wildcard=False, why="op 0x8000 answers 200 bytes to 20")
    CACHE_AMPLIFIES = breaks("UDP-SRV-5", runs=UDP, why="a bare header reusing an ID fetches a big cached reply")
    READS_OVER_LIMIT = breaks("TCP-SRV-4", runs=TCP, why="waits for an over-limit payload before TOO_LARGE")
    NO_IDLE_TIMEOUT = breaks("TCP-SRV-6", runs=TCP, why="keeps an idle connection forever")
    NO_IDLE_BEFORE_FIRST_REQUEST = breaks(
        "TCP-SRV-6",
        runs=("tcp/idle-before-first-request", "tcp/idle-timeout"),
        why="starts the idle timeout only after the first request: a connection that never sends stays",
    )
    LATE_REQUEST_DEADLINE = breaks(
        "TCP-SRV-5",
        runs=("tcp/short-request",),
        settings=(("request_deadline", MAX_REQUEST_DEADLINE + PAST_BOUND),),
        claims=(("request_deadline", MAX_REQUEST_DEADLINE),),
        why=f"a {MAX_REQUEST_DEADLINE + PAST_BOUND:g} s deadline claimed as the {MAX_REQUEST_DEADLINE:g} s maximum",
    )
    LATE_SEND_TIMEOUT = breaks(
        "TCP-SRV-10",
        runs=("tcp/slow-reader",),
        settings=(("send_timeout", MAX_SEND_TIMEOUT + PAST_BOUND),),
        claims=(("send_timeout", MAX_SEND_TIMEOUT),),
        why=f"a {MAX_SEND_TIMEOUT + PAST_BOUND:g} s send timeout claimed as the {MAX_SEND_TIMEOUT:g} s maximum",
    )
    GRACEFUL_CLOSE_AFTER_FINAL_REPLY = breaks(
        "TCP-SRV-10",
        runs=("tcp/final-reply-close",),
        why="close() after TOO_LARGE: the kernel keeps the unread replies, and the peer connected, for minutes",
    )
    BUSY_UNSOLICITED = breaks(
        runs=BUSY_CHECKS,
        settings=(("busy", "unsolicited"),),
        why="not a mistake: over the limit, an unsolicited BUSY at accept (TCP-SRV-15's first form)",
    )
    BUSY_AFTER_HEADER = breaks(
        runs=BUSY_CHECKS,
        settings=(("busy", "after-header"),),
        why="not a mistake: over the limit, BUSY to the first header, within the deadline (the second form)",
    )
    BUSY_WRONG_ID = breaks(
        "TCP-SRV-15",
        runs=BUSY_CHECKS,
        settings=(("busy", "unsolicited"),),
        why="an unsolicited BUSY carrying a random request_id, which no client can tell from a stray reply",
    )
    NO_MEMORY_BUDGET = breaks(
        "TCP-SRV-14",
        runs=("tcp/memory-budget",),
        why="claims a memory budget but collects every declared payload, however many connections hold one",
    )
    NO_CONNECTION_LIMIT = breaks("TCP-SRV-7", runs=TCP, why="accepts every connection")
    NO_SLOT_RECLAIM = breaks(
        "TCP-SRV-13",
        runs=TCP,
        non_strict=frozenset({"TCP-SRV-16"}),
        why="at the global limit, refuses every newcomer (so the SHOULD that extends TCP-SRV-13 fails too)",
    )
    NO_SPREAD_RECLAIM = breaks(
        runs=TCP,
        non_strict=frozenset({"TCP-SRV-16"}),
        why="reclaims only from a network holding two more: one connection per network locks everyone out (a SHOULD)",
    )
    COUNTS_AFTER_HEADER = breaks("TCP-SRV-11", runs=TCP, why="nginx-style limit_conn: counts after a header")
    NO_PER_SOURCE_LIMIT = breaks(
        runs=TCP, non_strict=frozenset({"TCP-SRV-12"}), why="one source may take every slot (a SHOULD)"
    )
    OUT_OF_ORDER = breaks("TCP-SRV-2", runs=TCP, why="answers the requests of one read last first")
    # At 64 KiB, not the toys' larger limit: a full-size ECHO cut short leaves so much behind, taken for headers,
    # that the reset closing the connection often destroys the cut reply too (an SRV-8 "no reply" besides).
    SHORT_READS = breaks(
        "TCP-SRV-1",
        runs=TCP,
        settings=(("tcp_max_payload", MAX_SMALL_PAYLOAD),),
        why="one recv() is taken to return the whole payload",
    )
    # Not graded on its memory budget: the held requests wait for the lock unread, and whether the kernel takes
    # their payloads (no BUSY: a FAIL) or not (the check cannot judge: SKIPPED) depends on its buffer sizes.
    SERIALIZED = breaks(
        "TCP-SRV-8",
        runs=TCP,
        leaves_out=(*SLOW, "tcp/memory-budget"),
        why="one lock held while any request is arriving",
    )
    GREEDY_CONNECTION = breaks(
        "TCP-SRV-8",
        runs=("tcp/fast-neighbour", "tcp/slowloris", "tcp/pipelined", "tcp/error-keeps-connection"),
        leaves_out=(),
        why="serves a connection until its socket is empty before any other (a selector loop reading to EAGAIN)",
    )
    WHOLE_READ_PER_TURN = breaks(
        "TCP-SRV-8",
        runs=("tcp/fast-neighbour",),
        leaves_out=(),
        why=f"frames every request of a {READ_PER_TURN >> 10} KiB read before another connection's turn (the "
        "reference before hardening round 2)",
    )
    BLOCKING_WRITES = breaks("TCP-SRV-10", runs=TCP, why="no send timeout")
    # On the send timeout it reads what the peer sent and then close()s: with nothing unread the kernel closes
    # gracefully, keeps the unsent replies in FIN-WAIT-1, and the peer stays connected.
    FIN_ON_SEND_TIMEOUT = breaks(
        "TCP-SRV-10", runs=("tcp/slow-reader",), why="a graceful close on the send timeout, not a reset"
    )
    INCREMENTS_MALFORMED = breaks("SRV-7", runs=BOTH, why="counts an INCREMENT it rejects")
    CRASHES_ON_EMPTY = breaks("SRV-16", runs=UDP, why="the UDP loop dies on an empty datagram")
    RESERVED_REPLY_BITS = breaks("MSG-3", runs=BOTH, why="sets flag bit 7 in replies")
    KEEPS_BAD_VERSION = breaks("SRV-2", runs=TCP, why="goes on reading after UNSUPPORTED_VERSION over TCP")
    CLOSES_AFTER_ERROR = breaks("TCP-SRV-9", runs=TCP, why="drops the connection after MALFORMED")
    ANSWERS_BAD_MAGIC = breaks("TCP-SRV-3", runs=TCP, why="replies MALFORMED to a wrong magic")

    @property
    def flag(self) -> str:
        """The value of ``--breakage``: the member's name in lower case, with dashes."""
        return self.name.lower().replace("_", "-")

    @property
    def proof(self) -> Proof:
        """What the suite must find."""
        value: Proof = self.value
        return value

    @classmethod
    def from_flag(cls, flag: str) -> Breakage:
        """The member named by ``--breakage``."""
        for member in cls:
            if member.flag == flag:
                return member
        raise ValueError(f"no breakage {flag!r}")


@dataclass(frozen=True)
class Settings:
    """The toy server's limits (small, so the suite's timing checks are quick)."""

    request_deadline: float = 1.0
    idle_timeout: float = 1.5
    send_timeout: float = 0.5
    #: Above MAX_SMALL_PAYLOAD, so that the toy takes requests large enough for its memory budget to refuse.
    tcp_max_payload: int = 4 * MAX_SMALL_PAYLOAD
    udp_max_payload: int = MAX_UDP_PAYLOAD
    max_connections: int = 16
    max_connections_per_source: int = 4
    dedup_window: float = 2 * MIN_DEDUP_WINDOW
    #: The cache size the toy claims; only OLDEST_OUT_DEDUP enforces it (by evicting, which UDP-SRV-9 forbids).
    dedup_entries: int = 500
    #: Request payload bytes all connections together may be collecting (TCP-SRV-14): eight full-size requests,
    #: so that the check spreads them over two sources. Only payloads are charged: a reply is sent before the
    #: connection reads on, and a blocked send is bounded by the send timeout.
    memory_budget: int = 8 * tcp_max_payload
    #: Over a connection limit: ``refuse`` (close at accept), ``unsolicited`` (BUSY with request_id 0, then
    #: close) or ``after-header`` (BUSY to the first header within the request deadline, then close).
    busy: str = "refuse"


def settings_for(breakage: Breakage | None) -> Settings:
    """The settings a toy with ``breakage`` runs with."""
    overrides: dict[str, Any] = {} if breakage is None else dict(breakage.proof.settings)
    return dataclasses.replace(Settings(), **overrides)


class _Closed(Exception):
    """The connection is over (peer closed, deadline, or a rule says close)."""


class ToyServer:
    """A threaded RRP/1 server on loopback with at most one deliberate mistake."""

    def __init__(self, breakage: Breakage | None, settings: Settings, udp_host: str, tcp_host: str) -> None:
        family = socket.AF_INET6 if ":" in udp_host else socket.AF_INET
        self.broken = breakage
        self.s = settings
        self.stop = threading.Event()
        self.counter = 0
        self.lock = threading.Lock()
        self.request_lock = threading.Lock()  # only used by SERIALIZED
        self.turn = _Turn()  # only used by GREEDY_CONNECTION and WHOLE_READ_PER_TURN
        self.open_by_source: dict[str, int] = {}
        self.open_total = 0
        self.collecting = 0  # payload bytes being collected by every connection together (TCP-SRV-14)
        self.streams: list[_Stream] = []  # connections holding a slot, oldest first (for reclaiming)
        self.dedup: dict[tuple[object, ...], tuple[float, bytes]] = {}
        self.udp = socket.socket(family, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.udp.bind((udp_host, 0))
        if family == socket.AF_INET:  # over IPv6 the toy binds ::1 only, so it needs no destination address
            self.udp.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        self.tcp = socket.socket(family, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((tcp_host, 0))
        self.tcp.listen(256)
        self.udp_buffer = bytearray(1 << 17)  # reused: only LEAKY_BUFFER lets stale bytes out

    def is_(self, breakage: Breakage) -> bool:
        return self.broken is breakage

    # --- operations ---------------------------------------------------------------------------
    def execute(self, header: Header, payload: bytes, leftover: bytes = b"") -> tuple[int, bytes]:
        """Result and payload for a valid request."""
        if header.operation == Op.NOOP:
            return Result.OK, b""
        if header.operation == Op.ECHO:
            return Result.OK, payload
        if header.operation == Op.INCREMENT:
            with self.lock:
                self.counter += 1
                return Result.OK, self.counter.to_bytes(COUNTER_SIZE, "big")
        if header.operation == APPLICATION_RANGE_START and self.is_(Breakage.AMPLIFYING_OPERATION):
            return Result.OK, b"server information " * 10 + b"!" * 10
        if header.operation == APPLICATION_RANGE_START and self.is_(Breakage.LEAKY_BUFFER):
            return Result.OK, (payload + leftover)[:16]
        return Result.UNKNOWN_OPERATION, b""

    def reply(self, request: Header, result: int, payload: bytes = b"") -> bytes:
        flags = Flag.REPLY | (0x80 if self.is_(Breakage.RESERVED_REPLY_BITS) else 0)
        if result != Result.OK:
            payload = b"error: " + b"x" * 93 if self.is_(Breakage.AMPLIFYING_ERRORS) else b""
        header = Header(
            magic=MAGIC,
            flags=flags,
            operation=request.operation,
            result=result,
            request_id=request.request_id,
            size=len(payload),
        )
        return pack_header(header) + payload

    def violation_reply(self, violation: ProtocolViolation) -> bytes:
        assert violation.header is not None and violation.result is not None
        if violation.requirement == "SRV-7" and self.is_(Breakage.INCREMENTS_MALFORMED):
            self.execute(violation.header, b"")
        return self.reply(violation.header, violation.result)

    # --- UDP ------------------------------------------------------------------------------------
    def serve_udp(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.udp], [], [], 0.1)
            if not ready:
                continue
            n, ancillary, _, source = self.udp.recvmsg_into([self.udp_buffer], socket.CMSG_SPACE(_PKTINFO.size))
            if n == 0 and self.is_(Breakage.CRASHES_ON_EMPTY):
                raise IndexError("an empty datagram")  # the loop, and UDP service, die here
            local = next((data for level, kind, data in ancillary if kind == IP_PKTINFO), None)
            datagram = bytes(self.udp_buffer[:n])
            answer = self.answer_datagram(datagram, source)
            if answer is None:
                continue
            if local is None or self.is_(Breakage.WRONG_SOURCE):
                self.udp.sendto(answer, source)
            else:
                _ifindex, _local, addr = _PKTINFO.unpack(local)
                reply_from = _PKTINFO.pack(0, addr, b"\x00" * 4)
                self.udp.sendmsg([answer], [(socket.IPPROTO_IP, IP_PKTINFO, reply_from)], 0, source)

    def answer_datagram(self, datagram: bytes, source: tuple[str, int]) -> bytes | None:
        if self.is_(Breakage.ANSWERS_REPLIES) and len(datagram) >= HEADER_SIZE and datagram[3] & Flag.REPLY:
            return self.reply(unpack_header(datagram), Result.MALFORMED)
        try:
            if self.is_(Breakage.IGNORES_SIZE) and len(datagram) >= HEADER_SIZE:
                header = unpack_header(datagram)
                header = dataclasses.replace(header, size=len(datagram) - HEADER_SIZE)
                check_request(
                    header,
                    transport=Transport.UDP,
                    max_payload=self.s.udp_max_payload,
                    datagram_length=len(datagram),
                )
                header, payload = unpack_header(datagram), datagram[HEADER_SIZE:]
            else:
                message = decode_request_datagram(datagram, self.s.udp_max_payload)
                header, payload = message.header, message.payload
        except ProtocolViolation as violation:
            if violation.action is not Action.REPLY:
                return None
            answer = self.violation_reply(violation)
            if self.is_(Breakage.CACHES_REJECTIONS) and violation.header is not None:
                self.dedup[(source, violation.header.request_id)] = (time.monotonic(), answer)
            return answer
        key: tuple[object, ...] = (source, header.request_id)
        if self.is_(Breakage.RUNS_CHANGED_RETRANSMISSION):
            key = (source, header.request_id, datagram)  # only a byte-identical datagram is a retransmission
        now = time.monotonic()
        window = self.s.dedup_window
        if not self.is_(Breakage.NO_DEDUP):
            cached = self.dedup.get(key)
            if cached is not None and now - cached[0] < window:
                too_big = len(cached[1]) > AMPLIFICATION_FACTOR * len(datagram)
                if too_big and not self.is_(Breakage.CACHE_AMPLIFIES):
                    return self.reply(header, Result.TOO_LARGE)  # a reused ID must not fetch a bigger reply
                return cached[1]
        leftover = bytes(self.udp_buffer[len(datagram) : len(datagram) + 16])
        result, out = self.execute(header, payload, leftover)
        answer = self.reply(header, result, out)
        exempt = self.is_(Breakage.AMPLIFYING_OPERATION) or self.is_(Breakage.AMPLIFYING_ERRORS)
        if len(answer) > AMPLIFICATION_FACTOR * len(datagram) and not exempt:
            answer = self.reply(header, Result.TOO_LARGE)
        self.dedup[key] = (now, answer)
        if self.is_(Breakage.OLDEST_OUT_DEDUP) and len(self.dedup) > self.s.dedup_entries:
            del self.dedup[next(iter(self.dedup))]  # the oldest reply goes, young or not
        return answer

    # --- TCP ------------------------------------------------------------------------------------
    def serve_tcp(self) -> None:
        self.tcp.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, peer = self.tcp.accept()
            except TimeoutError:
                continue
            source = peer[0]
            stream = _Stream(conn, self, source)
            if not self.is_(Breakage.COUNTS_AFTER_HEADER) and not self.admit(stream):  # over a limit
                if self.s.busy == "refuse":
                    conn.close()
                else:
                    threading.Thread(target=self.answer_busy, args=(conn,), daemon=True).start()
                continue
            threading.Thread(target=self.connection, args=(stream,), daemon=True).start()

    def answer_busy(self, conn: socket.socket) -> None:
        """TCP-SRV-15: BUSY in the form the settings say (unbounded threads: the toy never sees a real flood)."""
        try:
            if self.s.busy == "unsolicited":
                rid = int.from_bytes(os.urandom(8), "big") | 1 if self.is_(Breakage.BUSY_WRONG_ID) else 0
                conn.sendall(self.reply(Header(operation=Op.NOOP, request_id=rid), Result.BUSY))
            else:
                stream = _Stream(conn, self, "")
                stream.deadline = time.monotonic() + self.s.request_deadline  # from accept
                header = unpack_header(stream.read_exact(HEADER_SIZE))
                conn.sendall(self.reply(header, Result.BUSY))
            self.close_after_final_reply(conn)
        except (_Closed, OSError):
            conn.close()

    def close_after_final_reply(self, conn: socket.socket) -> None:
        """Half-close, discard input for a short linger, then reset: bounded by the send timeout (TCP-SRV-10)."""
        if self.is_(Breakage.GRACEFUL_CLOSE_AFTER_FINAL_REPLY):
            conn.close()  # nothing unread: the kernel closes gracefully and keeps what the peer has not read
            return
        end = time.monotonic() + self.s.send_timeout
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
            while (left := end - time.monotonic()) > 0:
                conn.settimeout(left)
                if not conn.recv(1 << 16):
                    break
        self.reset(conn)

    def reset(self, conn: socket.socket) -> None:
        """Close with RST, so that no unsent reply outlives the connection (TCP-SRV-10); FIN_ON_SEND_TIMEOUT
        drains its input first and closes gracefully instead."""
        if not self.is_(Breakage.FIN_ON_SEND_TIMEOUT):
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def admit(self, stream: _Stream) -> bool:
        source = stream.source
        with self.lock:
            over_total = self.open_total >= self.s.max_connections and not self.is_(Breakage.NO_CONNECTION_LIMIT)
            per_source = self.open_by_source.get(source, 0)
            over_source = per_source >= self.s.max_connections_per_source and not self.is_(Breakage.NO_PER_SOURCE_LIMIT)
            if over_total and not over_source and not self.is_(Breakage.NO_SLOT_RECLAIM):
                over_total = not self.reclaim_for(source)
            if over_total or over_source:
                return False
            self.open_total += 1
            self.open_by_source[source] = per_source + 1
            self.streams.append(stream)
            stream.counted = True
            return True

    def reserve(self, size: int) -> bool:
        """TCP-SRV-14: charge a declared payload to the memory budget, or refuse a large one that does not fit."""
        with self.lock:
            large = size > MAX_SMALL_PAYLOAD and not self.is_(Breakage.NO_MEMORY_BUDGET)
            if large and self.collecting + size > self.s.memory_budget:
                return False
            self.collecting += size
            return True

    def reclaim_for(self, source: str) -> bool:
        """TCP-SRV-13: reset the oldest connection of the /24 holding the most, if it holds 2+ more than ours."""
        by_network: dict[str, list[_Stream]] = {}
        for held in self.streams:
            by_network.setdefault(_network(held.source), []).append(held)
        largest = max(by_network.values(), key=len, default=[])
        mine = len(by_network.get(_network(source), []))
        if len(largest) > mine + 1:
            victim = largest[0]
        elif mine <= 1 and self.streams and not self.is_(Breakage.NO_SPREAD_RECLAIM):
            victim = self.streams[0]  # TCP-SRV-16: a network holding at most one takes the longest-open slot
        else:
            return False
        self.forget(victim)
        victim.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        victim.conn.shutdown(socket.SHUT_RDWR)  # its thread sees the end and closes it: a reset
        return True

    def forget(self, stream: _Stream) -> None:
        """Give back a stream's slot (under the lock)."""
        if stream.counted:
            stream.counted = False
            self.open_total -= 1
            self.open_by_source[stream.source] -= 1
            self.streams.remove(stream)

    def release(self, stream: _Stream) -> None:
        with self.lock:
            self.forget(stream)

    def connection(self, stream: _Stream) -> None:
        conn = stream.conn
        greedy = self.is_(Breakage.GREEDY_CONNECTION)
        per_read = self.is_(Breakage.WHOLE_READ_PER_TURN)
        try:
            while not self.stop.is_set():
                stream.wait_for_request()
                if (greedy or per_read) and not stream.has_turn:
                    stream.buffer_whole_request()  # a selector loop frames what has arrived: a slow peer holds no turn
                    if per_read:
                        stream.buffer_what_is_waiting(READ_PER_TURN)  # a whole read, whatever the kernel's buffer
                    self.turn.take()  # as a single-threaded loop would take this connection's event
                    stream.has_turn = True
                self.one_request(stream)
                # The mistakes: the turn ends only once the socket is empty, or once the whole read is framed.
                if stream.has_turn and not stream.holds_whole_request() and (per_read or not stream.readable()):
                    self.turn.end()
                    stream.has_turn = False
        except (_Closed, OSError):
            pass
        finally:
            if self.is_(Breakage.SERIALIZED) and stream.holding:
                self.request_lock.release()
            if stream.has_turn:
                self.turn.end()
            self.release(stream)
            if stream.final_reply:
                self.close_after_final_reply(conn)
            else:
                self.reset(conn)

    def one_request(self, stream: _Stream) -> None:
        header_bytes = stream.read_exact(HEADER_SIZE)
        header = unpack_header(header_bytes)
        # COUNTS_AFTER_HEADER: the limit applies only now.
        if not stream.counted and self.is_(Breakage.COUNTS_AFTER_HEADER) and not self.admit(stream):
            stream.send(self.reply(header, Result.BUSY))
            stream.final_reply = True
            raise _Closed
        if header.flags & Flag.REPLY and self.is_(Breakage.ANSWERS_REPLIES):
            stream.send(self.reply(header, Result.MALFORMED))
            stream.done()
            return
        if header.magic != MAGIC and self.is_(Breakage.ANSWERS_BAD_MAGIC):
            stream.send(self.reply(header, Result.MALFORMED))
            raise _Closed
        try:
            check_request(header, transport=Transport.TCP, max_payload=self.s.tcp_max_payload)
        except ProtocolViolation as violation:
            if violation.action is Action.CLOSE:
                raise _Closed from None
            if violation.result is Result.TOO_LARGE and self.is_(Breakage.READS_OVER_LIMIT):
                stream.discard(header.size)
            if violation.result is Result.UNSUPPORTED_VERSION and self.is_(Breakage.KEEPS_BAD_VERSION):
                stream.send(self.violation_reply(violation))
                stream.done()
                return
            stream.send(self.violation_reply(violation))
            if violation.close_after or self.is_(Breakage.CLOSES_AFTER_ERROR):
                stream.final_reply = violation.close_after
                raise _Closed from None
            stream.discard(header.size)
            stream.done()
            return
        if not self.reserve(header.size):
            stream.send(self.reply(header, Result.BUSY))  # at once: the payload is discarded as it arrives
            stream.discard(header.size)
            stream.done()
            return
        try:
            payload = stream.read_exact(header.size, short_read=self.is_(Breakage.SHORT_READS))
        finally:
            with self.lock:
                self.collecting -= header.size
        stream.done()
        requests = [(header, payload)]
        if self.is_(Breakage.OUT_OF_ORDER):
            requests += stream.complete_requests_buffered()
            requests.reverse()
        for request, body in requests:
            result, out = self.execute(request, body)
            stream.send(self.reply(request, result, out))


class _Turn:
    """One connection served at a time, in the order they asked: a single-threaded loop visiting its ready
    connections in turn. Only when a turn ends is up to the breakage that uses it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._issued = 0
        self._serving = 0

    def take(self) -> None:
        with self._changed:
            ticket = self._issued
            self._issued += 1
            self._changed.wait_for(lambda: self._serving == ticket)

    def end(self) -> None:
        with self._changed:
            self._serving += 1
            self._changed.notify_all()


class _Stream:
    """One connection's reading side: deadlines, the idle timeout, and the buffer."""

    def __init__(self, conn: socket.socket, server: ToyServer, source: str) -> None:
        self.conn = conn
        self.server = server
        self.source = source
        self.buffer = bytearray()
        self.deadline: float | None = None
        self.holding = False
        self.final_reply = False  # the connection closes after a final reply (TOO_LARGE, version, BUSY)
        self.requests = 0
        self.counted = False
        self.has_turn = False  # GREEDY_CONNECTION, WHOLE_READ_PER_TURN: this connection holds the one turn

    def _recv(self, timeout: float | None, size: int = 0) -> bytes:
        """One recv within ``timeout`` seconds (``None``: until data, the peer closes or the server stops)."""
        size = size or (READ_PER_TURN if self.server.is_(Breakage.WHOLE_READ_PER_TURN) else 1 << 16)
        end = None if timeout is None else time.monotonic() + timeout
        while not self.server.stop.is_set():
            left = 0.1 if end is None else min(0.1, end - time.monotonic())
            if left <= 0:
                raise _Closed
            ready, _, _ = select.select([self.conn], [], [], left)
            if ready:
                chunk = self.conn.recv(size)
                if not chunk:
                    raise _Closed
                return chunk
        raise _Closed

    def holds_whole_request(self) -> bool:
        """Whether the buffer holds the next request whole (its header alone when it announces too much)."""
        if len(self.buffer) < HEADER_SIZE:
            return False
        size = unpack_header(self.buffer).size
        return len(self.buffer) >= HEADER_SIZE + (size if size <= self.server.s.tcp_max_payload else 0)

    def buffer_whole_request(self) -> None:
        """Read until the buffer holds the next request whole."""
        while not self.holds_whole_request():
            self.buffer += self._recv(self._timeout())

    def buffer_what_is_waiting(self, most: int) -> None:
        """Read what the socket holds right now, up to ``most`` bytes buffered in all."""
        while len(self.buffer) < most and self.readable():
            chunk = self.conn.recv(most - len(self.buffer))
            if not chunk:
                return
            self.buffer += chunk

    def readable(self) -> bool:
        """Whether the socket has bytes waiting (or an end) right now."""
        return bool(select.select([self.conn], [], [], 0)[0])

    def _timeout(self) -> float | None:
        s, broken = self.server.s, self.server.broken
        if broken is Breakage.NO_REQUEST_DEADLINE:
            return None
        if broken is Breakage.PER_READ_TIMEOUT:
            return s.request_deadline
        assert self.deadline is not None
        return self.deadline - time.monotonic()

    def wait_for_request(self) -> None:
        """Wait (idle timeout) for the first byte of the next request; start its deadline."""
        if not self.buffer:
            first = self.requests == 0 and self.server.is_(Breakage.NO_IDLE_BEFORE_FIRST_REQUEST)
            idle = None if self.server.is_(Breakage.NO_IDLE_TIMEOUT) or first else self.server.s.idle_timeout
            self.buffer += self._recv(idle)
        self.requests += 1
        if self.server.is_(Breakage.SERIALIZED):
            self.server.request_lock.acquire()
            self.holding = True
        self.deadline = time.monotonic() + self.server.s.request_deadline

    def done(self) -> None:
        """The request is complete."""
        if self.holding:
            self.holding = False
            self.server.request_lock.release()

    def read_exact(self, n: int, *, short_read: bool = False) -> bytes:
        if short_read and len(self.buffer) < n:
            self.buffer += self._recv(self._timeout(), n - len(self.buffer))
            n = min(n, len(self.buffer))
        while len(self.buffer) < n:
            self.buffer += self._recv(self._timeout())
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def discard(self, n: int) -> None:
        while n > 0:
            if not self.buffer:
                self.buffer += self._recv(self._timeout())
            take = min(n, len(self.buffer))
            del self.buffer[:take]
            n -= take

    def _drain_input(self) -> None:
        for _ in range(10_000):  # bounded: the receive queue holds a few MB at most
            try:
                if not self.conn.recv(1 << 16, socket.MSG_DONTWAIT):
                    return
            except (BlockingIOError, OSError):
                return

    def complete_requests_buffered(self) -> list[tuple[Header, bytes]]:
        out = []
        while len(self.buffer) >= HEADER_SIZE:
            header = unpack_header(self.buffer)
            if len(self.buffer) < HEADER_SIZE + header.size or header.size > self.server.s.tcp_max_payload:
                break
            out.append((header, bytes(self.buffer[HEADER_SIZE : HEADER_SIZE + header.size])))
            del self.buffer[: HEADER_SIZE + header.size]
        return out

    def send(self, data: bytes) -> None:
        blocking = self.server.is_(Breakage.BLOCKING_WRITES)
        self.conn.settimeout(None if blocking else self.server.s.send_timeout)
        try:
            self.conn.sendall(data)
        except TimeoutError:
            if self.server.is_(Breakage.FIN_ON_SEND_TIMEOUT):
                self._drain_input()
            raise _Closed from None  # the peer stopped reading: drop it (TCP-SRV-10)
        finally:
            self.conn.settimeout(None)


def _network(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) an address belongs to, as text."""
    prefix = 24 if ":" not in address else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--breakage", type=Breakage.from_flag, default=None, metavar="|".join(b.flag for b in Breakage))
    parser.add_argument("--udp-host", default="127.0.0.1", help="::1 serves both transports over IPv6")
    args = parser.parse_args(argv)
    if not ipaddress.ip_address(args.udp_host).is_loopback and args.udp_host != "0.0.0.0":
        parser.error("loopback or the IPv4 wildcard only")
    tcp_host = "::1" if args.udp_host == "::1" else "127.0.0.1"
    server = ToyServer(args.breakage, settings_for(args.breakage), args.udp_host, tcp_host)
    workers: list[Callable[[], None]] = [server.serve_udp, server.serve_tcp]
    for work in workers:
        threading.Thread(target=work, daemon=True).start()
    for kind, sock in (("udp", server.udp), ("tcp", server.tcp)):
        host, port = sock.getsockname()[:2]
        print(f"listening {kind} {host}:{port}", flush=True)
    try:
        sys.stdin.read()  # serve until the test closes our stdin (or kills us)
    finally:
        server.stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
