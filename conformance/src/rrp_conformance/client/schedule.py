"""How far a measured retransmission interval may stray from the claimed schedule and still pass.

The suite measures attempt ``n``'s timeout as the time between the arrivals of
attempts ``n`` and ``n + 1`` at its own server, so the client's process start-up
never enters the measurement. The claim is the interval ``[T_n, T_n * jitter_max)``
of :meth:`rrp_spec.RetryPolicy.timeout_bounds`. The tolerances are asymmetric:

* *Early* (the lower bound) is what UDP-CLI-4 is about: a client without backoff
  retransmits at ``T_1`` forever, so by attempt 3 it arrives four times too
  early. A correct client can look early only by the time it spends between
  starting its timer and sending (or by the suite reading the first datagram
  late, when the machine is loaded), so the lower bound gives up a quarter of
  ``T_n`` and :data:`EARLY_SLACK` seconds: still well above ``T_1 * jitter_max``
  from attempt 3 on.
* *Late* (the upper bound) is where a loaded machine shows: a client's timer can
  fire late by any scheduling delay. The upper bound is the framework's
  :meth:`~rrp_conformance.context.Timing.limit` of the claim (its grace, and
  ``--timeout-scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rrp_spec import RetryPolicy

from ..context import Timing

#: Share of ``T_n`` an interval may fall short of it.
EARLY_FRACTION = 0.25
#: Seconds an interval may fall short of it on top of that.
EARLY_SLACK = 0.02


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
    low = max(0.0, claimed_low * (1 - EARLY_FRACTION) - EARLY_SLACK) / timing.scale
    return IntervalBounds(attempt, claimed_low, claimed_high, low, timing.limit(claimed_high))
