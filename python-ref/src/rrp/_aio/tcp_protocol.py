"""The asyncio adapter for one TCP connection: move bytes between the transport and a :class:`TcpConnection`.

It only moves bytes and arms timers:

* bytes in go to :meth:`TcpConnection.receive_data`, replies out go to ``transport.write``;
* one ``loop.call_at`` timer per connection follows :meth:`TcpConnection.get_timer`. It is
  re-armed only when the deadline moves *earlier*; when it fires early (the deadline
  moved later, as the idle deadline does after every request) it re-arms itself for
  the new one, so a busy connection costs no timer operations per request;
* slow readers (TCP-SRV-10): whenever replies wait in the transport (the kernel took
  no more), a progress timer runs; if the kernel then accepts none of them for
  ``send_timeout``, the connection is reset. The count is of bytes handed to the
  kernel, not of the buffer's size, so new replies cannot hide a stall. Above
  ``max_buffered_reply_bytes`` the transport pauses writing and the adapter stops
  reading the peer's requests, which bounds the memory a non-reader can take;
* a close that follows a final reply (TOO_LARGE, BUSY, TIMEOUT, UNSUPPORTED_VERSION)
  half-closes and discards input for a short linger, so that the peer's unread
  request bytes do not make the kernel reset the connection before the reply
  arrives (nginx's ``lingering_close``);
* every forced close (send timeout, linger over, shutdown) is a reset: ``SO_LINGER``
  of zero before the close. A plain close would leave the kernel an orphaned socket
  in FIN-WAIT-1 that still holds the unsent replies and that a peer which never
  reads keeps established for minutes: the peer would not be dropped at all. The
  idle timeout resets too when the kernel still holds replies the peer has not
  taken (``TIOCOUTQ``): after a whole idle timeout, that peer is not reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
from typing import TYPE_CHECKING, cast

from rrp_spec.addresses import format_address

from .._sansio.connlimits import Admission
from .._sansio.counters import CloseReason
from .._sansio.tcp_core import TcpCall, TcpConnection

if TYPE_CHECKING:
    from .server import Server

#: Closes that can follow a reply while the peer is still sending: those linger (see the module docstring).
_LINGER_AFTER = frozenset({CloseReason.PROTOCOL, CloseReason.BUSY, CloseReason.REQUEST_DEADLINE})
#: Longest linger after a final reply, in seconds (shorter when the request deadline is).
MAX_LINGER = 1.0
#: ``struct linger`` with l_onoff=1, l_linger=0: close() then discards unsent data and sends RST.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class TcpConnectionProtocol(asyncio.Protocol):
    """One accepted connection of a :class:`~rrp._aio.server.Server`."""

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
        self._bytes_written = 0  # every reply byte handed to the transport
        self._sent_at_check = 0  # of those, how many the kernel had taken at the last progress check
        self._lingering = False
        self._write_blocked = False  # between pause_writing and resume_writing
        self._aborted = False

    # --- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's TCP transport is not an asyncio.Transport subclass.
        transport = cast(asyncio.Transport, transport)
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
        label = format_address((host, port))
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
        self._write_blocked = True
        self._update_reading(transport)
        self._watch_sends(transport)

    def resume_writing(self) -> None:
        self._write_blocked = False
        if self._transport is not None:
            self._update_reading(self._transport)

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
            _reset(self._transport)

    def _after_core(self, core: TcpConnection) -> None:
        transport = self._transport
        if transport is None:
            return
        out = core.data_to_send()
        if out:
            transport.write(out)
            self._bytes_written += len(out)
            self._watch_sends(transport)
        calls = core.take_calls()
        if calls:
            for call in calls:
                self._server.start_task(self._run_call(core, call))
        if core.closed:
            if core.close_reason is CloseReason.IDLE and _kernel_unsent(transport):
                self._aborted = True
                _reset(transport)
                return
            self._close(final_reply=bool(out) and core.close_reason in _LINGER_AFTER)
            return
        if not core.wants_data or not transport.is_reading():
            self._update_reading(transport)
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
            self._aborted = True
            _reset(self._transport)
            return
        core.handle_timer(self._loop.time())
        self._after_core(core)
        if not core.closed and self._timer is None:
            self._arm(core.get_timer())

    def _update_reading(self, transport: asyncio.Transport) -> None:
        """Read the peer only while the core wants data and replies are not piling up (always, when lingering)."""
        if transport.is_closing() and not self._lingering:
            return
        core = self._core
        wanted = self._lingering or (not self._write_blocked and core is not None and core.wants_data)
        if wanted != transport.is_reading():
            if wanted:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def _watch_sends(self, transport: asyncio.Transport) -> None:
        """Start the send-progress timer if replies are waiting and it is not running (TCP-SRV-10)."""
        if self._send_timer is None and transport.get_write_buffer_size():
            self._sent_at_check = self._bytes_written - transport.get_write_buffer_size()
            self._send_timer = self._loop.call_later(self._server.settings.send_timeout, self._check_send_progress)

    def _check_send_progress(self) -> None:
        self._send_timer = None
        transport = self._transport
        if transport is None or self._aborted:
            return
        unsent = transport.get_write_buffer_size()
        if not unsent:
            return  # everything went out: the next reply that waits starts a new timer
        sent = self._bytes_written - unsent
        if sent > self._sent_at_check:
            # The peer took some bytes: it is slow, not stalled. Give it another send timeout.
            self._sent_at_check = sent
            self._send_timer = self._loop.call_later(self._server.settings.send_timeout, self._check_send_progress)
            return
        self._server.counters.closes[CloseReason.SEND_TIMEOUT] += 1
        self._aborted = True
        _reset(transport)

    def _close(self, *, final_reply: bool) -> None:
        transport = self._transport
        assert transport is not None
        self._watch_sends(transport)  # asyncio's close waits for the buffer to drain: bound that wait too
        if not final_reply or not transport.can_write_eof():
            transport.close()
            return
        # Linger: send the reply, then our FIN, and discard whatever the peer still sends for a moment.
        self._lingering = True
        transport.write_eof()
        self._update_reading(transport)
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


def _kernel_unsent(transport: asyncio.Transport) -> int:
    """Bytes the kernel holds for the peer, not yet acknowledged (0 where the platform cannot tell)."""
    sock = transport.get_extra_info("socket")
    if sock is None or not hasattr(termios, "TIOCOUTQ"):
        return 0
    try:
        answer = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    unsent: int = struct.unpack("i", answer)[0]
    return unsent


def _reset(transport: asyncio.Transport) -> None:
    """Drop the connection with a reset, discarding what the kernel still holds to send (see the module docstring)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the peer: nothing is left to discard
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    transport.abort()
