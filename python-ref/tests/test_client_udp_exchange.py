"""The UDP client exchange on simulated time: schedule, retransmission, reply filtering, giving up.

No sockets and no clock: every test passes ``now`` in and asserts exact timer values.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rrp._sansio.client_errors import GaveUp
from rrp._sansio.client_events import (
    AttemptStarted,
    DatagramIgnored,
    ExchangeEvent,
    ExchangeGaveUp,
    IgnoreReason,
    ReplyAccepted,
)
from rrp._sansio.reply import Reply
from rrp._sansio.udp_exchange import ExchangeState, UdpExchange
from rrp_spec import (
    APPLICATION_RANGE_END,
    DEFAULT_RETRY_POLICY,
    HEADER_SIZE,
    MAGIC,
    MAX_UDP_PAYLOAD,
    VERSION,
    Flag,
    Header,
    Op,
    Result,
    RetryPolicy,
    pack_header,
    pack_reply,
    unpack_header,
)
from rrp_spec.vectors import load as load_vectors

SERVER = ("127.0.0.1", 7000)
REQUEST_ID = 0x8123_4567_89AB_CDEF
FAST = RetryPolicy(initial_timeout=0.05, max_timeout=0.2, max_attempts=4)


def constant(value: float) -> Iterator[float]:
    return itertools.repeat(value)


def exchange_with(
    *,
    operation: int = Op.ECHO,
    payload: bytes = b"hello",
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    jitter: Iterator[float] | None = None,
    request_id: int = REQUEST_ID,
    give_up_after: float | None = None,
) -> UdpExchange:
    draws = jitter if jitter is not None else constant(0.0)
    return UdpExchange(
        SERVER,
        operation,
        payload,
        policy=policy,
        request_ids=lambda: request_id,
        jitter=lambda: next(draws),
        give_up_after=give_up_after,
    )


def drain(exchange: UdpExchange) -> list[ExchangeEvent]:
    events = []
    while (event := exchange.next_event()) is not None:
        events.append(event)
    return events


def reply_to(exchange: UdpExchange, payload: bytes = b"hello", result: int = Result.OK) -> bytes:
    return pack_reply(exchange.request, result, payload)


def run_to_give_up(exchange: UdpExchange, start: float = 0.0) -> list[ExchangeEvent]:
    exchange.start(start)
    events = drain(exchange)
    while (timer := exchange.get_timer()) is not None:
        exchange.handle_timer(timer)
        events += drain(exchange)
    return events


# --- the schedule (UDP-CLI-4, UDP-CLI-5, UDP-CLI-6) -----------------------------------


def test_default_schedule_doubles_from_the_initial_timeout_up_to_the_cap() -> None:
    """UDP-CLI-4, UDP-CLI-5: with no jitter attempt n waits exactly min(T_1 * 2^(n-1), cap), the default policy's."""
    policy = DEFAULT_RETRY_POLICY
    events = run_to_give_up(exchange_with())
    waits = [e.wait for e in events if isinstance(e, AttemptStarted)]
    expected = [
        min(policy.initial_timeout * 2 ** (n - 1), policy.max_timeout) for n in range(1, policy.max_attempts + 1)
    ]
    assert waits == pytest.approx(expected)
    assert [e.attempt for e in events if isinstance(e, AttemptStarted)] == list(range(1, policy.max_attempts + 1))


def test_a_capped_schedule_stops_growing_at_the_cap() -> None:
    """UDP-CLI-4: once T_1 * 2^(n-1) passes the cap every later attempt waits the cap."""
    policy = RetryPolicy(initial_timeout=0.5, max_timeout=1.0, max_attempts=5)
    waits = [e.wait for e in run_to_give_up(exchange_with(policy=policy)) if isinstance(e, AttemptStarted)]
    assert waits == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0])


def test_retransmission_happens_exactly_when_the_timer_fires_and_not_before() -> None:
    """UDP-CLI-4: nothing is sent before the attempt's wait is over; the next attempt goes out at the timer."""
    exchange = exchange_with(policy=FAST)
    exchange.start(10.0)
    assert len(exchange.datagrams_to_send()) == 1
    timer = exchange.get_timer()
    assert timer is not None
    assert timer == pytest.approx(10.0 + FAST.initial_timeout)
    exchange.handle_timer(timer - 1e-6)  # early: nothing happens
    assert exchange.datagrams_to_send() == []
    assert exchange.get_timer() == timer
    exchange.handle_timer(timer)
    assert len(exchange.datagrams_to_send()) == 1
    assert exchange.get_timer() == pytest.approx(timer + 2 * FAST.initial_timeout)


@settings(max_examples=200, deadline=None)
@given(
    initial=st.floats(0.01, 5.0),
    growth=st.floats(1.0, 64.0),
    attempts=st.integers(1, 12),
    draws=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=12, max_size=12),
)
def test_every_wait_lies_in_its_jitter_interval(
    initial: float, growth: float, attempts: int, draws: list[float]
) -> None:
    """UDP-CLI-4: attempt n waits T_n * U(1, 1.5) with T_n = min(T_1 * 2^(n-1), cap), whatever the jitter draws."""
    policy = RetryPolicy(initial_timeout=initial, max_timeout=initial * growth, max_attempts=attempts)
    events = run_to_give_up(exchange_with(policy=policy, jitter=iter(draws)))
    waits = [e.wait for e in events if isinstance(e, AttemptStarted)]
    assert len(waits) == attempts
    for n, wait in enumerate(waits, start=1):
        base = min(initial * 2 ** (n - 1), initial * growth)
        assert base * (1 - 1e-9) <= wait < base * policy.jitter_max * (1 + 1e-9)


def test_jitter_draws_scale_the_wait() -> None:
    """UDP-CLI-4: a draw of j gives T_n * (1 + 0.5 j): the multiplier spans [1, 1.5)."""
    events = run_to_give_up(exchange_with(policy=FAST, jitter=iter([0.0, 0.5, 0.999, 0.25])))
    waits = [e.wait for e in events if isinstance(e, AttemptStarted)]
    assert waits == pytest.approx([0.05, 0.1 * 1.25, 0.2 * 1.4995, 0.2 * 1.125])


def test_every_attempt_sends_the_same_bytes_with_the_same_request_id() -> None:
    """UDP-CLI-3: retransmissions are byte-for-byte the first transmission; the ID is drawn once."""
    draws = iter([REQUEST_ID, 0x1111, 0x2222])
    exchange = UdpExchange(SERVER, Op.INCREMENT, policy=FAST, request_ids=lambda: next(draws), jitter=lambda: 0.0)
    exchange.start(0.0)
    sent = exchange.datagrams_to_send()
    while (timer := exchange.get_timer()) is not None:
        exchange.handle_timer(timer)
        sent += exchange.datagrams_to_send()
    assert len(sent) == FAST.max_attempts
    assert {data for data, _ in sent} == {sent[0][0]}
    assert {destination for _, destination in sent} == {SERVER}
    assert unpack_header(sent[0][0]).request_id == REQUEST_ID


def test_the_request_is_well_formed() -> None:
    """CLI-2: REPLY clear, reserved bits zero, result 0, size equal to the payload, magic and version set."""
    exchange = exchange_with(operation=0x8001, payload=b"abc")
    exchange.start(0.0)
    [(data, _)] = exchange.datagrams_to_send()
    assert unpack_header(data) == Header(operation=0x8001, request_id=REQUEST_ID, size=3)
    assert data == pack_header(unpack_header(data)) + b"abc"
    assert unpack_header(data).magic == MAGIC and unpack_header(data).version == VERSION


def test_give_up_error_says_attempts_and_time() -> None:
    """UDP-CLI-6: after max_attempts the exchange gives up with 'no reply after N attempts over X.XX s'."""
    policy = DEFAULT_RETRY_POLICY
    exchange = exchange_with()
    events = run_to_give_up(exchange, start=100.0)
    assert exchange.state is ExchangeState.GAVE_UP
    assert exchange.get_timer() is None
    outcome = exchange.outcome
    assert isinstance(outcome, GaveUp)
    assert outcome.attempts == policy.max_attempts
    assert outcome.elapsed == pytest.approx(policy.best_case_span())
    assert str(outcome) == f"no reply after {policy.max_attempts} attempts over {policy.best_case_span():.2f} s"
    assert isinstance(events[-1], ExchangeGaveUp)
    assert str(GaveUp(1, 0.054)) == "no reply after 1 attempt over 0.05 s"


def test_gives_up_after_exactly_max_attempts() -> None:
    """UDP-CLI-6: the client never sends more than max_attempts times."""
    exchange = exchange_with(policy=FAST)
    events = run_to_give_up(exchange)
    assert sum(isinstance(e, AttemptStarted) for e in events) == FAST.max_attempts
    assert len(exchange.datagrams_to_send()) == FAST.max_attempts
    exchange.handle_timer(1e9)
    assert exchange.datagrams_to_send() == []


def test_deadline_cuts_the_schedule_short() -> None:
    """UDP-CLI-6: give_up_after ends the exchange at the earlier of the schedule's end and the deadline."""
    exchange = exchange_with(give_up_after=0.25)  # default schedule: 0.1 + 0.2 would pass 0.25
    events = run_to_give_up(exchange)
    waits = [e.wait for e in events if isinstance(e, AttemptStarted)]
    assert waits == pytest.approx([0.1, 0.15])
    outcome = exchange.outcome
    assert isinstance(outcome, GaveUp)
    assert outcome.attempts == 2
    assert outcome.elapsed == pytest.approx(0.25)


def test_a_deadline_longer_than_the_schedule_changes_nothing() -> None:
    """UDP-CLI-6: the schedule's end still bounds the exchange."""
    exchange = exchange_with(policy=FAST, give_up_after=100.0)
    run_to_give_up(exchange)
    assert isinstance(exchange.outcome, GaveUp)
    assert exchange.outcome.elapsed == pytest.approx(FAST.best_case_span())


# --- accepting and ignoring (UDP-CLI-1, UDP-CLI-2, CLI-3) --------------------------------


def started(**kwargs: object) -> UdpExchange:
    exchange = exchange_with(**kwargs)  # type: ignore[arg-type]
    exchange.start(0.0)
    exchange.datagrams_to_send()
    drain(exchange)
    return exchange


def test_the_valid_reply_is_accepted() -> None:
    """CLI-3: a well-formed reply from the server with our ID and operation ends the exchange."""
    exchange = started()
    exchange.receive_datagram(reply_to(exchange), SERVER, 0.03)
    [event] = drain(exchange)
    assert isinstance(event, ReplyAccepted)
    assert event.reply == Reply(Op.ECHO, Result.OK, b"hello", REQUEST_ID, 1, pytest.approx(0.03))  # type: ignore[arg-type]
    assert exchange.outcome == event.reply
    assert exchange.get_timer() is None


def test_an_error_reply_is_accepted_as_the_answer() -> None:
    """CLI-3: a bare error reply is a valid answer; the exchange ends with its result."""
    exchange = started()
    exchange.receive_datagram(reply_to(exchange, b"", Result.MALFORMED), SERVER, 0.01)
    assert isinstance(exchange.outcome, Reply)
    assert exchange.outcome.result == Result.MALFORMED


@pytest.mark.parametrize(
    ("source", "label"),
    [
        (("127.0.0.2", SERVER[1]), "another address, right port"),
        ((SERVER[0], SERVER[1] + 1), "right address, another port"),
        (("::1", SERVER[1]), "another family"),
    ],
)
def test_a_valid_reply_from_elsewhere_is_ignored_and_the_wait_goes_on(source: tuple[str, int], label: str) -> None:
    """UDP-CLI-1, UDP-CLI-2: a reply from anyone but the server asked (address and port) is ignored."""
    exchange = started()
    timer = exchange.get_timer()
    exchange.receive_datagram(reply_to(exchange, b"spoofed"), source, 0.01)
    [event] = drain(exchange)
    assert event == DatagramIgnored(source, IgnoreReason.WRONG_SOURCE)
    assert str(event).endswith(": not a server we asked")
    assert exchange.state is ExchangeState.WAITING and exchange.get_timer() == timer
    exchange.receive_datagram(reply_to(exchange), SERVER, 0.02)
    assert isinstance(exchange.outcome, Reply) and exchange.outcome.payload == b"hello"


def test_source_comparison_is_canonical() -> None:
    """UDP-CLI-1: an IPv4-mapped IPv6 source or a 4-tuple is the same server, not a stranger."""
    exchange = started()
    exchange.receive_datagram(reply_to(exchange), ("::ffff:127.0.0.1", SERVER[1], 0, 0), 0.01)
    assert isinstance(exchange.outcome, Reply)


def test_a_reply_with_another_request_id_is_ignored() -> None:
    """UDP-CLI-2, CLI-3: an otherwise valid reply with an unknown ID is reported as such and ignored."""
    exchange = started()
    other = pack_reply(Header(operation=Op.ECHO, request_id=REQUEST_ID ^ 1), Result.OK, b"hello")
    exchange.receive_datagram(other, SERVER, 0.01)
    [event] = drain(exchange)
    assert isinstance(event, DatagramIgnored) and event.reason is IgnoreReason.UNKNOWN_ID
    assert f"0x{REQUEST_ID ^ 1:016x}" in event.detail
    assert exchange.state is ExchangeState.WAITING


def test_a_duplicate_reply_is_ignored() -> None:
    """UDP-CLI-2: a second acceptable reply after the answer is reported as a duplicate and changes nothing."""
    exchange = started()
    exchange.receive_datagram(reply_to(exchange, b"hello"), SERVER, 0.01)
    first = exchange.outcome
    exchange.receive_datagram(reply_to(exchange, b"hello"), SERVER, 0.02)
    events = drain(exchange)
    assert events[-1] == DatagramIgnored(SERVER, IgnoreReason.DUPLICATE)
    assert exchange.outcome is first


def test_a_reply_after_giving_up_is_ignored() -> None:
    """UDP-CLI-6: once given up, a late reply does not revive the exchange."""
    exchange = exchange_with(policy=FAST)
    run_to_give_up(exchange)
    exchange.receive_datagram(reply_to(exchange), SERVER, 100.0)
    assert drain(exchange) == [DatagramIgnored(SERVER, IgnoreReason.LATE)]
    assert isinstance(exchange.outcome, GaveUp)


def reply_vectors() -> list[dict[str, object]]:
    return [v for v in load_vectors() if v["direction"] == "reply" and v["transport"] != "tcp"]


@pytest.mark.parametrize("vector", reply_vectors(), ids=lambda v: str(v["name"]))
def test_every_reply_vector(vector: dict[str, object]) -> None:
    """CLI-3, UDP-CLI-2: each reply vector of rrp_spec's test vectors is accepted or ignored exactly as it says."""
    request = vector["request"]
    assert isinstance(request, dict)
    exchange = started(operation=request["operation"], payload=b"", request_id=request["request_id"])
    data = bytes.fromhex(str(vector["hex"]))
    exchange.receive_datagram(data, SERVER, 0.01)
    [event] = drain(exchange)
    expect = vector["expect"]
    assert isinstance(expect, dict)
    if expect.get("action") == "ignore":
        assert isinstance(event, DatagramIgnored)
        assert event.reason in (IgnoreReason.MALFORMED, IgnoreReason.UNKNOWN_ID)
        assert exchange.state is ExchangeState.WAITING
    else:
        assert isinstance(event, ReplyAccepted)
        assert event.reply.payload == bytes.fromhex(expect["decoded"]["payload"])
        assert event.reply.result == expect["decoded"]["result"]


def test_malformed_reasons_name_the_requirement() -> None:
    """UDP-CLI-2: the report of a malformed reply names the rule it breaks."""
    exchange = started()
    truncated = reply_to(exchange)[:-1]
    exchange.receive_datagram(truncated, SERVER, 0.01)
    [event] = drain(exchange)
    assert isinstance(event, DatagramIgnored) and event.reason is IgnoreReason.MALFORMED
    assert event.detail.startswith("MSG-4: ")


# --- property: junk never ends the exchange (UDP-CLI-2) ----------------------------------


def acceptable(data: bytes, source: tuple[str, int], request: Header) -> bool:
    """An independent statement of what a client may accept (CLI-3, UDP-CLI-1), not using rrp_spec.validate."""
    if source != SERVER or len(data) < HEADER_SIZE:
        return False
    h = unpack_header(data)
    return (
        h.magic == MAGIC
        and h.version == VERSION
        and h.flags == Flag.REPLY
        and h.request_id == request.request_id
        and h.operation == request.operation
        and h.size == len(data) - HEADER_SIZE
        and (h.result == Result.OK or h.size == 0)
    )


SOURCES = st.sampled_from([SERVER, ("127.0.0.2", SERVER[1]), (SERVER[0], SERVER[1] + 1), ("127.0.0.1", 53)])


@st.composite
def near_misses(draw: st.DrawFn) -> bytes:
    """Replies to our request with one or more fields disturbed, or raw junk."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    header = Header(
        magic=draw(st.sampled_from([MAGIC, b"RS", b"\x00\x00"])),
        version=draw(st.sampled_from([VERSION, 0, 2, 255])),
        flags=draw(st.sampled_from([int(Flag.REPLY), 0, 0x41, 0x03, 0xFF])),
        operation=draw(st.sampled_from([int(Op.ECHO), int(Op.NOOP), 0x8001])),
        result=draw(st.sampled_from([Result.OK, Result.MALFORMED, Result.TOO_LARGE, APPLICATION_RANGE_END])),
        request_id=draw(st.sampled_from([REQUEST_ID, REQUEST_ID ^ 1, REQUEST_ID ^ (1 << 63), 0])),
        size=draw(st.integers(0, 8)),
    )
    return pack_header(header) + draw(st.binary(max_size=8))


@settings(max_examples=300, deadline=None)
@given(datagrams=st.lists(st.tuples(near_misses(), SOURCES, st.floats(0.0, 10.0)), max_size=30))
def test_junk_never_ends_the_exchange_early_and_only_an_acceptable_reply_is_accepted(
    datagrams: list[tuple[bytes, tuple[str, int], float]],
) -> None:
    """UDP-CLI-2, UDP-CLI-1, CLI-3: no datagram fails the exchange; the only way out before the schedule ends is
    an acceptable reply from the server, and the reply returned is exactly that datagram."""
    exchange = exchange_with(policy=FAST)
    exchange.start(0.0)
    now = 0.0
    accepted_from: bytes | None = None
    for data, source, delay in datagrams:
        now += delay / 100
        while (timer := exchange.get_timer()) is not None and timer <= now:
            exchange.handle_timer(timer)
        was_waiting = exchange.state is ExchangeState.WAITING
        exchange.receive_datagram(data, source, now)
        if was_waiting and exchange.state is ExchangeState.ANSWERED:
            accepted_from = data
        if accepted_from is None:
            gave_up = exchange.state is ExchangeState.GAVE_UP
            assert not gave_up or now >= FAST.best_case_span() - 1e-9
            assert exchange.state in (ExchangeState.WAITING, ExchangeState.GAVE_UP)
    if accepted_from is not None:
        assert acceptable(accepted_from, SERVER, exchange.request)
        outcome = exchange.outcome
        assert isinstance(outcome, Reply)
        assert outcome.payload == accepted_from[HEADER_SIZE:]
        assert outcome.result == unpack_header(accepted_from).result
    for data, source, _ in datagrams:
        if not acceptable(data, source, exchange.request):
            continue
        # The first acceptable datagram must have been the one accepted (unless it came after giving up).
        assert accepted_from == data or exchange.state is ExchangeState.GAVE_UP
        break


def test_payload_that_cannot_fit_a_datagram_is_refused_locally() -> None:
    """CLI-2: the client never sends a datagram whose size field could not match its length."""
    with pytest.raises(ValueError, match="does not fit one datagram"):
        exchange_with(payload=bytes(MAX_UDP_PAYLOAD + 1))


@pytest.mark.parametrize("bad_id", [0, 1 << 64, -1])
def test_an_injected_invalid_request_id_is_refused(bad_id: int) -> None:
    """CLI-1: a request ID of 0 or outside 64 bits never reaches the wire."""
    with pytest.raises(ValueError, match="request ID"):
        exchange_with(request_id=bad_id)
