"""A scripted UDP server on loopback that misbehaves on purpose, to grade a client.

A check gives the server a *behaviour*: a function from each arriving datagram
(and how many came before it) to the datagrams to send back, each with a delay
and a choice of socket. The server records every arrival with its time, so a
check can measure the client's retransmission intervals where they cannot be
blurred by the client's process start-up: between arrivals at the server.

Replies can come from three sockets (:class:`ReplySource`): the one the client
asked; an *other-port* socket on the same address; and, when asked for, an
*other-address* socket bound to another loopback address (127.0.0.2 by default)
on the same port number as the main one. A reply from either impostor carries the
right request ID but the wrong source (UDP-CLI-1).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import platform
import selectors
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from rrp_spec import UDP_RECEIVE_BUFFER_SIZE

from ..wirelog import Flow, WireLog

#: Largest datagram the server reads: anything a client can send fits.
_RECEIVE_BUFFER = UDP_RECEIVE_BUFFER_SIZE
#: Linux's SO_TIMESTAMP, which Python does not export: 29 in asm-generic/socket.h and on every architecture
#: but PA-RISC. With it the kernel stamps each datagram as it arrives, so a suite thread that is scheduled
#: late on a loaded machine does not shorten the interval it measures between two retransmissions.
_SO_TIMESTAMP: int | None = getattr(
    socket, "SO_TIMESTAMP", 29 if sys.platform == "linux" and not platform.machine().startswith("parisc") else None
)
#: A ``struct timeval``: seconds and microseconds, two C longs.
_TIMEVAL = struct.Struct("@ll")
#: How often the server thread wakes to look at its stop flag when nothing is due.
_POLL_INTERVAL = 0.05
#: Arrivals the server keeps and answers; later ones are only counted. A client sends a handful (its claimed
#: attempts); one that floods the suite must not grow its memory (at most this many 64 KiB datagrams).
KEPT_ARRIVALS = 256


@dataclass(frozen=True, slots=True)
class Datagram:
    """One datagram the client under test sent to the suite."""

    #: ``time.monotonic()`` when the server read it.
    at: float
    #: The client's address and port.
    source: tuple[str, int]
    data: bytes


class ReplySource(StrEnum):
    """Which of the server's sockets a datagram is sent from."""

    #: The address and port the client sent its request to.
    SERVER = "server"
    #: The same address, another port.
    OTHER_PORT = "other port"
    #: Another loopback address, the same port number.
    OTHER_ADDRESS = "other address"


@dataclass(frozen=True, slots=True)
class Send:
    """One datagram the behaviour wants sent to the client."""

    data: bytes
    #: Seconds after the triggering arrival.
    delay: float = 0.0
    #: The socket it is sent from.
    source: ReplySource = ReplySource.SERVER
    #: Why, for the wire log ("forged reply: wrong request_id").
    note: str = ""


#: What the server does with arrival number ``index`` (0-based): the datagrams to send back.
UdpBehaviour = Callable[[int, Datagram], Sequence[Send]]


class AlternateAddressUnavailable(OSError):
    """The alternate loopback address cannot be bound on this host (e.g. macOS has only 127.0.0.1)."""


class HostileUdpServer:
    """A UDP server on ``host`` (loopback) run by a background thread until the ``with`` block ends."""

    def __init__(
        self,
        behaviour: UdpBehaviour,
        log: WireLog,
        *,
        host: str = "127.0.0.1",
        alternate_host: str | None = None,
    ) -> None:
        self._behaviour = behaviour
        self._log = log
        self._host = host
        self._alternate_host = alternate_host
        self._arrivals: list[Datagram] = []
        #: Every datagram that arrived, kept or not.
        self._arrival_count = 0
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self._alternate: socket.socket | None = None
        self._other_port = socket.socket(self._sock.family, socket.SOCK_DGRAM)
        #: An error the behaviour raised, re-raised when the server stops so that a broken check is not silent.
        self._failure: BaseException | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (and the alternate socket sends from)."""
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def host(self) -> str:
        """The address the client must send to."""
        return self._host

    @property
    def arrivals(self) -> tuple[Datagram, ...]:
        """The datagrams received so far, in order: the first :data:`KEPT_ARRIVALS` of them."""
        with self._arrived:
            return tuple(self._arrivals)

    @property
    def arrival_count(self) -> int:
        """How many datagrams arrived in all, kept or not."""
        with self._arrived:
            return self._arrival_count

    def wait_for_arrivals(self, count: int, timeout: float) -> bool:
        """Block until ``count`` datagrams have arrived or ``timeout`` passes; True when they have."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._arrival_count >= count, timeout)

    def __enter__(self) -> HostileUdpServer:
        try:
            self._sock.bind((self._host, 0))
            self._enable_kernel_timestamps()
            self._other_port.bind((self._host, 0))
            if self._alternate_host is not None:
                self._alternate = socket.socket(self._sock.family, socket.SOCK_DGRAM)
                try:
                    self._alternate.bind((self._alternate_host, self.port))
                except OSError as exc:
                    raise AlternateAddressUnavailable(
                        f"cannot bind the alternate address {self._alternate_host}:{self.port}: {exc.strerror}"
                    ) from exc
        except BaseException:
            self._close_sockets()
            raise
        self._thread = threading.Thread(target=self._serve, name=f"hostile-udp-{self.port}", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._arrival_count > KEPT_ARRIVALS:
            self._log.remark(
                _channel(self._sock),
                f"the client sent {self._arrival_count} datagrams; the suite kept and answered the first "
                f"{KEPT_ARRIVALS}",
            )
        self._close_sockets()
        if self._failure is not None and exc is None:
            raise RuntimeError("the hostile UDP server's behaviour failed") from self._failure

    def _close_sockets(self) -> None:
        self._sock.close()
        self._other_port.close()
        if self._alternate is not None:
            self._alternate.close()

    def _enable_kernel_timestamps(self) -> bool:
        if _SO_TIMESTAMP is None:
            return False
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMP, 1)
        except OSError:
            return False
        return True

    def _receive(self) -> tuple[bytes, float, tuple[str, int]]:
        """One datagram, the ``time.monotonic()`` it arrived (from the kernel's stamp when there is one), its source."""
        data, ancillary, _, source = self._sock.recvmsg(_RECEIVE_BUFFER, socket.CMSG_SPACE(_TIMEVAL.size))
        now_monotonic, now_wall = time.monotonic(), time.time()
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMP and len(payload) >= _TIMEVAL.size:
                seconds, microseconds = _TIMEVAL.unpack_from(payload)
                stamped_wall = seconds + microseconds / 1e6
                # The kernel stamps wall-clock time; move it onto the monotonic clock the checks use.
                return data, min(now_monotonic, now_monotonic - (now_wall - stamped_wall)), source
        return data, now_monotonic, source

    def _serve(self) -> None:
        sockets = {ReplySource.SERVER: self._sock, ReplySource.OTHER_PORT: self._other_port}
        if self._alternate is not None:
            sockets[ReplySource.OTHER_ADDRESS] = self._alternate
        channels = {source: _channel(sock) for source, sock in sockets.items()}
        local = channels[ReplySource.SERVER]
        due: list[tuple[float, int, Send, tuple[str, int]]] = []
        order = itertools.count()
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            try:
                while not self._stop.is_set():
                    now = time.monotonic()
                    while due and due[0][0] <= now:
                        _, _, send, destination = heapq.heappop(due)
                        sender = send.source if send.source in sockets else ReplySource.SERVER
                        with contextlib.suppress(OSError):  # a client that already exited: nothing to grade
                            sockets[sender].sendto(send.data, destination)
                        flow = Flow("udp", _endpoint(sockets[sender]), destination)
                        self._log.sent(channels[sender], send.data, note=send.note, flow=flow)
                    wait = _POLL_INTERVAL if not due else max(0.0, min(_POLL_INTERVAL, due[0][0] - now))
                    if not selector.select(wait):
                        continue
                    try:
                        data, arrived_at, source = self._receive()
                    except OSError:  # ICMP port unreachable from an earlier send to an exited client
                        continue
                    arrival = Datagram(arrived_at, (source[0], source[1]), data)
                    flow = Flow("udp", _endpoint(self._sock), (source[0], source[1]))
                    self._log.received(local, data, note=f"from {source[0]}:{source[1]}", flow=flow)
                    with self._arrived:
                        index = self._arrival_count
                        self._arrival_count += 1
                        if index < KEPT_ARRIVALS:
                            self._arrivals.append(arrival)
                        self._arrived.notify_all()
                    if index >= KEPT_ARRIVALS:
                        continue
                    for send in self._behaviour(index, arrival):
                        heapq.heappush(due, (arrival.at + send.delay, next(order), send, arrival.source))
            except BaseException as exc:  # surfaced by __exit__: a check must not pass on a crashed server
                self._failure = exc


def _endpoint(sock: socket.socket) -> tuple[str, int]:
    """The suite's end of ``sock``: host and port."""
    host, port = sock.getsockname()[:2]
    return host, port


def _channel(sock: socket.socket) -> str:
    """``udp 127.0.0.1:4000``: the suite's socket, as the wire log names it."""
    host, port = sock.getsockname()[:2]
    return f"udp {host}:{port}"
