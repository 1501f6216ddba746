"""The request-ID test (CLI-1): its false-alarm bound, and that each structural flaw trips it."""

from __future__ import annotations

import random

import pytest

from rrp_conformance.client.request_ids import (
    DEFAULT_SAMPLES,
    FALSE_ALARM_BOUND,
    FALSE_ALARM_LIMIT,
    bit_balance_cutoff,
    false_alarm_bound,
    judge_request_ids,
)
from rrp_spec import MAX_REQUEST_ID

N = DEFAULT_SAMPLES


def _uniform(seed: int, n: int = N) -> list[int]:
    rng = random.Random(seed)
    return [rng.getrandbits(64) for _ in range(n)]


def test_false_alarm_bound_is_below_one_in_a_million() -> None:
    assert FALSE_ALARM_BOUND < FALSE_ALARM_LIMIT == 1e-6
    assert false_alarm_bound(N) == FALSE_ALARM_BOUND


def test_bit_balance_cutoff_spends_at_most_its_budget() -> None:
    # For 64 samples a bit must be set in 10..54 of them: P(Binomial(64, 1/2) < 10) is about 2e-9 per side.
    assert bit_balance_cutoff(64) == 10


@pytest.mark.parametrize("seed", range(20))
def test_uniform_ids_pass(seed: int) -> None:
    verdict = judge_request_ids(_uniform(seed))
    assert verdict.random_enough, verdict.findings


def _finding(ids: list[int], words: str) -> None:
    verdict = judge_request_ids(ids)
    assert not verdict.random_enough
    assert any(words in f for f in verdict.findings), verdict.findings


def test_zero_id_fails() -> None:
    ids = _uniform(1)
    ids[5] = 0
    _finding(ids, "are 0")


def test_repeated_id_fails() -> None:
    ids = _uniform(2)
    ids[9] = ids[3]
    _finding(ids, "repeat")


def test_sequential_ids_fail() -> None:
    base = random.Random(3).getrandbits(64) >> 1
    _finding([base + i for i in range(N)], "lie within")


def test_clock_based_ids_fail() -> None:
    # Nanosecond timestamps a few milliseconds apart: clustered and close neighbours.
    _finding([1_700_000_000_000_000_000 + i * 3_000_000 for i in range(N)], "closer than 2^32")


def test_63_bit_ids_fail_on_the_top_bit() -> None:
    _finding([x >> 1 for x in _uniform(4)], "bit 63 set in 0")


def test_32_bit_ids_fail() -> None:
    _finding([x >> 32 for x in _uniform(5)], "lie within")


def test_counter_with_one_jump_fails_on_neighbours() -> None:
    # A counter that wrapped once: the range spans the space, but consecutive IDs are neighbours.
    ids = list(range(1, N // 2 + 1)) + [MAX_REQUEST_ID - N + i for i in range(N // 2)]
    verdict = judge_request_ids(ids)
    assert any("closer than 2^32" in f for f in verdict.findings), verdict.findings


def test_too_few_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        judge_request_ids(_uniform(6, 4))
