"""The asyncio adapter for one TCP connection: report the transport's facts to a ``TcpConnection``, do what it says.

Every decision (admission, framing, deadlines, slow readers, linger, resets) is the core's
(:mod:`rrp._sansio.tcp_core`). After each input this writes what the core has to send,
reports what the kernel did not take yet, reads or pauses, ends the transport as the core
says, hands the core's events to the server, and follows the core's one timer with one
``loop.call_at``, re-armed only when the deadline moves earlier (when it fires early, the
core has nothing to do and it is armed again), so a busy connection costs no timer work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from .._sansio.server_events import CallRequested, CarryOut, Observe
from .._sansio.tcp_core import Ending, TcpConnection
from .._sansio.tcp_server import TcpServerCore
from .tcp_socket import half_close, kernel_unacked, reset

#: Told when a connection starts being served, and when it is gone.
ConnectionHook = Callable[["TcpConnectionProtocol"], None]


def admit(
    transport: asyncio.Transport, server_core: TcpServerCore, observe: Observe, now: float
) -> TcpConnection | None:
    """The core of a just-accepted connection, or ``None`` after resetting one the limits refuse."""
    peer = transport.get_extra_info("peername")
    core = server_core.accept(str(peer[0]), int(peer[1]), now)
    if core is None:
        observe(server_core.take_events())
        reset(transport)
    return core


class TcpConnectionProtocol(asyncio.Protocol):
    """One accepted connection: the asyncio side of a :class:`TcpConnection`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        server_core: TcpServerCore,
        observe: Observe,
        carry_out: CarryOut,
        opened: ConnectionHook,
        closed: ConnectionHook,
    ) -> None:
        self._loop = loop
        self._server_core = server_core
        self._observe = observe
        self._carry_out = carry_out
        self._opened = opened
        self._closed = closed
        self._transport: asyncio.Transport | None = None
        self._core: TcpConnection | None = None
        self._ending: Ending | None = None  # what was last done about the core's ending
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        # Bytes (b"" for EOF) that arrived between a TLS handshake and adopt(): kept, not judged, until then.
        self._held: list[bytes] | None = None
        self._tls = False  # TLS has no half-close: the transport closes itself after EOF, whatever we answer
        self._continuing = False  # a resume() of the core's backlog is scheduled

    # --- asyncio callbacks: facts in ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's TCP transport is not an asyncio.Transport subclass.
        transport = cast(asyncio.Transport, transport)
        core = admit(transport, self._server_core, self._observe, self._loop.time())
        if core is not None:
            self.adopt(transport, core)

    def hold(self, core: TcpConnection) -> None:
        """Take ``core``'s connection before its TLS handshake; bytes that arrive are kept until :meth:`adopt`."""
        self._core = core
        self._held = []
        self._tls = True

    def adopt(self, transport: asyncio.Transport, core: TcpConnection) -> None:
        """Serve ``core``'s connection over ``transport``: at once for plain TCP, after the handshake for TLS."""
        self._transport = transport
        self._core = core
        held, self._held = self._held or [], None
        transport.set_write_buffer_limits(high=self._server_core.settings.max_buffered_reply_bytes)
        self._opened(self)
        now = self._loop.time()
        for data in held:
            core.receive_data(data, now)
        self._sync(core)

    def data_received(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(data)
            return
        if self._core is not None:
            self._core.receive_data(data, self._loop.time())
            self._sync(self._core)

    def eof_received(self) -> bool:
        if self._held is not None:
            self._held.append(b"")
            return False  # TLS ignores the answer; a held connection has no transport to keep open yet
        if self._core is not None:
            self._core.receive_data(b"", self._loop.time())
            self._sync(self._core)
        return not self._tls  # the core says when to close (a handler may still be answering)

    def pause_writing(self) -> None:
        # Only ever called from inside transport.write() in _sync, which then applies `reading`.
        if self._core is not None:
            self._core.write_blocked(self._loop.time())

    def resume_writing(self) -> None:
        if self._core is not None:
            self._core.write_unblocked(self._loop.time())
            self._sync(self._core)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = None
        if self._core is not None:
            self._core.connection_lost(self._loop.time())
            self._report(self._core)
            self._closed(self)

    # --- the server's requests -------------------------------------------------------------

    def shutdown(self) -> None:
        """Finish the request in progress, then close (graceful server shutdown)."""
        if self._core is not None:
            self._core.shutdown(self._loop.time())
            self._sync(self._core)

    def abort(self) -> None:
        """Drop the connection now (the shutdown's grace period is over)."""
        if self._core is not None:
            self._core.abort(self._loop.time())
            self._sync(self._core)

    @property
    def core(self) -> TcpConnection | None:
        """The connection's core, once it is being served."""
        return self._core

    def sync(self) -> None:
        """Carry out what the core says now (after the server told it something, such as a reclaim)."""
        if self._core is not None:
            self._sync(self._core)

    # --- instructions out ------------------------------------------------------------------

    def _sync(self, core: TcpConnection) -> None:
        transport = self._transport
        if transport is None or self._ending is Ending.RESET:
            self._report(core)
            return
        out = core.data_to_send()
        if out:
            transport.write(out)
            core.note_unsent(transport.get_write_buffer_size(), self._loop.time())
        self._report(core)
        ending = core.ending
        if ending is not self._ending:
            self._ending = ending
            if ending is Ending.RESET:
                reset(transport)
                return
            if ending is Ending.HALF_CLOSE:
                half_close(transport)
            elif ending is Ending.CLOSE:
                transport.close()
        if core.reading != transport.is_reading() and not transport.is_closing():
            if core.reading:
                transport.resume_reading()
            else:
                transport.pause_reading()
        if core.backlog and not self._continuing:
            # More requests wait in the buffer: frame them on a later turn of the loop, after everyone else's.
            self._continuing = True
            self._loop.call_soon(self._continue)
        deadline = core.get_timer()
        if deadline is not None and (self._timer is None or deadline < self._timer_when):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_when = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _continue(self) -> None:
        self._continuing = False
        if self._core is not None and self._transport is not None:
            self._core.resume(self._loop.time())
            self._sync(self._core)

    def _on_timer(self) -> None:
        self._timer = None
        core, transport = self._core, self._transport
        if core is None or transport is None:
            return
        unsent = transport.get_write_buffer_size()
        core.handle_timer(self._loop.time(), unsent=unsent, unacked=kernel_unacked(transport))
        self._sync(core)

    def _report(self, core: TcpConnection) -> None:
        events = core.take_events()
        if events:
            self._observe(events)
            for event in events:
                if type(event) is CallRequested:
                    self._carry_out(event, self._answer)

    def _answer(self, call: CallRequested, value: object, error: BaseException | None) -> None:
        if self._core is not None:
            self._core.complete(call, value, error, self._loop.time())
            self._sync(self._core)
