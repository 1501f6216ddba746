"""The TCP server core, sans-IO: one connection's bytes and ``now`` in; replies, a close and a deadline out.

Theory of operation. A connection is a byte stream of requests back to back
(MSG-5). :class:`TcpConnection` frames it incrementally and is always in one of
three phases:

``HEADER``
    Fewer than 20 bytes of the next request have arrived; they wait in the buffer.
``PAYLOAD``
    The header has arrived and passed :func:`rrp_spec.check_request` (so ``size``
    is within the limit, TCP-SRV-4); the payload is collecting in the buffer.
``DISCARD``
    The header earned an error reply that leaves the framing intact (MALFORMED,
    UNKNOWN_OPERATION); its payload is counted off without being stored (TCP-SRV-9).

So the buffer never holds more than one header plus one payload within the limit.
The spec's :class:`~rrp_spec.ProtocolViolation` decides everything else: close
without a reply (bad magic, REPLY flag: TCP-SRV-3, SRV-1), or reply then close
(another version, an oversized size: SRV-2, TCP-SRV-4), before a payload byte is read.

Time. A request's first byte starts its whole-request deadline (TCP-SRV-5); no
later byte moves it. Between requests the idle timeout runs (TCP-SRV-6).
:meth:`TcpConnection.get_timer` gives the one deadline that matters now and
:meth:`TcpConnection.handle_timer` enforces it: a request that has not arrived
whole is answered TIMEOUT if its header was read (the spec allows it), and the
connection is closed.

Replies leave in request order (TCP-SRV-2) even when an ``async`` handler
finishes after later requests: a reply waits behind every unfinished one.
Once ``max_unanswered_requests`` requests wait that way, the core stops framing:
further bytes stay in the buffer, :attr:`~TcpConnection.wants_data` turns false
and the adapter must stop reading the socket until a handler finishes (so a
client pipelining requests to a slow handler cannot make the server start
coroutines, or queue replies, without bound). Paused time does not count
against the peer's request deadline: the server, not the peer, is slow.

The transport. The connection also owns the rules for how the transport ends; the
adapter reports the transport's facts and carries out what the core asks, with
nothing to decide:

* facts in: bytes received (:meth:`~TcpConnection.receive_data`, ``b""`` when the
  peer closed its side), the bytes handed to the transport that the kernel has not
  taken yet (:meth:`~TcpConnection.note_unsent` after every write, and
  ``handle_timer(now, unsent=...)``), writes blocked and unblocked (:meth:`~TcpConnection.write_blocked`,
  :meth:`~TcpConnection.write_unblocked`), the bytes the kernel still holds unacknowledged
  when the timer fires (``handle_timer(now, unacked=...)``), and the transport being gone
  (:meth:`~TcpConnection.connection_lost`);
* instructions out: :meth:`~TcpConnection.data_to_send` (write it),
  :attr:`~TcpConnection.reading` (read the socket or pause), :attr:`~TcpConnection.ending`
  (how the transport must end: :class:`Ending`), the events of
  :meth:`~TcpConnection.take_events` (:mod:`rrp._sansio.server_events`: requests for an
  async handler, answered with :meth:`~TcpConnection.complete`, rejections, closes, and
  the tally of requests and replies), and
  one deadline, :meth:`~TcpConnection.get_timer`, whose passing the adapter reports with
  :meth:`~TcpConnection.handle_timer`.

Every deadline is behind that one timer: the request deadline, the idle timeout, the
send timeout and the linger below.

* Slow readers (TCP-SRV-10): while reply bytes wait in the transport (the kernel took no
  more), a progress check runs every ``send_timeout``; if the kernel has accepted none
  of them since the last check, the connection is reset. The count is of bytes the
  kernel accepted, not of the buffer's size, so new replies cannot hide a stall. While
  writes are blocked (the adapter's buffer is over ``max_buffered_reply_bytes``) the
  core stops reading the peer's requests, which bounds the memory a non-reader can take.
* A close that follows replies while the peer may still be sending (a final TOO_LARGE,
  BUSY, TIMEOUT or UNSUPPORTED_VERSION, or earlier replies before a framing error)
  half-closes and discards input for :data:`MAX_LINGER` at most (the request deadline
  if shorter), so that the peer's unread request bytes do not make the kernel reset the
  connection before the replies arrive (nginx's ``lingering_close``); then it is reset.
* Every forced close (send timeout, linger over, shutdown past its grace) is a reset:
  a plain close would leave the kernel an orphaned socket in FIN-WAIT-1 that still holds
  the unsent replies and that a peer which never reads keeps established for minutes.
  The idle timeout resets too when the kernel still holds replies the peer has not
  acknowledged: after a whole idle timeout, that peer is not reading.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum

from rrp_spec import (
    HEADER_SIZE,
    Action,
    ProtocolViolation,
    Result,
    Transport,
    check_request,
    is_plain_request,
    pack_reply,
    pack_reply_to,
    unpack_header,
    unpack_header_fields,
)

from .dispatch import Dispatcher, HandlerError, HandlerFailure
from .memory import SMALL_REQUEST, MemoryBudget
from .server_events import (
    CallRequested,
    CloseReason,
    ConnectionClosed,
    ConnectionGone,
    ConnectionOpened,
    HandlerFailed,
    Rejected,
    ServerEvent,
    Tally,
)
from .settings import ServerSettings

_TCP = Transport.TCP
_OK = int(Result.OK)


#: Replies after which a connection reports its tally even when nothing else happened.
TALLY_EVERY = 64
#: Requests framed for one connection per step (one input, or one :meth:`TcpConnection.resume`) at most: a
#: connection pipelining as fast as it can then costs the event loop about a millisecond per turn, and every
#: other connection gets its turn in between (TCP-SRV-8). A million pipelined MALFORMED requests framed a
#: whole 256 KiB read (13,000 of them) per callback and pushed other clients' p99 from 5 ms to 165-430 ms.
MAX_REQUESTS_PER_STEP = 64
#: Longest linger after a final reply, in seconds (shorter when the request deadline is).
MAX_LINGER = 1.0
#: Closes that can follow a reply while the peer is still sending: those linger (see the module docstring).
_LINGER_AFTER = frozenset({CloseReason.PROTOCOL, CloseReason.BUSY, CloseReason.REQUEST_DEADLINE})


class Ending(Enum):
    """How the adapter must end the transport, once :attr:`TcpConnection.ending` says so."""

    #: Close after writing what is buffered (a FIN once the replies are out).
    CLOSE = "close"
    #: Write a FIN after what is buffered, and go on reading and discarding what the peer sends (the linger).
    HALF_CLOSE = "half_close"
    #: Drop the connection now with a reset, discarding what is unsent (``SO_LINGER`` of zero, then close).
    RESET = "reset"


class Phase(Enum):
    """Where a connection is in framing its current request."""

    HEADER = "header"
    PAYLOAD = "payload"
    DISCARD = "discard"


class TcpConnection:
    """One TCP connection's framing, deadlines and replies.

    ``peer`` is only a label for the operator's log. ``busy`` marks a connection
    over the connection limits (TCP-SRV-7, TCP-SRV-12): it is given one request
    deadline from ``now`` to send a header, which is answered BUSY, and is closed.
    """

    __slots__ = (
        "_accepted_at_check",
        "_backlog",
        "_budget",
        "_buffer",
        "_calls",
        "_closed",
        "_discard",
        "_dispatcher",
        "_draining",
        "_ending",
        "_eof",
        "_events",
        "_gone",
        "_idle_since",
        "_idle_timeout",
        "_linger",
        "_linger_until",
        "_max_payload",
        "_max_unanswered",
        "_on_lost",
        "_pending",
        "_phase",
        "_queue",
        "_ready",
        "_replies",
        "_request_deadline",
        "_request_started",
        "_requests",
        "_reserved",
        "_send_check",
        "_send_timeout",
        "_unreported",
        "_unsent",
        "_work",
        "_write_blocked",
        "_written",
        "busy",
        "close_reason",
        "peer",
    )

    def __init__(
        self,
        settings: ServerSettings,
        dispatcher: Dispatcher,
        now: float,
        *,
        peer: str = "",
        busy: bool = False,
        on_lost: Callable[[TcpConnection], None] | None = None,
        budget: MemoryBudget | None = None,
    ) -> None:
        self.peer = peer
        self.busy = busy
        #: Why the connection closed, once it has.
        self.close_reason: CloseReason | None = None
        self._dispatcher = dispatcher
        self._max_payload = settings.tcp_max_payload
        self._max_unanswered = settings.max_unanswered_requests
        self._request_deadline = settings.request_deadline
        self._idle_timeout = settings.idle_timeout
        self._buffer = bytearray()
        self._phase = Phase.HEADER
        # (operation, request_id, size) of the request whose payload is arriving.
        self._pending: tuple[int, int, int] | None = None
        self._discard = 0
        # A busy connection's clock starts at accept: it gets one deadline to show a header.
        self._request_started: float | None = now if busy else None
        self._idle_since = now
        self._ready: list[bytes] = []
        # Replies (bytes) and unfinished calls, in request order, once any call is unfinished.
        self._queue: deque[bytes | CallRequested] = deque()
        self._calls = 0
        self._events: list[ServerEvent] = [ConnectionOpened(peer, busy)]
        self._requests: dict[int, int] = {}  # this drain's tally
        self._replies: dict[int, int] = {}
        self._unreported = 0  # replies counted in this tally
        self._closed = False
        self._eof = False
        self._draining = False
        # The transport (see the module docstring).
        self._send_timeout = settings.send_timeout
        self._linger = min(MAX_LINGER, settings.request_deadline)
        self._ending: Ending | None = None
        self._linger_until: float | None = None
        self._written = 0  # every reply byte handed out by data_to_send()
        self._send_check: float | None = None  # when the running send-progress check falls due
        self._accepted_at_check = 0  # of the bytes written, how many the kernel had taken when the check started
        self._write_blocked = False
        self._gone = False
        self._on_lost = on_lost  # told when the transport is gone, to give the connection's slot back
        # Fairness (TCP-SRV-8): requests framed since the last input, and whether more wait in the buffer.
        self._work = 0
        self._backlog = False
        # The server-wide memory budget (TCP-SRV-14) and this connection's charges to it.
        self._budget = budget if budget is not None else MemoryBudget(settings.memory_budget)
        self._reserved = 0  # the payload being collected, reserved in full when its header arrived
        self._unsent = 0  # reply bytes the transport held at the last report

    # --- what the adapter reads ------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the connection must be closed (after writing :meth:`data_to_send`)."""
        return self._closed

    @property
    def phase(self) -> Phase:
        """Where framing stands."""
        return self._phase

    @property
    def buffered_bytes(self) -> int:
        """Request bytes held: at most one header plus one payload within the limit."""
        return len(self._buffer)

    @property
    def request_started(self) -> float | None:
        """When the first byte of the request still arriving came in, or ``None`` between requests."""
        return self._request_started

    @property
    def wants_data(self) -> bool:
        """False while ``max_unanswered_requests`` requests wait for a handler: stop reading the socket until true."""
        return len(self._queue) < self._max_unanswered and not self._closed

    @property
    def idle_since(self) -> float | None:
        """When the connection last finished a request (or opened), if it is idle now: between requests with no
        request arriving, no handler running and no reply unsent; else ``None``. The longest-idle connection loses
        least if its slot is reclaimed (TCP-SRV-16)."""
        if self._request_started is None and not self._calls and not self._unsent and not self._ready:
            return self._idle_since
        return None

    @property
    def calls_in_progress(self) -> int:
        """Requests whose async handler has not finished."""
        return self._calls

    def data_to_send(self) -> bytes:
        """Every reply that may be written now, in request order; ``b""`` when none."""
        ready = self._ready
        if not ready:
            return b""
        out = ready[0] if len(ready) == 1 else b"".join(ready)
        ready.clear()
        self._written += len(out)
        return out

    def take_events(self) -> list[ServerEvent]:
        """What happened since the last call (:mod:`rrp._sansio.server_events`), oldest first; drained.

        The :class:`~rrp._sansio.server_events.Tally` of requests and replies comes with
        the other events, and on its own every :data:`TALLY_EVERY` replies: a connection
        serving one request per read costs its observers nothing per request.
        """
        events = self._events
        if self._unreported >= TALLY_EVERY or (events and (self._requests or self._replies)):
            events.append(Tally(self._requests, self._replies))
            self._requests = {}
            self._replies = {}
            self._unreported = 0
        if events:
            self._events = []
        return events

    @property
    def reading(self) -> bool:
        """Whether the adapter should read the socket now (pause reading while false)."""
        if self._ending is not None:
            return self._ending is Ending.HALF_CLOSE  # the linger reads, to discard
        return (
            not self._write_blocked
            and not self._backlog
            and len(self._queue) < self._max_unanswered
            and not self._closed
            and not (self._unsent >= SMALL_REQUEST and self._budget.over)
        )

    @property
    def backlog(self) -> bool:
        """True when whole requests wait in the buffer past this step's share of work: call :meth:`resume` soon,
        after other connections have had their turn (TCP-SRV-8)."""
        return self._backlog and not self._closed

    def resume(self, now: float) -> None:
        """Frame the next share of the requests waiting in the buffer (see :attr:`backlog`)."""
        self._backlog = False
        self._work = 0
        if self._buffer and not self._closed and self._request_started is None:
            self._resume_framing(now)
        if (
            self._eof
            and not self._backlog
            and not self._closed
            and (self._request_started is not None or not self._calls)
        ):
            self._close(CloseReason.PEER, now)  # the peer closed its side behind the requests just answered

    @property
    def ending(self) -> Ending | None:
        """How the transport must end, or ``None`` while it stays open; it may move on to :attr:`Ending.RESET`."""
        return self._ending

    def get_timer(self) -> float | None:
        """The one deadline that matters now: request, idle, send progress or linger, whichever comes first."""
        if self._ending is None and self._send_check is None:
            # Open, with nothing waiting in the transport: the usual case, asked after every read.
            if self._request_started is not None:
                return self._request_started + self._request_deadline
            return None if self._calls else self._idle_since + self._idle_timeout
        if self._gone or self._ending is Ending.RESET:
            return None
        deadline = self._send_check
        if self._ending is Ending.HALF_CLOSE:
            linger = self._linger_until
        elif self._closed:
            linger = None
        elif self._request_started is not None:
            linger = self._request_started + self._request_deadline
        elif self._calls:
            linger = None  # a handler is working: the connection is not idle
        else:
            linger = self._idle_since + self._idle_timeout
        if deadline is None or (linger is not None and linger < deadline):
            return linger
        return deadline

    # --- what the adapter feeds ------------------------------------------------------

    def handle_timer(self, now: float, *, unsent: int = 0, unacked: int = 0) -> None:
        """Enforce every deadline of :meth:`get_timer` that has passed.

        ``unsent``: reply bytes waiting in the transport that the kernel has not taken
        (as :meth:`note_unsent`); ``unacked``: bytes the kernel holds that the peer has not
        acknowledged (0 where the platform cannot tell), which decides whether an idle
        close is a reset.
        """
        if self._gone or self._ending is Ending.RESET:
            return
        if unsent != self._unsent:
            self._budget.charge(unsent - self._unsent)
            self._unsent = unsent
        check = self._send_check
        if check is not None and now >= check and self._send_stalled(unsent, now):
            return
        if self._ending is Ending.HALF_CLOSE:
            if self._linger_until is not None and now >= self._linger_until:
                self._ending = Ending.RESET
            return
        if self._closed:
            return
        if self._request_started is not None:
            if now < self._request_started + self._request_deadline:
                return
            if self._phase is Phase.PAYLOAD and self._pending is not None and not self.busy:
                operation, request_id, _ = self._pending
                self._reply(pack_reply_to(operation, request_id, Result.TIMEOUT), Result.TIMEOUT)
            self._close(CloseReason.REQUEST_DEADLINE, now)
        elif not self._calls and now >= self._idle_since + self._idle_timeout:
            self._close(CloseReason.IDLE, now)
            if unacked:
                self._ending = Ending.RESET  # the peer has not taken what it was sent: it is not reading

    def note_unsent(self, unsent: int, now: float) -> None:
        """The transport holds ``unsent`` reply bytes the kernel has not taken (report after every write)."""
        if unsent != self._unsent and not self._gone:
            self._budget.charge(unsent - self._unsent)
            self._unsent = unsent
        if unsent and self._send_check is None and not self._gone:
            self._accepted_at_check = self._written - unsent
            self._send_check = now + self._send_timeout

    def write_blocked(self, now: float) -> None:
        """The transport's buffer passed its high-water mark: stop reading requests (TCP-SRV-10)."""
        self._write_blocked = True

    def write_unblocked(self, now: float) -> None:
        """The transport's buffer drained below its low-water mark: requests may be read again."""
        self._write_blocked = False

    def connection_lost(self, now: float) -> None:
        """The transport is gone (closed by us, reset, or lost); nothing more will be sent or read."""
        if self._gone:
            return
        if not self._closed and self._ending is None:
            self._close(CloseReason.PEER, now)
        self._gone = True
        self._send_check = None
        self._events.append(ConnectionGone(self.peer))
        self._budget.charge(-(self._unsent + self._reserved))
        self._unsent = self._reserved = 0
        if self._on_lost is not None:
            self._on_lost(self)

    def abort(self, now: float) -> None:
        """Drop the connection now, with a reset (a shutdown whose grace period is over)."""
        if self._gone:
            return
        if not self._closed:
            self._close(CloseReason.SHUTDOWN, now)
        self._ending = Ending.RESET

    def reclaim(self, now: float) -> None:
        """Drop the connection now, with a reset: its slot has gone to a newcomer (TCP-SRV-13)."""
        if self._gone:
            return
        if not self._closed:
            self._close(CloseReason.RECLAIMED, now)
        self._ending = Ending.RESET

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes that arrived at ``now``; ``b""`` means the peer closed its side."""
        if self._closed:
            if not data and self._ending is Ending.HALF_CLOSE:
                self._ending = Ending.CLOSE  # both sides have sent their FIN: the linger is over
            return  # closing: the bytes are discarded unread
        if not data:
            self._eof = True
            if self._backlog:
                return  # whole requests still wait in the buffer: resume() answers them, then closes
            if self._request_started is not None or not self._calls:
                # Half a request can never complete now; with nothing in flight there is nothing left to do.
                self._close(CloseReason.PEER, now)
            return
        if self._draining and self._request_started is None:
            return  # shutting down: no new request is started
        self._work = 0
        buffer = self._buffer
        if buffer:
            buffer += data
            consumed = self._process(buffer, now)
            del buffer[:consumed]
        else:
            consumed = self._process(data, now)
            if consumed < len(data) and not self._closed:
                buffer += memoryview(data)[consumed:]

    def complete(self, call: CallRequested, value: object, error: BaseException | None, now: float) -> None:
        """The answer to a :class:`CallRequested`: ``value`` its handler returned, or ``error`` it raised."""
        try:
            out = self._dispatcher.outcome_of(value, error)
        except HandlerError as failure:
            if type(failure) is HandlerFailure:
                self._events.append(HandlerFailed(call.operation, failure.error))
            result, out = failure.result, b""
        else:
            result = _OK
        call._reply = pack_reply_to(call.operation, call.request_id, result, out)
        self._replies[result] = self._replies.get(result, 0) + 1
        self._unreported += 1
        self._calls -= 1
        if self._ending is not None:
            return  # the connection is closing: nothing more is sent
        queue = self._queue
        while queue:
            head = queue[0]
            if type(head) is bytes:
                self._ready.append(head)
            elif head._reply is not None:  # type: ignore[union-attr]
                self._ready.append(head._reply)  # type: ignore[union-attr]
            else:
                break
            queue.popleft()
        if not self._calls:
            self._idle_since = now
        if self._buffer and self._request_started is None and not self._closed and self.wants_data:
            self._resume_framing(now)
        if not self._calls and (self._eof or self._draining) and self._request_started is None:
            self._close(CloseReason.PEER if self._eof else CloseReason.SHUTDOWN, now)

    def shutdown(self, now: float) -> None:
        """Stop after the request in progress (and any running handler) is answered."""
        self._draining = True
        if self._request_started is None and not self._calls:
            self._close(CloseReason.SHUTDOWN, now)

    # --- framing -----------------------------------------------------------------------

    def _resume_framing(self, now: float) -> None:
        """Frame the requests left buffered when the queue was full (see the module docstring)."""
        buffer = self._buffer
        del buffer[: self._process(buffer, now)]
        if self._eof and self._request_started is not None:
            self._close(CloseReason.PEER, now)  # the rest of that request will never arrive

    def _process(self, data: bytes | bytearray, now: float) -> int:
        """Frame and answer every whole request in ``data``; returns how many bytes were used."""
        pos = 0
        end = len(data)
        max_payload = self._max_payload
        while pos < end:
            phase = self._phase
            if self._request_started is None:
                if self._draining:
                    return end
                if len(self._queue) >= self._max_unanswered:
                    return pos  # too many unanswered: keep the rest until a handler finishes
                if self._work >= MAX_REQUESTS_PER_STEP:
                    self._backlog = True  # this connection's share of the loop is spent (TCP-SRV-8)
                    return pos
                self._work += 1
                self._request_started = now
            if phase is Phase.HEADER:
                if end - pos < HEADER_SIZE:
                    return pos
                magic, version, flags, operation, result, request_id, size = unpack_header_fields(data, pos)
                # The spec's fast path; anything else (and a busy connection's header) goes to check_request.
                if self.busy or not is_plain_request(
                    magic, version, flags, operation, result, request_id, size, max_payload, None
                ):
                    header = unpack_header(data, pos)
                    try:
                        check_request(header, transport=_TCP, max_payload=max_payload)
                    except ProtocolViolation as violation:
                        pos += HEADER_SIZE
                        self._violation(violation, now)
                        if self._closed:
                            return end
                        continue
                    if self.busy:
                        self._reply(pack_reply_to(operation, request_id, Result.BUSY), Result.BUSY)
                        self._close(CloseReason.BUSY, now)
                        return end
                pos += HEADER_SIZE
                if end - pos >= size:
                    payload = bytes(data[pos : pos + size]) if size else b""
                    pos += size
                    self._execute(operation, request_id, payload)
                    self._request_started = None
                    self._idle_since = now
                    if self._draining and not self._calls:
                        self._close(CloseReason.SHUTDOWN, now)
                    continue
                if not self._budget.admits(size):
                    # TCP-SRV-14: past the server-wide budget a large payload is not collected: BUSY, and its
                    # bytes are counted off as they arrive, never stored.
                    self._reply(pack_reply_to(operation, request_id, Result.BUSY), Result.BUSY)
                    self._discard = size
                    self._phase = Phase.DISCARD
                    continue
                self._reserved = size
                self._budget.charge(size)
                self._pending = (operation, request_id, size)
                self._phase = Phase.PAYLOAD
                return pos
            if phase is Phase.PAYLOAD:
                pending = self._pending
                assert pending is not None
                operation, request_id, size = pending
                if end - pos < size:
                    return pos
                payload = bytes(data[pos : pos + size])
                pos += size
                self._pending = None
                self._phase = Phase.HEADER
                self._budget.charge(-self._reserved)
                self._reserved = 0
                self._execute(operation, request_id, payload)
                self._request_done(now)
                continue
            # Phase.DISCARD: count the rejected request's payload off without keeping it.
            take = min(self._discard, end - pos)
            pos += take
            self._discard -= take
            if self._discard == 0:
                self._phase = Phase.HEADER
                self._request_done(now)
        return pos

    def _violation(self, violation: ProtocolViolation, now: float) -> None:
        self._events.append(Rejected(_TCP, self.peer, violation))
        if violation.action is Action.REPLY and violation.result is not None and violation.header is not None:
            result = Result.BUSY if self.busy else violation.result
            self._reply(pack_reply(violation.header, result), result)
            if violation.close_after or self.busy:
                self._close(CloseReason.BUSY if self.busy else CloseReason.PROTOCOL, now)
                return
            self._discard = violation.header.size
            if self._discard:
                self._phase = Phase.DISCARD
            else:
                self._request_done(now)
            return
        self._close(CloseReason.BUSY if self.busy else CloseReason.PROTOCOL, now)

    def _execute(self, operation: int, request_id: int, payload: bytes) -> None:
        self._requests[operation] = self._requests.get(operation, 0) + 1
        try:
            out = self._dispatcher.execute(operation, payload)
        except HandlerError as error:
            if type(error) is HandlerFailure:
                self._events.append(HandlerFailed(operation, error.error))
            self._reply(pack_reply_to(operation, request_id, error.result), error.result)
            return
        if out is not None:
            self._reply(pack_reply_to(operation, request_id, _OK, out), _OK)
            return
        call = CallRequested(operation, request_id, payload)
        self._calls += 1
        self._queue.append(call)
        self._events.append(call)

    def _reply(self, reply: bytes, result: int) -> None:
        if self._queue:
            self._queue.append(reply)
        else:
            self._ready.append(reply)
        self._replies[result] = self._replies.get(result, 0) + 1
        self._unreported += 1

    def _request_done(self, now: float) -> None:
        self._request_started = None
        self._idle_since = now
        if self._draining and not self._calls:
            self._close(CloseReason.SHUTDOWN, now)

    def _close(self, reason: CloseReason, now: float) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        self._events.append(ConnectionClosed(self.peer, reason))
        self._buffer = bytearray()
        self._pending = None
        self._budget.charge(-self._reserved)  # the payload will never be collected now
        self._reserved = 0
        if reason in _LINGER_AFTER and (self._ready or self._written):
            # Replies are (or were just) on their way while the peer may still be sending: linger, so that its
            # unread bytes do not make the kernel reset the connection before the replies arrive. Whether
            # replies were taken before this read or with it does not matter, so no split of the stream does.
            self._ending = Ending.HALF_CLOSE
            self._linger_until = now + self._linger
        else:
            self._ending = Ending.CLOSE

    def _send_stalled(self, unsent: int, now: float) -> bool:
        """The send-progress check is due (TCP-SRV-10): stop, give a slow peer more time, or reset a stalled one."""
        self._send_check = None
        if not unsent:
            return False  # everything went out: the next reply that waits starts a new check
        accepted = self._written - unsent
        if accepted > self._accepted_at_check:
            # The peer took some bytes: it is slow, not stalled. Give it another send timeout.
            self._accepted_at_check = accepted
            self._send_check = now + self._send_timeout
            return False
        self._events.append(ConnectionClosed(self.peer, CloseReason.SEND_TIMEOUT))
        if not self._closed:
            self._closed = True
            self.close_reason = CloseReason.SEND_TIMEOUT
            self._buffer = bytearray()
            self._pending = None
        self._ending = Ending.RESET
        return True
