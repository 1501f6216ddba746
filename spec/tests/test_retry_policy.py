"""The retry schedule and the duplicate window it implies."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rrp_spec
from rrp_spec import RetryPolicy


def test_default_schedule_doubles_from_a_tenth_of_a_second() -> None:
    policy = rrp_spec.DEFAULT_RETRY_POLICY
    assert [policy.base_timeout(n) for n in range(1, 6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])
    assert policy.timeout_bounds(3) == pytest.approx((0.4, 0.6))
    assert policy.worst_case_span() == pytest.approx(4.65)
    assert policy.best_case_span() == pytest.approx(3.1)


def test_cap_applies() -> None:
    policy = RetryPolicy(max_attempts=8)
    assert [policy.base_timeout(n) for n in range(5, 9)] == pytest.approx([1.6, 2.0, 2.0, 2.0])


def test_dedup_window_covers_the_retry_span() -> None:
    assert pytest.approx(rrp_spec.DEFAULT_RETRY_POLICY.worst_case_span()) == rrp_spec.MIN_DEDUP_WINDOW
    assert rrp_spec.DEFAULT_DEDUP_WINDOW >= rrp_spec.MIN_DEDUP_WINDOW


@given(st.integers(1, 5), st.floats(0, 1, exclude_max=True))
def test_jittered_timeout_stays_in_bounds(attempt: int, jitter: float) -> None:
    policy = rrp_spec.DEFAULT_RETRY_POLICY
    low, high = policy.timeout_bounds(attempt)
    # [T, 1.5 T) in exact arithmetic; a float product may round up onto the open end.
    assert low <= policy.timeout(attempt, jitter) <= high


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert RetryPolicy(max_attempts=100_000).base_timeout(100_000) == 2.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_timeout": 0}, {"backoff": 0.5}, {"max_timeout": 0.01}, {"max_attempts": 0}, {"jitter_max": 0.9}],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempt_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt must be between 1 and 5"):
        rrp_spec.DEFAULT_RETRY_POLICY.base_timeout(6)
