"""The client's retry schedule as data for the site: one row per attempt, and the dedup window it implies."""

from __future__ import annotations

from dataclasses import dataclass

from rrp_spec import DEFAULT_DEDUP_WINDOW, MIN_DEDUP_WINDOW, RetryPolicy

from .markdown import table


@dataclass(frozen=True, slots=True)
class AttemptTiming:
    """When attempt ``n`` is sent and how long it waits, at both ends of the jitter range.

    Times are seconds after the first transmission.
    """

    attempt: int
    #: T_n, the attempt's timeout before jitter.
    base_timeout: float
    #: The attempt's timeout lies in ``[shortest_wait, longest_wait)``.
    shortest_wait: float
    longest_wait: float
    #: Earliest and latest moment the attempt is sent (every earlier attempt drew the least or the most jitter).
    earliest_send: float
    latest_send: float

    @property
    def earliest_expiry(self) -> float:
        """The earliest moment this attempt's timeout can run out."""
        return self.earliest_send + self.shortest_wait

    @property
    def latest_expiry(self) -> float:
        """The latest moment this attempt's timeout can run out."""
        return self.latest_send + self.longest_wait


def schedule(policy: RetryPolicy) -> list[AttemptTiming]:
    """Every attempt of ``policy``, first transmission included."""
    timings = []
    earliest = latest = 0.0
    for n in range(1, policy.max_attempts + 1):
        low, high = policy.timeout_bounds(n)
        timings.append(AttemptTiming(n, policy.base_timeout(n), low, high, earliest, latest))
        earliest += low
        latest += high
    return timings


def _s(seconds: float) -> str:
    return f"{seconds:.3g} s"


def schedule_table(policy: RetryPolicy) -> str:
    """The retry schedule: attempt, base timeout, timeout with jitter, send time, cumulative worst case."""
    rows = []
    for t in schedule(policy):
        sent = "0 s" if t.attempt == 1 else f"{_s(t.earliest_send)} - {_s(t.latest_send)}"
        rows.append(
            [
                str(t.attempt),
                _s(t.base_timeout),
                f"{_s(t.shortest_wait)} - {_s(t.longest_wait)}",
                sent,
                f"{_s(t.earliest_expiry)} - {_s(t.latest_expiry)}",
            ]
        )
    return table(
        [
            "Attempt *n*",
            "Base timeout *T<sub>n</sub>*",
            "Timeout with jitter",
            "Sent at",
            "Expires at (cumulative, best - worst)",
        ],
        rows,
    )


def dedup_derivation(policy: RetryPolicy) -> str:
    """The arithmetic that makes :data:`rrp_spec.MIN_DEDUP_WINDOW` the worst-case span of the schedule."""
    timings = schedule(policy)
    terms = " + ".join(f"{t.base_timeout:g}" for t in timings)
    best, worst = policy.best_case_span(), policy.worst_case_span()
    if abs(worst - MIN_DEDUP_WINDOW) > 1e-9:
        raise ValueError("this derivation is for the default policy, whose worst case is MIN_DEDUP_WINDOW")
    return (
        f"A client on the default schedule sends its last retransmission at most "
        f"{_s(timings[-1].latest_send)} after the first and gives up at most "
        f"({terms}) s &times; {policy.jitter_max:g} = {best:g} s &times; {policy.jitter_max:g} = "
        f"**{worst:g} s** after it. A retransmission, or a reply lost on its way back, can therefore arrive "
        f"at the server up to {worst:g} s after the server first saw the request, so a window shorter than "
        f"`MIN_DEDUP_WINDOW` = {MIN_DEDUP_WINDOW:g} s would let the last retransmissions of a non-idempotent "
        f"request run it again. The reference server keeps replies for `DEFAULT_DEDUP_WINDOW` = "
        f"{DEFAULT_DEDUP_WINDOW:g} s, twice the minimum, so that a request that itself spent as long as the "
        f"whole retry span in the network is still recognised."
    )
