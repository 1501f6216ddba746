"""Raw sockets with a wire log: the only way the server suite talks to its target.

:class:`UdpChannel` and :class:`TcpChannel` send exactly the bytes a check gives
them, log everything both ways, and bound every wait. Neither knows what is right:
the checks judge.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from dataclasses import dataclass
from enum import StrEnum

from rrp_spec import HEADER_SIZE, Header, Op, Result, pack_request, unpack_header

from ..wirelog import Control, Flow, WireLog
from .env import Address, AmplificationMeter, family_of, show

#: Largest datagram the suite will receive.
_DATAGRAM_BUFFER = 1 << 17
#: Datagrams a channel keeps in :attr:`UdpChannel.received`; later ones are counted (a target may flood).
KEPT_DATAGRAMS = 1000
#: A drain stops after this many datagrams, or after :data:`DRAIN_QUIETS` quiet periods, whichever comes first,
#: however the target keeps sending: a correct target sends a handful, a hostile one never stops.
DRAIN_DATAGRAMS = 10_000
DRAIN_QUIETS = 10
#: Seconds a drain may take at least (a quiet period of 0 still reads what has already arrived, for so long).
DRAIN_FLOOR = 1.0
#: Bytes :meth:`TcpChannel.wait_closed` keeps of what the target sends before it closes; the rest is counted.
KEPT_STREAM = 1 << 16
#: The largest reply :meth:`TcpChannel.read_message` reads whole; over it, only the header is taken.
MAX_READ_PAYLOAD = 1 << 24


def wait_for(sock: socket.socket, timeout: float, *, writable: bool = False) -> bool:
    """True when ``sock`` becomes readable (or writable) within ``timeout`` seconds.

    poll(), not select(): the connection-limit checks hold more than 1024 descriptors open.
    """
    poller = select.poll()
    poller.register(sock, select.POLLOUT if writable else select.POLLIN)
    return bool(poller.poll(max(timeout, 0.0) * 1000))


def fresh_id() -> int:
    """A random non-zero 64-bit request ID."""
    while True:
        rid = int.from_bytes(os.urandom(8), "big")
        if rid:
            return rid


def request_id_of(data: bytes) -> int | None:
    """The request_id of a message, or ``None`` when it is shorter than a header."""
    return unpack_header(data).request_id if len(data) >= HEADER_SIZE else None


def describe(data: bytes) -> str:
    """A one-line summary of a message for expected/observed text."""
    if len(data) < HEADER_SIZE:
        return f"{len(data)} bytes, shorter than a header ({data.hex()})"
    h = unpack_header(data)
    result = Result(h.result).name if h.result in Result._value2member_map_ else str(h.result)
    op = Op(h.operation).name if h.operation in Op._value2member_map_ else f"0x{h.operation:04x}"
    return f"{len(data)}-byte message: flags 0x{h.flags:02x}, operation {op}, result {result}, size {h.size}"


class UdpChannel:
    """One UDP socket of the suite, talking to the target; every datagram both ways is logged."""

    def __init__(
        self,
        log: WireLog,
        target: Address,
        meter: AmplificationMeter | None = None,
        *,
        source: str | None = None,
    ) -> None:
        self.log = log
        self.target = target
        self.meter = meter
        self.sock = socket.socket(family_of(target[0]), socket.SOCK_DGRAM)
        self.sock.bind((source or ("::1" if ":" in target[0] else "127.0.0.1"), 0))
        local = self.sock.getsockname()
        #: The suite's end of the socket.
        self.local: Address = (local[0], local[1])
        self.name = f"udp {show(self.local)}"
        #: The last datagram sent with each request_id (for the amplification ratio of its reply).
        self._sent: dict[int, int] = {}
        #: The first :data:`KEPT_DATAGRAMS` datagrams received, with their sources, in order.
        self.received: list[tuple[bytes, Address]] = []
        #: Every datagram received, kept or not.
        self.received_count = 0
        #: Datagrams an exchange passed over: from elsewhere, repeats, or replies to requests never made.
        self.stray = 0

    def close(self) -> None:
        """Close the socket, remarking on the datagrams that answered nothing the suite waited for."""
        if self.stray:
            self.log.remark(
                self.name,
                f"{self.stray} datagrams answered nothing the suite was waiting for "
                "(from another address, repeated replies, or replies to requests it never made)",
            )
            self.stray = 0
        self.sock.close()

    def __enter__(self) -> UdpChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes, note: str = "", to: Address | None = None) -> None:
        """Send one datagram, exactly ``data``."""
        destination = to or self.target
        flow = Flow("udp", self.local, destination)
        self.log.sent(f"{self.name} -> {show(destination)}", data, note=note, flow=flow)
        self.send_unlogged(data, destination)

    def send_unlogged(self, data: bytes, to: Address | None = None) -> None:
        """Send one datagram without logging it (floods); its size still counts for the amplification ratio."""
        rid = request_id_of(data)
        if rid is not None:
            self._sent[rid] = len(data)
        self.sock.sendto(data, to or self.target)

    def receive(self, timeout: float) -> tuple[bytes, Address] | None:
        """The next datagram from anyone within ``timeout`` seconds, or ``None``."""
        if not wait_for(self.sock, timeout):
            return None
        data, source = self.sock.recvfrom(_DATAGRAM_BUFFER)
        origin: Address = (source[0], source[1])
        self.log.received(f"{self.name} <- {show(origin)}", data, flow=Flow("udp", self.local, origin))
        self.received_count += 1
        if len(self.received) < KEPT_DATAGRAMS:
            self.received.append((data, origin))
        rid = request_id_of(data)
        if self.meter is not None and rid in self._sent:  # a reply that cannot be matched is not measured
            self.meter.record(self._sent[rid], len(data), describe(data))
        return data, origin

    def exchange(self, data: bytes, *, timeout: float, attempts: int = 3, note: str = "") -> bytes | None:
        """Send ``data`` and return the first datagram from the target, retransmitting the same bytes on timeout.

        Datagrams from elsewhere, and replies carrying another request_id when ``data``
        has one, are logged and passed over. Retransmitting is what the spec lets a
        client do about loss, so a lost datagram never fails a check.
        """
        rid = request_id_of(data)
        for attempt in range(attempts):
            self.send(data, note if attempt == 0 else f"retransmission {attempt}")
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                got = self.receive(left)
                if got is None:
                    break
                reply, origin = got
                if origin != self.target:
                    self.stray += 1
                    continue
                if rid is not None and len(reply) >= HEADER_SIZE and unpack_header(reply).request_id != rid:
                    self.stray += 1
                    continue
                return reply
        self.log.event(self.name, f"no reply after {attempts} attempts of {timeout:.2f} s")
        return None

    def drain(self, quiet: float) -> list[tuple[bytes, Address]]:
        """The datagrams that arrive until none has for ``quiet`` seconds (the first :data:`KEPT_DATAGRAMS`).

        Bounded however the target behaves: at most :data:`DRAIN_DATAGRAMS` datagrams
        and ``max(DRAIN_QUIETS * quiet, DRAIN_FLOOR)`` seconds (a target that never
        stops sending gets a remark saying so).
        """
        started = time.monotonic()
        until = started + max(DRAIN_QUIETS * quiet, DRAIN_FLOOR)
        got: list[tuple[bytes, Address]] = []
        count = 0
        while count < DRAIN_DATAGRAMS and (left := until - time.monotonic()) > 0:
            item = self.receive(min(quiet, left))
            if item is None:
                return got
            count += 1
            if len(got) < KEPT_DATAGRAMS:
                got.append(item)
        self.log.remark(
            self.name,
            f"the target kept sending: the suite stopped listening after {count} datagrams in "
            f"{time.monotonic() - started:.2f} s",
        )
        return got


class Ending(StrEnum):
    """How a wait on a TCP connection ended."""

    MESSAGE = "message"
    EOF = "closed"
    RESET = "reset"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class TcpRead:
    """The result of reading from a TCP connection: a whole message, or why not, with any bytes that came."""

    ending: Ending
    data: bytes
    #: Seconds from the start of the wait to its end.
    elapsed: float

    @property
    def closed(self) -> bool:
        """True when the target closed or reset the connection."""
        return self.ending in (Ending.EOF, Ending.RESET)


class Peek(StrEnum):
    """What a glance at a connection shows."""

    OPEN = "open and silent"
    DATA = "bytes waiting"
    CLOSED = "closed or reset"


_TCP_ESTABLISHED = 1


class TcpChannel:
    """One TCP connection of the suite; sends exactly what it is given and logs every byte."""

    def __init__(
        self,
        log: WireLog,
        target: Address,
        *,
        timeout: float,
        source: str | None = None,
        receive_buffer: int | None = None,
        label: str = "tcp",
    ) -> None:
        self.log = log
        self.sock = socket.socket(family_of(target[0]), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.name = f"{label} -> {show(target)}"
        self._buffer = bytearray()
        try:
            self.sock.connect(target)
        except OSError:
            self.sock.close()
            raise
        local = self.sock.getsockname()
        #: The suite's end, the target's end and the transport, for the wire log's capture (``None``: kept out of it).
        self.flow: Flow | None = Flow("tcp", (local[0], local[1]), target)
        self.name = f"{label} {show((local[0], local[1]))} -> {show(target)}"
        self._closed = False
        self.log.event(self.name, "connected", flow=self.flow, control=Control.CONNECTED)

    def close(self) -> None:
        """Close the connection (with RST semantics avoided: a plain close)."""
        if not self._closed:
            self._closed = True
            self.log.event(self.name, "suite closed the connection", flow=self.flow, control=Control.CLOSED)
        self.sock.close()

    def __enter__(self) -> TcpChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes, note: str = "", *, message_start: bool = True) -> bool:
        """Send all of ``data``; ``False`` (logged) when the target has closed or reset the connection."""
        self.log.sent(self.name, data, message_start=message_start, note=note, flow=self.flow)
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as error:
            self.log.event(self.name, f"send failed: {error.strerror or error!r}")
            return False
        except TimeoutError:
            self.log.event(self.name, "send blocked until the timeout")
            return False
        return True

    def _fill(self, deadline: float) -> Ending | None:
        """Read one chunk into the buffer; an :class:`Ending` when the stream ended or the deadline passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            return Ending.TIMEOUT
        if not wait_for(self.sock, left):
            return Ending.TIMEOUT
        try:
            chunk = self.sock.recv(1 << 16)
        except (ConnectionResetError, ConnectionAbortedError):
            self.log.event(self.name, "connection reset by the target", flow=self.flow, control=Control.PEER_RESET)
            return Ending.RESET
        except TimeoutError:
            return Ending.TIMEOUT
        if not chunk:
            self.log.event(self.name, "closed by the target (EOF)", flow=self.flow, control=Control.PEER_CLOSED)
            return Ending.EOF
        self._buffer += chunk
        return None

    def _take(self, size: int) -> bytes:
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken

    def read_message(self, timeout: float, *, max_payload: int = MAX_READ_PAYLOAD) -> TcpRead:
        """Read one whole message (header and ``size`` payload bytes) within ``timeout`` seconds."""
        start = time.monotonic()
        deadline = start + timeout
        while True:
            if len(self._buffer) >= HEADER_SIZE:
                size = unpack_header(bytes(self._buffer[:HEADER_SIZE])).size
                if size > max_payload:
                    message = self._take(len(self._buffer))
                    self.log.received(
                        self.name, message, note=f"size {size} is absurd; not reading the payload", flow=self.flow
                    )
                    self.log.remark(self.name, f"a message declared {size} payload bytes: the suite did not read them")
                    return TcpRead(Ending.MESSAGE, message, time.monotonic() - start)
                if len(self._buffer) >= HEADER_SIZE + size:
                    message = self._take(HEADER_SIZE + size)
                    self.log.received(self.name, message, flow=self.flow)
                    return TcpRead(Ending.MESSAGE, message, time.monotonic() - start)
            ending = self._fill(deadline)
            if ending is not None:
                partial = self._take(len(self._buffer))
                if partial:
                    self.log.received(self.name, partial, note="incomplete message", flow=self.flow)
                if ending is Ending.TIMEOUT:
                    self.log.event(self.name, f"nothing more within {timeout:.2f} s")
                return TcpRead(ending, partial, time.monotonic() - start)

    def wait_closed(self, timeout: float) -> TcpRead:
        """Read until the target closes or resets the connection, or ``timeout`` passes.

        Returns the first :data:`KEPT_STREAM` bytes read; more are counted and logged, not kept.
        """
        start = time.monotonic()
        deadline = start + timeout
        data = bytearray()
        total = 0
        while True:
            ending = self._fill(deadline)
            if self._buffer:
                chunk = self._take(len(self._buffer))
                self.log.received(self.name, chunk, message_start=not total, flow=self.flow)
                data += chunk[: max(0, KEPT_STREAM - len(data))]
                total += len(chunk)
            if ending is not None:
                if total > KEPT_STREAM:
                    self.log.remark(
                        self.name, f"{total} bytes arrived while the suite waited for a close; {len(data)} were kept"
                    )
                if ending is Ending.TIMEOUT:
                    self.log.event(self.name, f"still open after {timeout:.2f} s")
                return TcpRead(ending, bytes(data), time.monotonic() - start)

    def peek(self) -> Peek:
        """Whether the target has closed the connection, sent something, or neither (no waiting, nothing consumed)."""
        timeout = self.sock.gettimeout()
        self.sock.setblocking(False)  # with a timeout set, Python would wait for readability first
        try:
            peeked = self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return Peek.OPEN
        except OSError:
            return Peek.CLOSED
        finally:
            self.sock.settimeout(timeout)
        return Peek.DATA if peeked else Peek.CLOSED

    def kernel_state_open(self) -> bool | None:
        """Whether the kernel still sees the connection established (Linux TCP_INFO), without reading a byte.

        ``None`` where TCP_INFO is not available.
        """
        tcp_info = getattr(socket, "TCP_INFO", None)
        if tcp_info is None:
            return None
        try:
            info = self.sock.getsockopt(socket.IPPROTO_TCP, tcp_info, 8)
        except OSError as error:
            if error.errno in (errno.ENOPROTOOPT, errno.EOPNOTSUPP):
                return None
            return False
        return bool(struct.unpack_from("B", info)[0] == _TCP_ESTABLISHED)


def echo_request(payload: bytes, request_id: int | None = None) -> tuple[bytes, Header]:
    """A well-formed ECHO request and its header."""
    data = pack_request(Op.ECHO, request_id or fresh_id(), payload)
    return data, unpack_header(data)
