r"""Is a client's choice of request IDs random over all 64 bits (CLI-1)? A test with a known false-alarm rate.

The suite runs the client ``n`` times (64 by default), one request per process,
and collects the first request ID of each run in run order: ``x_1 .. x_n``. If
the client draws IDs uniformly from 64 bits, as CLI-1 requires, every one of the
following fails with the probability bounded beside it (a union bound, so the
bounds add up):

1. **Zero.** Some ``x_i = 0``. ``P <= n / 2^64``.
2. **Repeats.** Some ``x_i = x_j`` for ``i != j`` (the birthday bound).
   ``P <= C(n, 2) / 2^64``.
3. **Clustered.** ``max - min < 2^63``: all IDs in half the space. For ``n``
   uniform draws on [0, 1) the range ``R`` has ``P(R < r) = n r^(n-1) - (n-1) r^n
   <= n r^(n-1)``; with ``r = 1/2``, ``P <= n / 2^(n-1)``. This catches
   sequential IDs, counters, clocks, and IDs that leave the high bits unused.
4. **Neighbours.** Two consecutive runs' IDs closer than ``2^32``:
   ``P(|x_{i+1} - x_i| < 2^32) < 2^33 / 2^64`` per pair, so
   ``P <= (n - 1) / 2^31``. This catches a counter or clock even when a jump
   elsewhere stretched the range.
5. **Biased bits.** For each of the 64 bit positions, the number of IDs with that
   bit set is ``Binomial(n, 1/2)``; the test fails when it falls below ``k`` or
   above ``n - k``, with ``k`` the largest cut-off for which
   ``64 * 2 * P(Binomial(n, 1/2) < k) <= 5e-7`` (computed exactly below; for
   ``n = 64``, ``k`` is 10). This catches a stuck or rarely set bit, such as a
   top bit that is always clear (IDs from a 63-bit signed type).

The total :data:`FALSE_ALARM_BOUND` is their sum; a module-level assertion keeps
it below one in a million, and for ``n = 64`` it is about 2.6e-7, nearly all of it
from test 5 (whose cut-off of 10 spends only half its 5e-7 budget). What the test cannot do is tell a CSPRNG from a good
non-cryptographic generator (Mersenne Twister passes): it catches structural
mistakes, and CLI-1's "cryptographically secure" stays a matter of review.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Bits in a request ID.
ID_BITS = 64
#: Runs of the client the suite makes for this test.
DEFAULT_SAMPLES = 64
#: Test 3 fails when all IDs lie within this distance of each other: half the ID space.
CLUSTER_SPAN = 1 << (ID_BITS - 1)
#: Test 4 fails when two consecutive runs' IDs are closer than this.
NEIGHBOUR_DISTANCE = 1 << 32
#: The share of the false-alarm budget given to the per-bit balance test (test 5).
BIT_BALANCE_BUDGET = 5e-7
#: The false-alarm rate the whole test must stay below.
FALSE_ALARM_LIMIT = 1e-6


def _binomial_lower_tail(n: int, below: int) -> float:
    """``P(Binomial(n, 1/2) < below)``, exactly (as a float)."""
    return float(sum(math.comb(n, k) for k in range(below)) / 2**n)


def bit_balance_cutoff(n: int) -> int:
    """The largest ``k`` such that ``64 * 2 * P(Binomial(n, 1/2) < k) <= BIT_BALANCE_BUDGET``."""
    k = 0
    while k + 1 <= n // 2 and ID_BITS * 2 * _binomial_lower_tail(n, k + 1) <= BIT_BALANCE_BUDGET:
        k += 1
    return k


def false_alarm_bound(n: int) -> float:
    """An upper bound on the chance that ``n`` uniform 64-bit IDs fail any of the five tests."""
    space = 2.0**ID_BITS
    zero = n / space
    repeats = math.comb(n, 2) / space
    clustered = n * (CLUSTER_SPAN / space) ** (n - 1)
    neighbours = (n - 1) * 2 * NEIGHBOUR_DISTANCE / space
    bits = ID_BITS * 2 * _binomial_lower_tail(n, bit_balance_cutoff(n))
    return zero + repeats + clustered + neighbours + bits


#: The false-alarm bound for the default number of runs.
FALSE_ALARM_BOUND = false_alarm_bound(DEFAULT_SAMPLES)
assert FALSE_ALARM_BOUND < FALSE_ALARM_LIMIT, f"the request-ID test's false-alarm bound is {FALSE_ALARM_BOUND:.2e}"


@dataclass(frozen=True, slots=True)
class IdVerdict:
    """The outcome of the request-ID test."""

    #: One sentence per failed test; empty when the IDs look uniformly random.
    findings: tuple[str, ...]
    #: The false-alarm bound for this many samples.
    false_alarm_bound: float

    @property
    def random_enough(self) -> bool:
        """No test failed."""
        return not self.findings


def judge_request_ids(ids: Sequence[int]) -> IdVerdict:
    """Run the five tests on the first request ID of each run, in run order.

    Needs enough samples for the bound to stay below :data:`FALSE_ALARM_LIMIT`
    (``ValueError`` otherwise).
    """
    n = len(ids)
    bound = false_alarm_bound(n) if n >= 2 else 1.0
    if bound >= FALSE_ALARM_LIMIT:
        raise ValueError(f"{n} request IDs are too few for a false-alarm rate below {FALSE_ALARM_LIMIT:g}")
    findings: list[str] = []
    zeros = sum(1 for x in ids if x == 0)
    if zeros:
        findings.append(f"{zeros} of {n} request IDs are 0")
    repeated = n - len(set(ids))
    if repeated:
        findings.append(f"{repeated} of {n} request IDs repeat an earlier one")
    spread = max(ids) - min(ids)
    if spread < CLUSTER_SPAN:
        findings.append(
            f"all {n} request IDs lie within 0x{spread:x} of each other (less than half the 64-bit space): "
            "sequential, clock-based, or not using the high bits"
        )
    close = [(a, b) for a, b in itertools.pairwise(ids) if abs(a - b) < NEIGHBOUR_DISTANCE]
    if close:
        a, b = close[0]
        findings.append(
            f"{len(close)} pairs of consecutive runs drew request IDs closer than 2^32, "
            f"e.g. 0x{a:016x} then 0x{b:016x}: a counter or a clock"
        )
    cutoff = bit_balance_cutoff(n)
    biased = []
    for bit in reversed(range(ID_BITS)):
        ones = sum(1 for x in ids if x >> bit & 1)
        if not cutoff <= ones <= n - cutoff:
            biased.append(f"bit {bit} set in {ones}")
    if biased:
        findings.append(
            f"bits set in fewer than {cutoff} or more than {n - cutoff} of {n} IDs: " + ", ".join(biased[:8])
            + (f" and {len(biased) - 8} more" if len(biased) > 8 else "")
        )  # fmt: skip
    return IdVerdict(tuple(findings), bound)
