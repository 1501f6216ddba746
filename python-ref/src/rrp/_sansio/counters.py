"""What the server has done, counted: requests by operation, replies by result, drops by reason, and so on.

:class:`ServerCounters` is an observer of the cores' events
(:mod:`rrp._sansio.server_events`): :meth:`ServerCounters.observe` counts each batch the
adapters drain, the per-request :class:`~rrp._sansio.server_events.Tally` in bulk (an
open TCP connection reports its tally with its other events and every
:data:`~rrp._sansio.tcp_core.TALLY_EVERY` replies, so its last few requests show once it
closes). The API and the shutdown summary read it through :meth:`ServerCounters.snapshot`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rrp_spec import Op, Result

from .server_events import (
    CloseReason,
    ConnectionClosed,
    ConnectionGone,
    ConnectionOpened,
    ConnectionRefused,
    DropReason,
    Rejected,
    SecureDropped,
    ServerEvent,
    Tally,
)


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
    """What the server has done, counted from the cores' events."""

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

    def observe(self, events: Iterable[ServerEvent]) -> None:
        """Count a batch of events."""
        for event in events:
            if isinstance(event, Tally):
                for operation, count in event.requests.items():
                    self.requests[operation] += count
                for result, count in event.replies.items():
                    self.replies[result] += count
                for reason, count in event.drops.items():
                    self.drops[reason] += count
                self.dedup_hits += event.dedup_hits
            elif isinstance(event, Rejected):
                self.rejected[event.requirement] += 1
            elif isinstance(event, ConnectionClosed):
                self.closes[event.reason] += 1
                if event.reason is CloseReason.REQUEST_DEADLINE:
                    self.timeouts += 1
            elif isinstance(event, ConnectionOpened):
                self.connections_accepted += 1
                self.connections_open += 1
            elif isinstance(event, ConnectionGone):
                self.connections_open -= 1
            elif isinstance(event, ConnectionRefused):
                self.connections_accepted += 1
                self.connections_refused += 1
                self.closes[CloseReason.BUSY] += 1
            elif isinstance(event, SecureDropped):
                self.drops[DropReason.UNAUTHENTIC] += 1

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
