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


def test_timeout_scale_widens_both_ends() -> None:
    plain = interval_bounds(SMALL, 2, Timing())
    scaled = interval_bounds(SMALL, 2, Timing(scale=2.0))
    assert scaled.low < plain.low and scaled.high > plain.high
