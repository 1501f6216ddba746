"""A scripted TCP server on loopback that misbehaves on purpose, to grade a client.

For each connection the server reads one whole request (header, then ``size``
payload bytes), then hands the connection to the check's *behaviour*, which may
answer in one write or one byte at a time, answer with a forged header, close in
the middle of a reply, or never answer at all. Afterwards the server keeps the
connection open and records when the client abandons it (its EOF), which is what
the TCP client checks measure.
"""

from __future__ import annotations

import contextlib
import functools
import selectors
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

from rrp_spec import HEADER_SIZE, unpack_header

from ..wirelog import Control, Flow, WireLog

#: How often blocked server threads wake to look at the stop flag.
_POLL_INTERVAL = 0.05
#: The suite reads at most this many payload bytes of a request; a client under test sends far fewer.
MAX_REQUEST_PAYLOAD = 1 << 16
_READ_CHUNK = 65536
#: Bytes kept of what a client sends after its request (it should send none); more are counted only.
KEPT_EXTRA = 1 << 16
#: Connections one server serves, each with a thread; later ones are closed at once and counted (a client
#: opens one per call).
MAX_CONNECTIONS = 16


class TcpExchange:
    """One accepted connection: the request the client sent and the means to answer it."""

    def __init__(self, sock: socket.socket, log: WireLog, stop: threading.Event, number: int) -> None:
        self._sock = sock
        self._log = log
        self._stop = stop
        host, port = sock.getpeername()[:2]
        local = sock.getsockname()
        #: The wire log's name for this connection: ``tcp#1 127.0.0.1:53211`` (the client's end).
        self.channel = f"tcp#{number} {host}:{port}"
        #: The suite's end, the client's end and the transport, for the wire log's capture.
        self.flow = Flow("tcp", (local[0], local[1]), (host, port))
        self._closed = False
        #: ``time.monotonic()`` when the connection was accepted.
        self.accepted_at = time.monotonic()
        #: The request's bytes (header and payload), or ``None`` if the client never sent a whole one.
        self.request: bytes | None = None
        #: When the request's last byte arrived.
        self.request_at: float | None = None
        #: When the client closed or reset its end, if it did before the suite stopped watching.
        self.peer_closed_at: float | None = None
        #: Bytes the client sent after its request (with a one-shot client: nothing, MSG-5): the first
        #: :data:`KEPT_EXTRA` of them.
        self.extra = b""
        #: How many bytes the client sent after its request in all.
        self.extra_length = 0
        self._buffer = bytearray()

    # --- used by behaviours -------------------------------------------------------------
    def send(self, data: bytes, note: str = "") -> None:
        """Write ``data`` in one call; a client that already left is not an error of the suite."""
        if self._closed:
            return
        with contextlib.suppress(OSError):
            self._sock.sendall(data)
        self._log.sent(self.channel, data, note=note, flow=self.flow)

    def send_bytewise(self, data: bytes, gap: float, note: str = "") -> None:
        """Write ``data`` one byte per segment, ``gap`` seconds apart, so that the client sees short reads."""
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index in range(len(data)):
            if self._closed or (index and self._stop.wait(gap)):
                return
            try:
                self._sock.sendall(data[index : index + 1])
            except OSError:
                self._log.event(self.channel, "client gone mid-reply")
                return
        self._log.sent(self.channel, data, note=note, flow=self.flow)

    def close(self, note: str = "suite closed the connection") -> None:
        """Close the suite's end now."""
        if not self._closed:
            self._closed = True
            self._sock.close()
            self._log.event(self.channel, note, flow=self.flow, control=Control.CLOSED)

    # --- used by the server ---------------------------------------------------------------
    def read_request(self) -> bool:
        """Read one whole request; False when the client closed first or the suite stopped."""
        while not self._stop.is_set():
            if len(self._buffer) >= HEADER_SIZE:
                wanted = HEADER_SIZE + min(unpack_header(self._buffer).size, MAX_REQUEST_PAYLOAD)
                if len(self._buffer) >= wanted:
                    self.request = bytes(self._buffer[:wanted])
                    self.request_at = time.monotonic()
                    self._log.received(self.channel, self.request, flow=self.flow)
                    self._keep_extra(bytes(self._buffer[wanted:]))
                    self._buffer.clear()
                    return True
            data = self._receive()
            if data is None:
                continue
            if not data:
                return False
            self._buffer += data
        return False

    def watch_until_peer_closes(self) -> None:
        """After the behaviour: drain and log what the client sends until it closes or the suite stops."""
        while not self._closed and not self._stop.is_set():
            data = self._receive()
            if data is None:
                continue
            if not data:
                return
            self._keep_extra(data)
            self._log.received(self.channel, data, message_start=False, note="after the request", flow=self.flow)

    def _keep_extra(self, data: bytes) -> None:
        self.extra_length += len(data)
        if len(self.extra) < KEPT_EXTRA:
            self.extra += data[: KEPT_EXTRA - len(self.extra)]

    def _receive(self) -> bytes | None:
        """Bytes read, ``b""`` at the peer's EOF or reset (recorded), ``None`` when nothing came in a poll interval."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            if not selector.select(_POLL_INTERVAL):
                return None
        try:
            data = self._sock.recv(_READ_CHUNK)
        except OSError:
            data = b""
        if not data:
            self.peer_closed_at = time.monotonic()
            self._log.event(self.channel, "client closed the connection", flow=self.flow, control=Control.PEER_CLOSED)
        return data


#: What the server does once a connection's request has arrived.
TcpBehaviour = Callable[[TcpExchange], None]


class HostileTcpServer:
    """A TCP listener on loopback whose connections each get the same behaviour; stopped when the block ends."""

    def __init__(self, behaviour: TcpBehaviour, log: WireLog, *, host: str = "127.0.0.1") -> None:
        self._behaviour = behaviour
        self._log = log
        self._host = host
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._exchanges: list[TcpExchange] = []
        self._lock = threading.Lock()
        self._failures: list[BaseException] = []
        #: Connections closed at once because :data:`MAX_CONNECTIONS` were already being served.
        self.refused = 0

    @property
    def host(self) -> str:
        """The address the client must connect to."""
        return self._host

    @property
    def port(self) -> int:
        """The listening port."""
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def exchanges(self) -> tuple[TcpExchange, ...]:
        """Every connection accepted so far."""
        with self._lock:
            return tuple(self._exchanges)

    def __enter__(self) -> HostileTcpServer:
        try:
            self._listener.bind((self._host, 0))
            self._listener.listen(16)
        except BaseException:
            self._listener.close()
            raise
        self._start(self._accept_loop, f"hostile-tcp-{self.port}")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        joined = 0
        while True:  # the accept loop (joined first) may have started more
            with self._lock:  # a thread is listed and started under the lock: never joined before it starts
                if joined == len(self._threads):
                    break
                thread = self._threads[joined]
            thread.join()
            joined += 1
        if self.refused:
            self._log.remark(
                f"tcp {self._host}:{self.port}",
                f"the client opened {MAX_CONNECTIONS + self.refused} connections; the suite served the first "
                f"{MAX_CONNECTIONS} and closed the rest at once",
            )
        self._listener.close()
        for exchange in self.exchanges:
            if exchange.extra_length > KEPT_EXTRA:
                self._log.remark(
                    exchange.channel,
                    f"the client sent {exchange.extra_length} bytes after its request; the suite kept {KEPT_EXTRA}",
                )
            exchange.close("suite stopped")
        if self._failures and exc is None:
            raise RuntimeError("the hostile TCP server's behaviour failed") from self._failures[0]

    def _start(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=self._guarded(target), name=name, daemon=True)
        with self._lock:
            thread.start()
            self._threads.append(thread)

    def _guarded(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # surfaced by __exit__: a check must not pass on a crashed server
                with self._lock:
                    self._failures.append(exc)

        return run

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(_POLL_INTERVAL):
                    continue
                try:
                    sock, _ = self._listener.accept()
                except OSError:
                    continue
                if len(self.exchanges) >= MAX_CONNECTIONS:  # a client flooding connections gets no more threads
                    sock.close()
                    self.refused += 1
                    continue
                try:
                    exchange = TcpExchange(sock, self._log, self._stop, len(self.exchanges) + 1)
                except OSError:  # a client that connected and reset at once: nothing to serve
                    sock.close()
                    continue
                self._log.event(
                    exchange.channel,
                    f"accepted on {self._host}:{self.port}",
                    flow=exchange.flow,
                    control=Control.ACCEPTED,
                )
                with self._lock:
                    self._exchanges.append(exchange)
                self._start(functools.partial(self._serve, exchange), f"hostile-tcp-conn-{len(self._threads)}")

    def _serve(self, exchange: TcpExchange) -> None:
        if exchange.read_request():
            self._behaviour(exchange)
        exchange.watch_until_peer_closes()


#: Connections the suite itself opens to fill an unaccepting listener's queue (Linux holds backlog + 1).
_QUEUE_FILLERS = 4


class UnacceptingTcpServer:
    """A TCP listener whose accept queue the suite has filled and never drains: a client's connect stays pending.

    With the queue full the kernel drops further SYNs (Linux, unless ``tcp_abort_on_overflow`` is set), so
    a client connecting here learns nothing until its own connect deadline (TCP-CLI-2). Where the kernel
    refuses instead, the client gets an immediate error, which tells the check nothing either way.
    """

    def __init__(self, log: WireLog, *, host: str = "127.0.0.1") -> None:
        self._log = log
        self._host = host
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._fillers: list[socket.socket] = []

    @property
    def host(self) -> str:
        """The address the client must connect to."""
        return self._host

    @property
    def port(self) -> int:
        """The listening port."""
        port: int = self._listener.getsockname()[1]
        return port

    def __enter__(self) -> UnacceptingTcpServer:
        try:
            self._listener.bind((self._host, 0))
            self._listener.listen(0)
            for _ in range(_QUEUE_FILLERS):
                filler = socket.socket(self._listener.family, socket.SOCK_STREAM)
                self._fillers.append(filler)
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect((self._host, self.port))
        except BaseException:
            self._close()
            raise
        self._log.event(
            f"tcp {self._host}:{self.port}", f"listening, accept queue filled by {_QUEUE_FILLERS} connections"
        )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()

    def _close(self) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()
