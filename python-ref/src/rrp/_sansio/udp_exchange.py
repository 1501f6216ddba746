"""The UDP client's exchange as a sans-IO state machine: one request, one server, retransmitted until answered.

Theory of operation
-------------------
An exchange sends one request and waits. Attempt ``n`` waits ``T_n * U(1,
jitter_max)`` (the :class:`~rrp_spec.RetryPolicy`, UDP-CLI-4/5); when that runs
out with no acceptable reply the exchange retransmits the *same bytes*, same
request ID included (UDP-CLI-3), until ``max_attempts`` transmissions have each
had their wait, and then gives up (UDP-CLI-6). An optional ``give_up_after`` cuts
the whole exchange short: it ends at the earlier of the schedule's end and that
many seconds after the first transmission.

Every datagram that arrives is judged, in this order:

1. its source must be the server's address *and* port (UDP-CLI-1);
2. it must be an acceptable reply to our request (:func:`rrp_spec.reply_problems`,
   CLI-3); one that would be acceptable but for its request ID is reported as an
   unknown ID, anything else as malformed;
3. the first acceptable reply ends the exchange; later ones are duplicates.

Whatever fails is reported as a :class:`~rrp._sansio.client_events.DatagramIgnored` event
and the wait goes on (UDP-CLI-2): no datagram can make the exchange fail.

The core never touches a socket or a clock, in the style of aioquic: the caller
passes ``now`` in, sends what :meth:`UdpExchange.datagrams_to_send` returns, calls
:meth:`~UdpExchange.handle_timer` when :meth:`~UdpExchange.get_timer` says, and
reads events from :meth:`~UdpExchange.next_event`.
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from collections.abc import Callable
from enum import Enum, auto
from typing import TYPE_CHECKING

from rrp_spec import (
    APPLICATION_RANGE_END,
    DEFAULT_RETRY_POLICY,
    HEADER_SIZE,
    MAX_UDP_PAYLOAD,
    Header,
    RetryPolicy,
    pack_request,
    reply_problems,
    unpack_header,
)
from rrp_spec.secure_wire import Dropped

from .addresses import Address, address_key
from .client_errors import GaveUp
from .client_events import AttemptStarted, DatagramIgnored, ExchangeEvent, ExchangeGaveUp, IgnoreReason, ReplyAccepted
from .reply import Reply
from .request_ids import RequestIdSource, checked_request_id, new_request_id

if TYPE_CHECKING:
    from .secure_udp import SecureClientKey

#: A source of jitter draws, uniform in [0, 1); ``random.random`` unless a test injects one.
JitterSource = Callable[[], float]

#: The largest operation value: the field is 16 bits wide and the application range runs to its top.
MAX_OPERATION = APPLICATION_RANGE_END


class ExchangeState(Enum):
    """Where an exchange is in its life."""

    #: Built; nothing sent yet.
    IDLE = auto()
    #: Request sent; waiting for a reply or the timer.
    WAITING = auto()
    #: An acceptable reply arrived. Final.
    ANSWERED = auto()
    #: Every attempt (or the deadline) ran out. Final.
    GAVE_UP = auto()


def build_request(operation: int, payload: bytes, request_id: int) -> tuple[Header, bytes]:
    """The header and wire bytes of a well-formed request (CLI-2); ``ValueError`` for impossible input."""
    if not 0 <= operation <= MAX_OPERATION:
        raise ValueError(f"operation {operation} is outside 0..{MAX_OPERATION}")
    header = Header(operation=operation, request_id=checked_request_id(request_id), size=len(payload))
    return header, pack_request(operation, request_id, payload)


class UdpExchange:
    """One request to one UDP server, with retransmission, reply filtering and giving up. Sans-IO.

    ``server`` must be a numeric address (resolve names first). ``request_ids`` and
    ``jitter`` are injectable for tests; the request ID is drawn once, here, and
    every attempt reuses it.
    """

    def __init__(
        self,
        server: Address,
        operation: int,
        payload: bytes = b"",
        *,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        request_ids: RequestIdSource = new_request_id,
        jitter: JitterSource = random.random,
        give_up_after: float | None = None,
        protection: SecureClientKey | None = None,
    ) -> None:
        if len(payload) > MAX_UDP_PAYLOAD:
            raise ValueError(f"a payload of {len(payload)} bytes does not fit one datagram (at most {MAX_UDP_PAYLOAD})")
        if give_up_after is not None and not give_up_after > 0:
            raise ValueError("give_up_after must be positive")
        #: The server asked, in canonical form.
        self.server: Address = address_key(server)
        #: The request's header.
        self.request: Header
        #: The request's RRP/1 bytes.
        self.request_bytes: bytes
        self.request, self.request_bytes = build_request(operation, payload, request_ids())
        self._protection = protection
        # What goes on the wire, unchanged on every attempt: the RRP/1 bytes, or the protected request sealed
        # once at start (a resealed retransmission would look new to the server, SUDP-CLI-2).
        self._wire = self.request_bytes
        self._binding = b""
        self._policy = policy
        self._jitter = jitter
        self._give_up_after = give_up_after
        self._state = ExchangeState.IDLE
        self._attempt = 0
        self._started_at = 0.0
        self._final_deadline: float | None = None
        self._timer: float | None = None
        self._outgoing: list[tuple[bytes, Address]] = []
        self._events: deque[ExchangeEvent] = deque()
        self._outcome: Reply | GaveUp | None = None

    # --- what the caller reads ------------------------------------------------------

    @property
    def state(self) -> ExchangeState:
        """The exchange's current state."""
        return self._state

    @property
    def finished(self) -> bool:
        """True once answered or given up."""
        return self._state in (ExchangeState.ANSWERED, ExchangeState.GAVE_UP)

    @property
    def attempts(self) -> int:
        """Transmissions so far."""
        return self._attempt

    @property
    def outcome(self) -> Reply | GaveUp | None:
        """The accepted reply, the reason it gave up, or ``None`` while running."""
        return self._outcome

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """Datagrams to transmit now, each with its destination; the list is handed over once."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def next_event(self) -> ExchangeEvent | None:
        """The oldest unread event, or ``None``."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must be called next, or ``None`` when nothing is pending."""
        return self._timer

    # --- what the caller feeds in ---------------------------------------------------

    def start(self, now: float) -> None:
        """Send the first attempt at time ``now``."""
        if self._state is not ExchangeState.IDLE:
            raise RuntimeError("the exchange has already started")
        self._state = ExchangeState.WAITING
        self._started_at = now
        if self._protection is not None:
            self._wire, self._binding = self._protection.seal(self.request_bytes)
        if self._give_up_after is not None:
            self._final_deadline = now + self._give_up_after
        self._transmit(now)

    def handle_timer(self, now: float) -> None:
        """Retransmit or give up if the current attempt's wait is over at ``now``; otherwise do nothing."""
        if self._timer is None or now < self._timer:
            return
        deadline_passed = self._final_deadline is not None and now >= self._final_deadline
        if self._attempt < self._policy.max_attempts and not deadline_passed:
            self._transmit(now)
            return
        self._state = ExchangeState.GAVE_UP
        self._timer = None
        elapsed = now - self._started_at
        self._outcome = GaveUp(self._attempt, elapsed)
        self._events.append(ExchangeGaveUp(self.server, self._attempt, elapsed))

    def receive_datagram(self, data: bytes, source: tuple[object, ...], now: float) -> None:
        """Judge one datagram from ``source`` arriving at ``now``: accept it as the reply or report why not."""
        source_key = address_key(source)
        if source_key != self.server:
            self._ignore(source_key, IgnoreReason.WRONG_SOURCE)
            return
        if self._protection is not None:
            try:
                data = self._protection.open(data, self._binding)
            except Dropped as dropped:  # SUDP-CLI-1: forged, for another request, or under another key
                self._ignore(source_key, IgnoreReason.NOT_AUTHENTIC, dropped.reason.value)
                return
        reason, detail = self._judge(data)
        if reason is not None:
            self._ignore(source_key, reason, detail)
        elif self._state is ExchangeState.WAITING:
            self._accept(data, now)
        elif self._state is ExchangeState.ANSWERED:
            self._ignore(source_key, IgnoreReason.DUPLICATE)
        else:
            self._ignore(source_key, IgnoreReason.LATE)

    # --- the machinery --------------------------------------------------------------

    def _transmit(self, now: float) -> None:
        self._attempt += 1
        deadline = now + self._policy.timeout(self._attempt, self._jitter())
        if self._final_deadline is not None:
            deadline = min(deadline, self._final_deadline)
        self._timer = deadline
        self._outgoing.append((self._wire, self.server))
        self._events.append(AttemptStarted(self.server, self._attempt, self._policy.max_attempts, deadline - now))

    def _judge(self, data: bytes) -> tuple[IgnoreReason | None, str]:
        problems = reply_problems(data, request=self.request, datagram=True)
        if not problems:
            return None, ""
        if len(data) >= HEADER_SIZE:
            seen_id = unpack_header(data).request_id
            # A reply that would be acceptable under its own ID answers someone else's request.
            as_if_ours = dataclasses.replace(self.request, request_id=seen_id)
            if seen_id != self.request.request_id and not reply_problems(data, request=as_if_ours, datagram=True):
                return IgnoreReason.UNKNOWN_ID, f"request ID 0x{seen_id:016x}"
        return IgnoreReason.MALFORMED, "; ".join(f"{p.requirement}: {p.detail}" for p in problems)

    def _accept(self, data: bytes, now: float) -> None:
        header = unpack_header(data)
        reply = Reply(
            operation=header.operation,
            result=header.result,
            payload=bytes(data[HEADER_SIZE:]),
            request_id=header.request_id,
            attempts=self._attempt,
            elapsed=now - self._started_at,
        )
        self._state = ExchangeState.ANSWERED
        self._timer = None
        self._outcome = reply
        self._events.append(ReplyAccepted(self.server, reply))

    def _ignore(self, source: Address, reason: IgnoreReason, detail: str = "") -> None:
        self._events.append(DatagramIgnored(source, reason, detail))
