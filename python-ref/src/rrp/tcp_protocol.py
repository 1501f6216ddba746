"""The asyncio adapter for one TCP connection: move bytes between the transport and a :class:`TcpConnection`.

It only moves bytes and arms timers:

* bytes in go to :meth:`TcpConnection.receive_data`, replies out go to ``transport.write``;
* one ``loop.call_at`` timer per connection follows :meth:`TcpConnection.get_timer`. It is
  re-armed only when the deadline moves *earlier*; when it fires early (the deadline
  moved later, as the idle deadline does after every request) it re-arms itself for
  the new one, so a busy connection costs no timer operations per request;
* slow readers (TCP-SRV-10): above ``max_buffered_reply_bytes`` of unsent replies the
  transport pauses writing, and the adapter stops reading the peer's requests; if the
  peer then accepts no reply bytes for ``send_timeout``, the connection is aborted;
* a close that follows a final reply (TOO_LARGE, BUSY, TIMEOUT, UNSUPPORTED_VERSION)
  half-closes and discards input for a short linger, so that the peer's unread
  request bytes do not make the kernel reset the connection before the reply
  arrives (nginx's ``lingering_close``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .connlimits import Admission
from .counters import CloseReason
from .tcp_core import TcpCall, TcpConnection

if TYPE_CHECKING:
    from .server import Server

#: Closes that can follow a reply while the peer is still sending: those linger (see the module docstring).
_LINGER_AFTER = frozenset({CloseReason.PROTOCOL, CloseReason.BUSY, CloseReason.REQUEST_DEADLINE})
#: Longest linger after a final reply, in seconds (shorter when the request deadline is).
MAX_LINGER = 1.0


class TcpConnectionProtocol(asyncio.Protocol):
    """One accepted connection of a :class:`~rrp.server.Server`."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._loop = server.loop
        self._transport: asyncio.Transport | None = None
        self._core: TcpConnection | None = None
        self._host = ""
        self._admission = Admission.REFUSE
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._send_timer: asyncio.TimerHandle | None = None
        self._unsent_at_pause = 0
        self._lingering = False
        self._reading_paused = False
        self._aborted = False

    # --- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        server = self._server
        self._transport = transport
        peer = transport.get_extra_info("peername")
        host, port = str(peer[0]), int(peer[1])
        self._host = host
        server.counters.connections_accepted += 1
        self._admission = admission = server.limits.admit(host)
        if admission is Admission.REFUSE:
            server.counters.connections_refused += 1
            server.counters.closes[CloseReason.BUSY] += 1
            transport.abort()
            return
        label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._core = TcpConnection(
            server.settings,
            server.dispatcher,
            server.counters,
            self._loop.time(),
            peer=label,
            busy=admission is Admission.BUSY,
            on_reject=server.log_rejection,
        )
        server.connection_opened(self)
        transport.set_write_buffer_limits(high=server.settings.max_buffered_reply_bytes)
        self._arm(self._core.get_timer())

    def data_received(self, data: bytes) -> None:
        core = self._core
        if core is None or self._lingering:
            return  # refused, or closing: the bytes are discarded unread
        core.receive_data(data, self._loop.time())
        self._after_core(core)

    def eof_received(self) -> bool:
        core = self._core
        if core is None or self._lingering:
            return False
        core.receive_data(b"", self._loop.time())
        self._after_core(core)
        return True  # the core decides when to close (a handler may still be answering)

    def pause_writing(self) -> None:
        # TCP-SRV-10: stop taking requests from a peer that does not take its replies.
        transport = self._transport
        if transport is None:
            return
        if not self._lingering and transport.is_reading():
            transport.pause_reading()
            self._reading_paused = True
        self._unsent_at_pause = transport.get_write_buffer_size()
        self._send_timer = self._loop.call_later(self._server.settings.send_timeout, self._check_send_progress)

    def resume_writing(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        transport = self._transport
        if transport is not None and self._reading_paused and not transport.is_closing():
            self._reading_paused = False
            transport.resume_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        for timer in (self._timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._send_timer = None
        server = self._server
        if self._core is not None:
            if not self._core.closed and not self._aborted:
                server.counters.closes[CloseReason.PEER] += 1
            server.connection_closed(self)
        server.limits.release(self._host, self._admission)
        self._admission = Admission.REFUSE
        self._transport = None

    # --- driving the core ----------------------------------------------------------------

    def shutdown(self) -> None:
        """Finish the request in progress, then close (graceful server shutdown)."""
        core = self._core
        if core is not None and not core.closed:
            core.shutdown(self._loop.time())
            self._after_core(core)

    def abort(self) -> None:
        """Drop the connection now."""
        if self._transport is not None:
            if self._core is not None and not self._core.closed and not self._aborted:
                self._server.counters.closes[CloseReason.SHUTDOWN] += 1
            self._aborted = True
            self._transport.abort()

    def _after_core(self, core: TcpConnection) -> None:
        transport = self._transport
        if transport is None:
            return
        out = core.data_to_send()
        if out:
            transport.write(out)
        calls = core.take_calls()
        if calls:
            for call in calls:
                self._server.start_task(self._run_call(core, call))
        if core.closed:
            self._close(final_reply=bool(out) and core.close_reason in _LINGER_AFTER)
            return
        deadline = core.get_timer()
        if deadline is not None and (self._timer is None or deadline < self._timer_when):
            self._arm(deadline)

    def _arm(self, deadline: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer_when = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        core = self._core
        if core is None or self._transport is None:
            return
        if self._lingering:
            self._transport.abort()
            return
        core.handle_timer(self._loop.time())
        self._after_core(core)
        if not core.closed and self._timer is None:
            self._arm(core.get_timer())

    def _check_send_progress(self) -> None:
        self._send_timer = None
        transport = self._transport
        if transport is None:
            return
        unsent = transport.get_write_buffer_size()
        if unsent < self._unsent_at_pause:
            # The peer took some bytes: it is slow, not stalled. Give it another send timeout.
            self._unsent_at_pause = unsent
            self._send_timer = self._loop.call_later(self._server.settings.send_timeout, self._check_send_progress)
            return
        self._server.counters.closes[CloseReason.SEND_TIMEOUT] += 1
        self._aborted = True
        transport.abort()

    def _close(self, *, final_reply: bool) -> None:
        transport = self._transport
        assert transport is not None
        if not final_reply or not transport.can_write_eof():
            transport.close()
            return
        # Linger: send the reply, then our FIN, and discard whatever the peer still sends for a moment.
        self._lingering = True
        transport.write_eof()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        self._arm(self._loop.time() + min(MAX_LINGER, self._server.settings.request_deadline))

    async def _run_call(self, core: TcpConnection, call: TcpCall) -> None:
        try:
            value = await call.coroutine
        except Exception as error:
            core.complete(call, None, error, self._loop.time())
        else:
            core.complete(call, value, None, self._loop.time())
        if self._transport is not None and not self._lingering:
            self._after_core(core)
