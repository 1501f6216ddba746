"""One connection pipelining small requests as fast as the target takes them, its replies read and counted.

The fast-neighbour check (TCP-SRV-8) runs a :class:`PipelineFlood` on a thread of its own while it times
another connection's round trips. The flood sends one precomputed chunk of bare-header requests over and
over, and reads every reply as it comes, so the target is never blocked writing to it: a server that stops
reading a connection whose replies go unread is right to, so the flood must read to prove anything. It keeps
at most ``window`` requests unanswered, so the target always finds a full read's worth queued (an unfair
server is never let off by an empty socket) while the queue left behind when the flood stops stays bounded.

Replies are counted in bytes: every request of the flood is a bare header (a NOOP, or a NOOP with a reserved
flag bit, MALFORMED), and so is every reply a conformant server sends (SRV-13), so bytes over the header
size is the number answered. A target that sends more only makes the count look higher.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
import time

from rrp_spec import HEADER_SIZE, RESERVED_FLAG_BITS, Header, Op, pack_header

from .net import TcpChannel

#: The reserved flag bit the flood's MALFORMED requests set (SRV-3 answers them; TCP-SRV-9 keeps the connection).
RESERVED_BIT = 0x40
assert RESERVED_BIT & RESERVED_FLAG_BITS
#: Bytes the flood reads at once.
_READ = 1 << 20
#: Milliseconds one poll of the flood's socket waits at most (how soon it notices it should stop).
_POLL_MS = 20


def flood_chunk(requests: int) -> bytes:
    """``requests`` bare-header requests with random IDs: NOOPs, every other one with a reserved flag bit, so the
    target's error path (the attack's, MALFORMED) is worked as hard as its success path."""
    ids = struct.unpack(f">{requests}Q", os.urandom(8 * requests))
    return b"".join(
        pack_header(Header(flags=RESERVED_BIT if n % 2 else 0, operation=Op.NOOP, request_id=rid or 1))
        for n, rid in enumerate(ids)
    )


class PipelineFlood:
    """Pipeline ``chunk`` on ``channel`` until :meth:`stop`, keeping at most ``window`` requests unanswered."""

    def __init__(self, channel: TcpChannel, chunk: bytes, *, window: int) -> None:
        self.channel = channel
        self._chunk = chunk
        self._window_bytes = window * HEADER_SIZE
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline-flood", daemon=True)
        #: Request bytes the target has taken, and reply bytes read (written by the flood's thread only).
        self.sent = 0
        self.received = 0
        #: Why the flood ended before :meth:`stop`: the target closed or reset the connection (empty: it did not).
        self.ended = ""
        #: The first reply, for the wire log.
        self.first_reply = b""
        #: When :meth:`start` was called (``time.monotonic()``).
        self.started = 0.0

    @property
    def answered(self) -> int:
        """Requests answered so far (reply bytes over the header size: see the module docstring)."""
        return self.received // HEADER_SIZE

    def start(self) -> None:
        """Start flooding on a thread of its own (:attr:`started` says when)."""
        self.channel.log.sent(
            self.channel.name,
            self._chunk[: 2 * HEADER_SIZE],
            note=f"the first two of {len(self._chunk) // HEADER_SIZE} pipelined requests (a NOOP, then a NOOP with a "
            "reserved flag bit), sent over and over; replies read and counted, not logged",
            flow=self.channel.flow,
        )
        self.started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Stop flooding and wait for the thread (it notices within a poll)."""
        self._stop.set()
        self._thread.join()
        if self.first_reply:
            self.channel.log.received(
                self.channel.name, self.first_reply, note="the flood's first reply", flow=self.channel.flow
            )
        self.channel.log.event(
            self.channel.name,
            f"flood over: {self.sent // HEADER_SIZE} requests taken by the target, {self.answered} answered"
            + (f"; {self.ended}" if self.ended else ""),
        )

    def _run(self) -> None:
        sock = self.channel.sock
        sock.setblocking(False)
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        pending = memoryview(b"")
        try:
            while not self._stop.is_set():
                writing = bool(pending) or self.sent - self.received < self._window_bytes
                poller.modify(sock, select.POLLIN | (select.POLLOUT if writing else 0))
                for _, events in poller.poll(_POLL_MS):
                    if events & (select.POLLIN | select.POLLERR | select.POLLHUP) and not self._read(sock):
                        return
                    if events & select.POLLOUT:
                        if not pending:
                            pending = memoryview(self._chunk)
                        with contextlib.suppress(BlockingIOError):
                            taken = sock.send(pending)
                            self.sent += taken
                            pending = pending[taken:]
        except OSError as error:
            self.ended = f"the connection failed: {error.strerror or error!r}"

    def _read(self, sock: socket.socket) -> bool:
        """Read what has arrived (one read a poll, so a target that streams without end cannot hold the thread);
        ``False`` when the target closed the connection."""
        try:
            data = sock.recv(_READ)
        except BlockingIOError:
            return True
        if not data:
            self.ended = "the target closed the connection"
            return False
        if not self.first_reply:
            self.first_reply = data[:HEADER_SIZE]
        self.received += len(data)
        return True
