"""Events the server cores report: what the server's counters and its operator's log observe.

Every result leaves a server core as an event, drained with ``take_events()`` after each
input (the UDP core's after each batch of datagrams): a request for the application to
carry out (:class:`CallRequested`, answered with the core's ``complete()``), an input
rejected with the requirement it broke (:class:`Rejected`), a handler that failed
(:class:`HandlerFailed`), a TCP connection opened, refused, closed with its reason, or
gone. What happens on every request (requests by operation, replies by result, drops by
reason) is reported in bulk, as one :class:`Tally` per drain, so that the per-datagram
path allocates nothing for it. :class:`~rrp._sansio.counters.ServerCounters` and the
rejection log (:class:`~rrp._sansio.rejectlog.RateLimitedLog`) are two observers of
this stream; tests assert on it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from rrp_spec import ProtocolViolation, Transport


class DropReason(StrEnum):
    """Why the server sent nothing back for some input."""

    #: The input broke a rule whose action is a silent drop (UDP-SRV-1, UDP-SRV-2, SRV-1).
    INVALID = "invalid"
    #: ``--drop-rate`` chose it.
    DELIBERATE = "deliberate"
    #: The response rate limiter held the reply back (UDP-SRV-10).
    RATE_LIMITED = "rate_limited"
    #: A retransmission arrived while the original was still being carried out.
    IN_PROGRESS = "in_progress"
    #: The operating system would not take the reply datagram.
    SEND_FAILED = "send_failed"
    #: RRP/1-S: not an authentic, fresh request (SUDP-SRV-1); :class:`SecureDropped` says which check failed.
    UNAUTHENTIC = "unauthentic"


class CloseReason(StrEnum):
    """Why the server closed a TCP connection."""

    #: A framing error: bad magic, REPLY flag, another version, an oversized request (TCP-SRV-3/4, SRV-1/2).
    PROTOCOL = "protocol"
    #: The whole-request deadline ran out (TCP-SRV-5).
    REQUEST_DEADLINE = "request_deadline"
    #: The connection sat idle too long (TCP-SRV-6).
    IDLE = "idle"
    #: Writes stayed blocked longer than the send timeout (TCP-SRV-10).
    SEND_TIMEOUT = "send_timeout"
    #: Over the connection limits (TCP-SRV-7, TCP-SRV-12).
    BUSY = "busy"
    #: Its slot went to a newcomer from a network holding fewer slots (TCP-SRV-13).
    RECLAIMED = "reclaimed"
    #: The peer closed its side.
    PEER = "peer"
    #: The server is shutting down.
    SHUTDOWN = "shutdown"


#: An empty tally, shared (read-only).
_NOTHING: Mapping[int, int] = MappingProxyType({})
_NO_DROPS: Mapping[DropReason, int] = MappingProxyType({})


class CallRequested:
    """A request an ``async`` handler must carry out: await it, then give the outcome to the core's ``complete()``."""

    __slots__ = ("_length", "_peer", "_reply", "operation", "payload", "request_id")

    def __init__(self, operation: int, request_id: int, payload: bytes, peer: object = None, length: int = 0) -> None:
        #: The operation asked for (an application one, 0x8000-0xFFFF).
        self.operation = operation
        #: The request's ID.
        self.request_id = request_id
        #: The request's payload.
        self.payload = payload
        self._peer = peer  # the core's own bookkeeping: where it came from, its datagram's length
        self._length = length
        self._reply: bytes | None = None  # the reply, once complete() has it (TCP keeps replies in order)

    def __repr__(self) -> str:
        return f"CallRequested(operation=0x{self.operation:04x}, request_id=0x{self.request_id:016x})"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input broke a rule; ``violation`` says which (its requirement ID) and what the server did."""

    #: Where it arrived.
    transport: Transport
    #: Who sent it, as ``HOST:PORT``.
    peer: str
    #: The rule broken and the action taken.
    violation: ProtocolViolation

    @property
    def requirement(self) -> str:
        """The ID of the requirement the input broke."""
        return self.violation.requirement


@dataclass(frozen=True, slots=True)
class HandlerFailed:
    """An application handler raised (or returned something other than bytes); the client got INTERNAL_ERROR."""

    #: The operation whose handler failed.
    operation: int
    #: What it raised.
    error: BaseException


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    """A TCP connection was accepted and is served (or, ``busy``, held to answer one BUSY)."""

    #: Who connected, as ``HOST:PORT``.
    peer: str
    #: True when it is over a connection limit (TCP-SRV-7, TCP-SRV-12).
    busy: bool


@dataclass(frozen=True, slots=True)
class ConnectionRefused:
    """A TCP connection over the limits, with no room to answer BUSY: reset at accept."""

    #: Who connected, as ``HOST:PORT``.
    peer: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The server closed (or, for :attr:`CloseReason.SEND_TIMEOUT`, reset) a TCP connection, and why.

    A connection already closing whose peer then stops taking its replies is reported
    again, with :attr:`CloseReason.SEND_TIMEOUT`, when it is reset.
    """

    #: Who it was connected to, as ``HOST:PORT``.
    peer: str
    #: Why.
    reason: CloseReason


@dataclass(frozen=True, slots=True)
class ConnectionGone:
    """A TCP connection's transport is gone: its slot is free again."""

    #: Who it was connected to, as ``HOST:PORT``.
    peer: str


class Tally:
    """What happened on every request since the last drain, counted (the per-request path's events, in bulk).

    A plain slotted class rather than a frozen dataclass: one is made per drain, on the hot path.
    """

    __slots__ = ("dedup_hits", "drops", "replies", "requests")

    def __init__(
        self,
        requests: Mapping[int, int] = _NOTHING,
        replies: Mapping[int, int] = _NOTHING,
        drops: Mapping[DropReason, int] = _NO_DROPS,
        dedup_hits: int = 0,
    ) -> None:
        #: Requests carried out or answered, by operation.
        self.requests = requests
        #: Replies sent, by result.
        self.replies = replies
        #: Inputs answered with nothing, by reason.
        self.drops = drops
        #: Retransmissions answered from the duplicate-reply cache (UDP-SRV-7).
        self.dedup_hits = dedup_hits

    def __repr__(self) -> str:
        return (
            f"Tally(requests={dict(self.requests)}, replies={dict(self.replies)}, drops={dict(self.drops)}, "
            f"dedup_hits={self.dedup_hits})"
        )


@dataclass(frozen=True, slots=True)
class SecureDropped:
    """A datagram on an RRP/1-S port dropped without any answer (SUDP-SRV-1): counted and logged, never its bytes."""

    #: ``HOST:PORT`` of the sender (as claimed: UDP sources can be forged).
    peer: str
    #: The key ID in its clear header, when it had one.
    key_id: int | None
    #: Why: a :class:`rrp_spec.secure_wire.Drop` reason.
    reason: str


#: Everything a server core reports.
ServerEvent = (
    CallRequested
    | Rejected
    | HandlerFailed
    | ConnectionOpened
    | ConnectionRefused
    | ConnectionClosed
    | ConnectionGone
    | Tally
    | SecureDropped
)

#: Receives the events a core reported, in order (the server's counters and log).
Observe = Callable[[list[ServerEvent]], None]
#: Gives the outcome of a call (the value its handler returned, or what it raised) back to the core that asked.
Answer = Callable[[CallRequested, object, "BaseException | None"], None]
#: Has the application carry a call out, then gives its outcome to the answer.
CarryOut = Callable[[CallRequested, Answer], None]
