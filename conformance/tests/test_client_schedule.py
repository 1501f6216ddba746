"""The tolerated range of a measured retransmission interval: correct schedules pass, missing backoff fails."""

from __future__ import annotations

import pytest

from rrp_conformance.client.schedule import interval_bounds
from rrp_conformance.context import Timing
from rrp_spec import DEFAULT_RETRY_POLICY, RetryPolicy

SMALL = RetryPolicy(initial_timeout=0.05, max_timeout=0.4, max_attempts=4)


@pytest.mark.parametrize("policy", [DEFAULT_RETRY_POLICY, SMALL])
@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_every_timeout_the_policy_can_draw_is_admitted(policy: RetryPolicy, jitter: float) -> None:
    for attempt in range(1, policy.max_attempts):
        assert interval_bounds(policy, attempt, Timing()).admits(policy.timeout(attempt, jitter))


@pytest.mark.parametrize("policy", [DEFAULT_RETRY_POLICY, SMALL])
def test_no_backoff_is_caught_by_attempt_three(policy: RetryPolicy) -> None:
    longest_without_backoff = policy.initial_timeout * policy.jitter_max
    assert not interval_bounds(policy, 3, Timing()).admits(longest_without_backoff)


def test_timeout_scale_widens_only_the_late_end_the_minimum_stays() -> None:
    """UDP-CLI-4 sets a minimum: a slower machine makes a client late, never early, so the scale never lowers it."""
    plain = interval_bounds(SMALL, 2, Timing())
    scaled = interval_bounds(SMALL, 2, Timing(scale=2.0))
    assert scaled.low == plain.low and scaled.high > plain.high


@pytest.mark.parametrize("policy", [DEFAULT_RETRY_POLICY, SMALL])
@pytest.mark.parametrize("scale", [1.0, 2.0, 10.0])
def test_a_wait_just_under_the_minimum_is_caught_at_any_scale(policy: RetryPolicy, scale: float) -> None:
    """The old bound (25% and 20 ms under T_n) let a client waiting 0.8 T_n pass; now 97% of T_n from T_2 on fails."""
    for attempt in range(2, policy.max_attempts):
        assert not interval_bounds(policy, attempt, Timing(scale=scale)).admits(0.97 * policy.base_timeout(attempt))
