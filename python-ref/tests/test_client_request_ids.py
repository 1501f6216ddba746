"""Request IDs: CSPRNG, all 64 bits, never 0, fresh per request but not per attempt."""

from __future__ import annotations

import itertools

from rrp._sansio.request_ids import new_request_id
from rrp._sansio.udp_exchange import UdpExchange
from rrp_spec import MAX_REQUEST_ID, Op, RetryPolicy, unpack_header

DRAWS = 2000


def test_ids_are_distinct_nonzero_and_64_bit() -> None:
    """CLI-1: 2000 draws are all distinct and all in 1..2^64-1."""
    ids = [new_request_id() for _ in range(DRAWS)]
    assert len(set(ids)) == DRAWS
    assert all(1 <= i <= MAX_REQUEST_ID for i in ids)


def test_every_bit_is_used() -> None:
    """CLI-1: every one of the 64 bit positions is set in some draw and clear in another (fails with P < 2^-1900)."""
    ids = [new_request_id() for _ in range(DRAWS)]
    for bit in range(MAX_REQUEST_ID.bit_length()):
        set_count = sum(i >> bit & 1 for i in ids)
        assert 0 < set_count < DRAWS, f"bit {bit} never varies"


def test_the_top_bit_is_set_about_half_the_time() -> None:
    """CLI-1: the high bits are random, not a small counter (bounds are 7 standard deviations: P < 1e-11)."""
    ids = [new_request_id() for _ in range(DRAWS)]
    top = sum(i >> 63 for i in ids)
    assert abs(top - DRAWS / 2) < 7 * (DRAWS**0.5) / 2


def test_ids_are_not_sequential() -> None:
    """CLI-1: consecutive IDs are not close to each other (a counter or clock would be)."""
    ids = [new_request_id() for _ in range(200)]
    close = sum(abs(b - a) < 1 << 32 for a, b in itertools.pairwise(ids))
    assert close == 0


def test_each_request_draws_a_fresh_id_and_retransmissions_do_not() -> None:
    """CLI-1, UDP-CLI-3: one draw per request; two requests get two IDs; attempts reuse theirs."""
    calls = []

    def source() -> int:
        calls.append(new_request_id())
        return calls[-1]

    policy = RetryPolicy(initial_timeout=0.05, max_attempts=3)
    first = UdpExchange(("127.0.0.1", 1), Op.NOOP, policy=policy, request_ids=source, jitter=lambda: 0.0)
    second = UdpExchange(("127.0.0.1", 1), Op.NOOP, policy=policy, request_ids=source, jitter=lambda: 0.0)
    first.start(0.0)
    while (timer := first.get_timer()) is not None:
        first.handle_timer(timer)
    assert len(calls) == 2
    assert first.request.request_id != second.request.request_id
    assert {unpack_header(data).request_id for data, _ in first.datagrams_to_send()} == {calls[0]}
