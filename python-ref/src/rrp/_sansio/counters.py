"""What the server has done, counted: requests by operation, replies by result, drops by reason, and so on.

The cores update a :class:`ServerCounters` in place on every request (plain
attribute and dict increments, so the per-packet cost stays small); the API and
the shutdown summary read it through :meth:`ServerCounters.snapshot`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from rrp_spec import Op, Result


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
    #: The peer closed its side.
    PEER = "peer"
    #: The server is shutting down.
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class CounterSnapshot:
    """The counters at one moment, as plain values."""

    requests_by_op: dict[str, int]
    replies_by_result: dict[str, int]
    drops_by_reason: dict[str, int]
    closes_by_reason: dict[str, int]
    rejected_by_requirement: dict[str, int]
    timeouts: int
    connections_accepted: int
    connections_refused: int
    connections_open: int
    dedup_hits: int

    def lines(self) -> list[str]:
        """One human-readable line per counter group, for the shutdown summary."""

        def fmt(counts: dict[str, int]) -> str:
            return " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"

        return [
            f"requests: {fmt(self.requests_by_op)}",
            f"replies: {fmt(self.replies_by_result)}",
            f"drops: {fmt(self.drops_by_reason)}",
            f"rejected: {fmt(self.rejected_by_requirement)}",
            f"closes: {fmt(self.closes_by_reason)}",
            f"connections: accepted={self.connections_accepted} refused={self.connections_refused} "
            f"open={self.connections_open}",
            f"timeouts={self.timeouts} dedup_hits={self.dedup_hits}",
        ]


def _op_name(op: int) -> str:
    try:
        return Op(op).name
    except ValueError:
        return f"0x{op:04x}"


def _result_name(result: int) -> str:
    try:
        return Result(result).name
    except ValueError:
        return f"0x{result:04x}"


class ServerCounters:
    """Mutable counters shared by the UDP and TCP cores and the adapter."""

    __slots__ = (
        "closes",
        "connections_accepted",
        "connections_open",
        "connections_refused",
        "dedup_hits",
        "drops",
        "rejected",
        "replies",
        "requests",
        "timeouts",
    )

    def __init__(self) -> None:
        #: Requests carried out or answered, by operation value.
        self.requests: Counter[int] = Counter()
        #: Replies sent, by result value.
        self.replies: Counter[int] = Counter()
        #: Inputs answered with nothing, by reason.
        self.drops: Counter[DropReason] = Counter()
        #: Connections closed by the server, by reason.
        self.closes: Counter[CloseReason] = Counter()
        #: Rejected inputs, by the requirement they broke.
        self.rejected: Counter[str] = Counter()
        #: Whole-request deadlines that ran out (TCP-SRV-5).
        self.timeouts = 0
        self.connections_accepted = 0
        self.connections_refused = 0
        self.connections_open = 0
        #: Retransmissions answered from the duplicate-reply cache (UDP-SRV-7).
        self.dedup_hits = 0

    def snapshot(self) -> CounterSnapshot:
        """A copy of the counters with readable keys."""
        return CounterSnapshot(
            requests_by_op={_op_name(k): v for k, v in self.requests.items()},
            replies_by_result={_result_name(k): v for k, v in self.replies.items()},
            drops_by_reason={str(k): v for k, v in self.drops.items()},
            closes_by_reason={str(k): v for k, v in self.closes.items()},
            rejected_by_requirement=dict(self.rejected),
            timeouts=self.timeouts,
            connections_accepted=self.connections_accepted,
            connections_refused=self.connections_refused,
            connections_open=self.connections_open,
            dedup_hits=self.dedup_hits,
        )
