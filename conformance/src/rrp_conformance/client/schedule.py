"""How far a measured retransmission interval may stray from the claimed schedule and still pass.

The suite measures attempt ``n``'s timeout as the time between the arrivals of
attempts ``n`` and ``n + 1`` at its own server, so the client's process start-up
never enters the measurement. The claim is the interval ``[T_n, T_n * jitter_max)``
of :meth:`rrp_spec.RetryPolicy.timeout_bounds`. The tolerances are asymmetric:

* *Early* (the lower bound) is what UDP-CLI-4 forbids: attempt ``n`` waits *at
  least* ``T_n``, so the check probes at the minimum, never inside it. The only
  slack is :data:`EARLY_SLACK`, for the moment a client takes between starting its
  timer and sending; it is never scaled, because a slower machine makes a client
  late, never early. A client without backoff, or with a jitter below 1, fails.
* *Late* (the upper bound) is where a loaded machine shows: a client's timer can
  fire late by any scheduling delay, and the spec sets no maximum of its own
  beyond the jitter's 1.5. The upper bound is the framework's
  :meth:`~rrp_conformance.context.Timing.limit` of the claim (its grace, and
  ``--timeout-scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rrp_spec import RetryPolicy

from ..context import Timing
from ..timing_audit import GRACE, BoundKind, TimingRow, audited

#: Seconds an interval may fall short of ``T_n``: between a client starting its timer and its send.
EARLY_SLACK = 0.002


@dataclass(frozen=True, slots=True)
class IntervalBounds:
    """The accepted range of one measured timeout, and the claim it came from."""

    attempt: int
    claimed_low: float
    claimed_high: float
    low: float
    high: float

    def admits(self, measured: float) -> bool:
        """True when ``measured`` seconds is within the tolerated range."""
        return self.low <= measured <= self.high


def interval_bounds(policy: RetryPolicy, attempt: int, timing: Timing) -> IntervalBounds:
    """The tolerated range for attempt ``attempt``'s timeout (1-based) under ``policy``."""
    claimed_low, claimed_high = policy.timeout_bounds(attempt)
    low = max(0.0, claimed_low - EARLY_SLACK)
    return IntervalBounds(attempt, claimed_low, claimed_high, low, timing.limit(claimed_high))


audited(
    TimingRow(
        "client",
        "udp/retransmission",
        "UDP-CLI-4",
        BoundKind.MINIMUM,
        "attempt n waits at least T_n = min(T_1 x 2^(n-1), cap), times a jitter in [1, 1.5)",
        "the interval between the arrivals of attempts n and n+1 at the suite's socket (kernel timestamps); "
        f"early below T_n - {EARLY_SLACK * 1000:g} ms, late above T_n x 1.5 + {GRACE:g} s, times the scale",
        f"early: for the client by {EARLY_SLACK * 1000:g} ms (its timer start to its send), never scaled; late: "
        f"for the client by {GRACE:g} s x scale, where the spec sets no maximum",
    )
)
