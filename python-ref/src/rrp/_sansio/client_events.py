"""Events the client cores report: what a verbose client prints and what tests assert on.

Ignoring a datagram is an event, not an exception (UDP-CLI-2): a stray or forged
datagram must never end an exchange, but a user debugging a network wants to see
it and why it was ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .addresses import Address, format_address
from .reply import Reply


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """A transmission of the request (the first, or a retransmission with the same bytes)."""

    #: The server it went to.
    server: Address
    #: 1-based attempt number.
    attempt: int
    #: Attempts the policy allows in all.
    max_attempts: int
    #: Seconds the exchange now waits for a reply before retransmitting or giving up.
    wait: float

    def __str__(self) -> str:
        return f"attempt {self.attempt}/{self.max_attempts}: waiting up to {self.wait:.2f} s"


class IgnoreReason(StrEnum):
    """Why a UDP client ignored a datagram (UDP-CLI-1, UDP-CLI-2)."""

    #: The source address or port is not one the request was sent to.
    WRONG_SOURCE = "not a server we asked"
    #: A well-framed reply whose request ID is not the outstanding request's.
    UNKNOWN_ID = "unknown request ID"
    #: Not an acceptable reply: too short, bad magic or version, flags, operation, size.
    MALFORMED = "malformed reply"
    #: An acceptable reply to a request that already has its answer.
    DUPLICATE = "duplicate reply"
    #: Arrived after the exchange had given up, or when no request was outstanding.
    LATE = "no request outstanding"
    #: An ICMP port-unreachable was reported for the server; a forged one must not end the exchange.
    PORT_UNREACHABLE = "ICMP port unreachable"
    #: RRP/1-S: does not open as a reply to this request under this key (SUDP-CLI-1): forged, tampered,
    #: bound to another request or sealed under another key.
    NOT_AUTHENTIC = "not an authentic reply to this request"


@dataclass(frozen=True, slots=True)
class DatagramIgnored:
    """A datagram the client did not accept, and why; the exchange goes on."""

    #: Where it came from.
    source: Address
    #: The category of the reason.
    reason: IgnoreReason
    #: Specifics (the requirement broken, the ID seen), or empty.
    detail: str = ""

    def __str__(self) -> str:
        if self.reason is IgnoreReason.PORT_UNREACHABLE:  # an ICMP error, not a datagram from the server
            return f"ignored {self.reason.value} for {format_address(self.source)}"
        line = f"ignored datagram from {format_address(self.source)}: {self.reason.value}"
        return f"{line} ({self.detail})" if self.detail else line


@dataclass(frozen=True, slots=True)
class ReplyAccepted:
    """The exchange with ``server`` is over: it answered."""

    #: The server that answered.
    server: Address
    #: Its reply.
    reply: Reply

    def __str__(self) -> str:
        return (
            f"reply from {format_address(self.server)} after {self.reply.attempts} "
            f"{'attempt' if self.reply.attempts == 1 else 'attempts'} in {self.reply.elapsed:.3f} s"
        )


@dataclass(frozen=True, slots=True)
class ExchangeGaveUp:
    """The exchange with ``server`` is over: no acceptable reply in time (UDP-CLI-6)."""

    #: The server that did not answer.
    server: Address
    #: Transmissions made.
    attempts: int
    #: Seconds from the first transmission until giving up.
    elapsed: float

    def __str__(self) -> str:
        noun = "attempt" if self.attempts == 1 else "attempts"
        return f"gave up on {format_address(self.server)} after {self.attempts} {noun} over {self.elapsed:.2f} s"


#: Everything a UDP exchange reports.
ExchangeEvent = AttemptStarted | DatagramIgnored | ReplyAccepted | ExchangeGaveUp


@dataclass(frozen=True, slots=True)
class Connected:
    """A TCP connection to ``server`` is open."""

    #: The server connected to.
    server: Address
    #: Seconds the connect took.
    elapsed: float

    def __str__(self) -> str:
        return f"connected to {format_address(self.server)} in {self.elapsed:.3f} s"


@dataclass(frozen=True, slots=True)
class RequestSent:
    """A request went out over TCP; the client now waits for its reply."""

    #: The server it went to.
    server: Address
    #: The request's ID.
    request_id: int
    #: Seconds the client waits for the reply (TCP-CLI-2).
    wait: float

    def __str__(self) -> str:
        return f"request 0x{self.request_id:016x} sent: waiting up to {self.wait:.2f} s for the reply"


#: Everything a client reports to its ``on_event`` observer.
ClientEvent = ExchangeEvent | Connected | RequestSent

#: Called with every event a call produces (attempts, ignored datagrams, ...); ``rrp call -v`` prints them.
EventObserver = Callable[[ClientEvent], None]


def ignore_event(event: ClientEvent) -> None:
    """The default observer: events are for those who ask."""
