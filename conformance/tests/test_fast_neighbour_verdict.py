"""The fast-neighbour check's verdict (TCP-SRV-8), on round trips made up to be each kind of server it must tell apart.

The proof toys fail the check through whichever of its two rules their speed on the day reaches; here each rule
is shown on its own, and so is each kind of server it must pass: a fair one on a loaded machine, a fast one with
a large but brief turn per connection, and one that stalled on both connections at once.
"""

from __future__ import annotations

import pytest

from rrp_conformance.context import CheckContext, CheckSkipped, Timing
from rrp_conformance.server.checks_tcp import (
    FAST_BUSY_SHARE,
    FAST_CHUNK,
    FAST_MEDIAN,
    FAST_TURN,
    FAST_WORK,
    FastProbe,
    judge_fast_neighbour,
)
from rrp_conformance.server.env import ServerEnv
from rrp_conformance.server.net import Ending

#: The longest single wait of a run at scale 1.
BOUND = 0.375
#: A's requests answered in all (enough to have loaded any target), and per second over the flood.
LOADED, RATE = 10 * FAST_CHUNK, 20_000.0


def _judge(probes: list[FastProbe], answered: int = LOADED, ended: str = "") -> CheckContext[ServerEnv]:
    ctx: CheckContext[ServerEnv] = CheckContext(None, Timing())  # type: ignore[arg-type]  # the verdict reads no env
    judge_fast_neighbour(ctx, probes, answered, ended, RATE, BOUND)
    return ctx


def _answered(took: float, work: int, count: int = 20) -> list[FastProbe]:
    return [FastProbe(took, work, Ending.MESSAGE) for _ in range(count)]


def _failed(ctx: CheckContext[ServerEnv]) -> set[str]:
    return {f.requirement for f in ctx.failures}


@pytest.mark.parametrize("share", [1.0, FAST_BUSY_SHARE])
def test_a_wait_past_the_bound_while_a_is_served_fails(share: float) -> None:
    """A server that serves A until A's socket is empty: B's NOOP is still unanswered at the bound, while A's
    requests go on being answered at their usual rate (or half of it)."""
    took = BOUND + 0.001
    ctx = _judge([*_answered(0.001, 10, 3), FastProbe(took, int(share * RATE * took) + 1, Ending.TIMEOUT)])
    assert _failed(ctx) == {"TCP-SRV-8"}
    assert "no reply after" in ctx.failures[0].observed


def test_a_few_slow_round_trips_among_many_quick_ones_fail_when_b_spends_most_of_its_time_in_them() -> None:
    """Whole reads framed per turn, but B's NOOPs answered at once between turns: 50 quick, 4 of 0.3 s each."""
    ctx = _judge([*_answered(0.0002, 0, 50), *_answered(0.3, 13_107, 4)])
    assert _failed(ctx) == {"TCP-SRV-8"}
    assert "median round trip of 300 ms" in ctx.failures[0].observed


def test_slow_round_trips_each_over_a_whole_read_of_a_fail_though_none_reaches_the_bound() -> None:
    """The reference before hardening round 2: a 256 KiB read (13,107 requests) framed per turn, B's median 0.2 s."""
    ctx = _judge(_answered(0.2, 13_107))
    assert _failed(ctx) == {"TCP-SRV-8"}
    assert "median round trip of 200 ms" in ctx.failures[0].observed


@pytest.mark.parametrize(
    ("took", "work", "who"),
    [
        (0.001, 64, "the reference now: 64 requests a turn"),
        (0.04, 128, "the reference on a heavily loaded machine: slow, but still two turns of A's"),
        (0.001, 13_107, "a fast server framing a whole read per turn, in a millisecond"),
        (FAST_MEDIAN, FAST_WORK + 1, "at the time bound itself"),
    ],
)
def test_a_fair_or_merely_slow_server_passes(took: float, work: int, who: str) -> None:
    ctx = _judge(_answered(took, work))
    assert not ctx.failures, who
    assert {m.name for m in ctx.measurements} >= {
        "B's round trip under a fast neighbour, p50",
        "B's round trip under a fast neighbour, p99",
        "A's requests answered during one of B's round trips, median over B's time",
    }


@pytest.mark.parametrize(
    ("served", "why"),
    [
        (0, "nothing for A either: the whole target stalled"),
        (FAST_WORK, "A crawled too, under half its usual rate, and no more than a read's worth"),
        (FAST_TURN, "no more of A's than a few fair turns, however slow the target is"),
    ],
)
def test_a_wait_past_the_bound_while_a_went_slowly_too_is_a_stall_not_unfairness(served: int, why: str) -> None:
    probes = [*_answered(0.001, 10, 5), FastProbe(BOUND * 2, served, Ending.MESSAGE), *_answered(0.001, 10, 5)]
    ctx = _judge(probes)
    assert not ctx.failures, why
    assert any("loaded machine" in note for note in ctx.notes)


def test_ending_b_while_a_floods_fails() -> None:
    ctx = _judge([*_answered(0.001, 10, 3), FastProbe(0.01, 5, Ending.RESET)])
    assert _failed(ctx) == {"TCP-SRV-8"}


@pytest.mark.parametrize(
    ("answered", "ended", "reason"),
    [
        (LOADED, "the target closed the connection", "ended A"),
        (FAST_WORK, "", "no rule can tell"),
    ],
)
def test_a_flood_that_ended_early_or_never_loaded_the_target_is_skipped(answered: int, ended: str, reason: str) -> None:
    with pytest.raises(CheckSkipped, match=reason):
        _judge(_answered(0.001, 10), answered, ended)
