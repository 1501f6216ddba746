"""The UDP server core and the small parts (dedup cache, rate limiter, limits, log, settings) on simulated time."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Hashable

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from rrp import ServerSettings, UdpServerCore
from rrp._aio.log_sink import DROPPED, LogSink
from rrp._sansio.connlimits import Admission, ConnectionLimits
from rrp._sansio.counters import ServerCounters
from rrp._sansio.dedup import DedupCache
from rrp._sansio.dispatch import Dispatcher
from rrp._sansio.prefixes import source_prefix
from rrp._sansio.ratelimit import RateVerdict, ResponseRateLimiter
from rrp._sansio.rejectlog import RateLimitedLog
from rrp._sansio.server_events import CallRequested, DropReason
from rrp_spec import (
    AMPLIFICATION_FACTOR,
    APPLICATION_RANGE_START,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    HEADER_SIZE,
    MAX_REQUEST_DEADLINE,
    MAX_SEND_TIMEOUT,
    MIN_DEDUP_WINDOW,
    Action,
    Op,
    ProtocolViolation,
    Result,
    pack_reply,
    pack_request,
    unpack_header,
)

PEER = ("127.0.0.1", 40000)
BIG = APPLICATION_RANGE_START
FAILING = APPLICATION_RANGE_START + 1
ASYNC = APPLICATION_RANGE_START + 2
COPY = APPLICATION_RANGE_START + 3


def _core(settings: ServerSettings | None = None) -> UdpServerCore:
    dispatcher = Dispatcher()
    dispatcher.register(BIG, lambda payload: bytes(len(payload) * 10 + 100))

    def failing(payload: bytes) -> bytes:
        raise KeyError("internal detail")

    async def later(payload: bytes) -> bytes:
        return payload

    dispatcher.register(FAILING, failing)
    dispatcher.register(ASYNC, later)
    dispatcher.register(COPY, bytes)
    return UdpServerCore(settings or ServerSettings(), dispatcher)


def _result(reply: object) -> int:
    assert isinstance(reply, bytes)
    return unpack_header(reply).result


def _counter(reply: object) -> int:
    assert isinstance(reply, bytes)
    return int.from_bytes(reply[HEADER_SIZE:], "big")


def _counted(core: UdpServerCore) -> ServerCounters:
    """The server's counters, as the observer of everything ``core`` reported so far."""
    counters = ServerCounters()
    counters.observe(core.take_events())
    return counters


# --- duplicates ---------------------------------------------------------------------------


def test_retransmission_gets_the_same_reply_and_increment_runs_once() -> None:
    """UDP-SRV-7: same source and ID inside the window: the cached reply, and the counter does not move."""
    core = _core()
    request = pack_request(Op.INCREMENT, 42)
    first = core.handle_datagram(request, PEER, 0.0)
    again = core.handle_datagram(request, PEER, 1.0)
    assert first == again
    assert _counter(first) == 1
    assert core.dispatcher.counter == 1
    other_port = core.handle_datagram(request, ("127.0.0.1", 40001), 1.0)
    assert _counter(other_port) == 2, "another source port is another client"
    assert _counted(core).dedup_hits == 1


def test_duplicate_window_is_at_least_the_clients_retry_span() -> None:
    """UDP-SRV-8: a retransmission just inside the minimum window is still caught; a window below it is refused."""
    core = _core(ServerSettings(dedup_window=MIN_DEDUP_WINDOW))
    request = pack_request(Op.INCREMENT, 7)
    core.handle_datagram(request, PEER, 0.0)
    assert _counter(core.handle_datagram(request, PEER, MIN_DEDUP_WINDOW - 0.001)) == 1
    assert _counter(core.handle_datagram(request, PEER, MIN_DEDUP_WINDOW)) == 2, "expired: carried out again"
    with pytest.raises(ValueError, match="UDP-SRV-8"):
        ServerSettings(dedup_window=MIN_DEDUP_WINDOW / 2)


def test_reply_that_would_amplify_is_replaced_by_too_large() -> None:
    """UDP-SRV-5: a reply over AMPLIFICATION_FACTOR x the request datagram becomes a bare TOO_LARGE."""
    core = _core()
    request = pack_request(BIG, 1, b"ab")
    reply = core.handle_datagram(request, PEER, 0.0)
    assert isinstance(reply, bytes)
    assert _result(reply) == Result.TOO_LARGE
    assert len(reply) == HEADER_SIZE <= AMPLIFICATION_FACTOR * len(request)
    echo = pack_request(Op.ECHO, 2, b"x" * 1000)
    assert core.handle_datagram(echo, PEER, 0.0) == pack_reply(unpack_header(echo), Result.OK, b"x" * 1000)


def test_short_datagram_reusing_an_id_never_draws_the_big_cached_reply() -> None:
    """UDP-SRV-5 with UDP-SRV-7: the amplification bound holds for cached replies too."""
    core = _core()
    big = pack_request(COPY, 42, bytes(1000))
    assert isinstance(core.handle_datagram(big, PEER, 0.0), bytes)
    short = pack_request(Op.INCREMENT, 42)
    assert core.handle_datagram(short, PEER, 0.1) == pack_reply(unpack_header(short), Result.TOO_LARGE)
    again = core.handle_datagram(big, PEER, 0.2)
    assert isinstance(again, bytes) and len(again) == len(big), "the real retransmission still gets it"


def test_a_valid_request_reusing_a_cached_id_is_a_retransmission_whatever_its_bytes() -> None:
    """UDP-SRV-11: INCREMENT then an application operation under one ID: the INCREMENT's reply, nothing run."""
    core = _core()
    counted = core.handle_datagram(pack_request(Op.INCREMENT, 9), PEER, 0.0)
    assert core.handle_datagram(pack_request(BIG, 9, b"other"), PEER, 0.1) == counted
    assert _counter(core.handle_datagram(pack_request(Op.INCREMENT, 10), PEER, 0.2)) == 2


def test_errors_of_carrying_out_are_cached_and_header_rejections_are_not() -> None:
    """UDP-SRV-12: an INTERNAL_ERROR is kept for the ID; a MALFORMED from the header rules is not."""
    core = _core()
    failed = core.handle_datagram(pack_request(FAILING, 11, b"k"), PEER, 0.0)
    assert _result(failed) == Result.INTERNAL_ERROR
    assert core.handle_datagram(pack_request(Op.INCREMENT, 11), PEER, 0.1) == failed
    assert core.dispatcher.counter == 0
    reserved_flag = bytearray(pack_request(Op.ECHO, 12, b"x"))
    reserved_flag[3] = 0x40
    assert _result(core.handle_datagram(bytes(reserved_flag), PEER, 0.2)) == Result.MALFORMED
    assert _counter(core.handle_datagram(pack_request(Op.INCREMENT, 12), PEER, 0.3)) == 1, "carried out"


def test_failing_handler_is_a_bare_internal_error() -> None:
    """SRV-15: over UDP too, the failure is not disclosed and the next request is served."""
    core = _core()
    request = pack_request(FAILING, 1, b"k")
    reply = core.handle_datagram(request, PEER, 0.0)
    assert reply == pack_reply(unpack_header(request), Result.INTERNAL_ERROR)
    assert _result(core.handle_datagram(pack_request(Op.NOOP, 2), PEER, 0.0)) == Result.OK


def test_async_handler_and_retransmissions_while_it_runs() -> None:
    """UDP-SRV-7: a retransmission while the handler runs is dropped; after it, it gets the cached reply."""
    core = _core()
    request = pack_request(ASYNC, 5, b"later")
    call = core.handle_datagram(request, PEER, 0.0)
    assert isinstance(call, CallRequested)
    assert core.handle_datagram(request, PEER, 0.1) is None
    assert _counted(core).drops[DropReason.IN_PROGRESS] == 1
    reply = core.complete(call, b"later", None, 0.2)
    assert reply[HEADER_SIZE:] == b"later" and _result(reply) == Result.OK
    assert core.handle_datagram(request, PEER, 0.3) == reply


def test_async_calls_beyond_the_limit_are_answered_busy_and_not_cached() -> None:
    """Past max_udp_calls running handlers a request gets a bare BUSY (UDP-SRV-5), never cached (UDP-SRV-13)."""
    core = _core(ServerSettings(max_udp_calls=2))
    calls = [core.handle_datagram(pack_request(ASYNC, n, b"x" * 100), PEER, 0.0) for n in (1, 2)]
    assert all(isinstance(call, CallRequested) for call in calls)
    refused = pack_request(ASYNC, 3, b"x" * 100)
    busy = core.handle_datagram(refused, PEER, 0.1)
    assert busy == pack_reply(unpack_header(refused), Result.BUSY)
    assert core.in_progress == 2
    first = calls[0]
    assert isinstance(first, CallRequested)
    core.complete(first, b"done", None, 0.2)
    retry = core.handle_datagram(refused, PEER, 0.3)
    assert isinstance(retry, CallRequested), "BUSY was not cached: the retransmission runs the handler"


def test_drop_rate_drops_that_share_reproducibly() -> None:
    """--drop-rate with --seed: about that share is dropped, the same ones on every run."""

    def run() -> list[bool]:
        core = _core(ServerSettings(drop_rate=0.5, seed=7))
        return [core.handle_datagram(pack_request(Op.NOOP, i), PEER, 0.0) is None for i in range(1, 401)]

    dropped = run()
    assert dropped == run()
    assert 150 < sum(dropped) < 250


# --- the duplicate-reply cache --------------------------------------------------------------


class DedupModel(RuleBasedStateMachine):
    """UDP-SRV-9 against a model: reservations, replies, releases and time, from a few sources.

    Invariants: never more entries or bytes than the bounds; a source never holds more than its
    share; an entry younger than the minimum age is never evicted to make room; what is held is
    always in insertion order.
    """

    WINDOW, MIN_AGE = 10.0, 4.0

    @initialize(max_entries=st.integers(1, 8), max_bytes=st.integers(40, 200), share=st.sampled_from([1.0, 0.5]))
    def start(self, max_entries: int, max_bytes: int, share: float) -> None:
        self.cache = DedupCache(
            window=self.WINDOW, max_entries=max_entries, max_bytes=max_bytes, min_age=self.MIN_AGE, source_share=share
        )
        self.now = 0.0
        self.stored: dict[int, tuple[float, bytes]] = {}  # key -> (stored at, reply)
        self.next_key = 0

    @rule(source=st.sampled_from("abc"), reply=st.binary(max_size=40), slack=st.integers(0, 10), keep=st.booleans())
    def request(self, source: str, reply: bytes, slack: int, keep: bool) -> None:
        reserved = len(reply) + slack
        young_before = {k for k, (at, _) in self.stored.items() if self.now - at < self.MIN_AGE}
        if not self.cache.reserve(source, reserved, self.now):
            return
        held = set(self.cache.keys())
        assert young_before <= held, "an entry younger than the minimum age was evicted to make room"
        if keep:
            self.next_key += 1
            self.cache.put(self.next_key, reply, source, reserved, self.now)
            self.stored[self.next_key] = (self.now, reply)
        else:
            self.cache.release(source, reserved)

    @rule(step=st.floats(0, 6))
    def advance(self, step: float) -> None:
        self.now += step

    @invariant()
    def in_bounds_and_in_order(self) -> None:
        cache = self.cache
        assert len(cache) <= cache.max_entries and cache.bytes_used <= cache.max_bytes
        assert cache.reserved == 0
        for source in "abc":
            entries, used = cache.held_by(source)
            assert entries <= cache.source_entries and used <= cache.source_bytes
        held = cache.keys()
        keys = [k for k in held if isinstance(k, int)]
        assert keys == sorted(keys) and len(keys) == len(cache)
        for key in keys:
            at, reply = self.stored[key]
            assert cache.get(key, self.now) == (reply if self.now < at + self.WINDOW else None)
        assert sum(len(self.stored[k][1]) for k in keys) == cache.bytes_used


DedupModel.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
test_dedup_cache_model = DedupModel.TestCase
test_dedup_cache_model.__doc__ = "UDP-SRV-9: bounds, per-source share, and no young entry evicted, against a model."


def test_a_flood_between_an_increment_and_its_retransmission_never_runs_it_twice() -> None:
    """UDP-SRV-7, UDP-SRV-9: more distinct requests than the cache holds, inside the minimum window, from many
    sources: the retransmission still gets the first counter value; the overflow is BUSY and not carried out."""
    core = _core(ServerSettings(dedup_entries=100, dedup_source_share=1.0))
    honest = pack_request(Op.INCREMENT, 77)
    first = _counter(core.handle_datagram(honest, PEER, 0.0))
    results = []
    for n in range(1, 301):
        flood = pack_request(Op.INCREMENT, n)
        results.append(_result(core.handle_datagram(flood, (f"10.0.{n // 250}.{n % 250}", 9), 0.001 * n)))
    assert results.count(Result.OK) == 99 and results.count(Result.BUSY) == 201
    assert core.dispatcher.counter == first + 99, "a request answered BUSY was carried out"
    assert _counter(core.handle_datagram(honest, PEER, MIN_DEDUP_WINDOW - 0.01)) == first
    # Once the flood's entries have aged past the minimum window they give way to new requests.
    later = core.handle_datagram(pack_request(Op.INCREMENT, 5000), PEER, MIN_DEDUP_WINDOW + 0.5)
    assert _result(later) == Result.OK


def test_stateless_operations_take_no_room_in_the_cache() -> None:
    """UDP-SRV-7: NOOP and ECHO are carried out again, identically; a flood of them evicts nothing."""
    core = _core(ServerSettings(dedup_entries=10))
    honest = pack_request(Op.INCREMENT, 5)
    first = core.handle_datagram(honest, PEER, 0.0)
    echo = pack_request(Op.ECHO, 6, b"same bytes")
    replies = {core.handle_datagram(echo, PEER, 0.1) for _ in range(3)}
    assert replies == {pack_reply(unpack_header(echo), Result.OK, b"same bytes")}
    for n in range(1000):
        assert _result(core.handle_datagram(pack_request(Op.NOOP, 100 + n), ("10.1.1.1", n), 0.2)) == Result.OK
    assert len(core.dedup) == 1
    assert core.handle_datagram(honest, PEER, 1.0) == first


def test_one_source_holds_only_its_share_of_the_cache() -> None:
    """UDP-SRV-9: a flooder from one address is answered BUSY past its share; another client still gets room."""
    core = _core(ServerSettings(dedup_entries=64, dedup_source_share=1 / 16))
    answers = [_result(core.handle_datagram(pack_request(Op.INCREMENT, n), ("10.2.0.1", n), 0.0)) for n in range(1, 11)]
    assert answers == [Result.OK] * 4 + [Result.BUSY] * 6
    v6 = [_result(core.handle_datagram(pack_request(Op.INCREMENT, n), (f"2001:db8::{n}", 1), 0.0)) for n in range(1, 6)]
    assert v6 == [Result.OK] * 4 + [Result.BUSY], "one IPv6 /64 is one source"
    assert _result(core.handle_datagram(pack_request(Op.INCREMENT, 99), PEER, 0.0)) == Result.OK


# --- the state machine --------------------------------------------------------------------------


class UdpCoreMachine(RuleBasedStateMachine):
    """Datagrams from a few sources with few IDs (so duplicates are common), garbage, and time.

    Invariants: INCREMENT runs at most once per (source, ID) inside the window; no
    reply exceeds the amplification bound; every reply answers its own request;
    the cache stays within its bounds.
    """

    WINDOW = MIN_DEDUP_WINDOW

    @initialize()
    def start(self) -> None:
        self.core = _core(ServerSettings(dedup_window=self.WINDOW, dedup_entries=10_000, dedup_bytes=1 << 20))
        self.now = 0.0
        self.executed: dict[tuple[str, int, int], float] = {}

    @rule(
        host=st.sampled_from(["127.0.0.1", "127.0.0.2", "::1"]),
        port=st.sampled_from([1000, 1001]),
        request_id=st.integers(1, 4),
        operation=st.sampled_from([Op.INCREMENT, Op.ECHO, Op.NOOP, BIG, FAILING]),
        payload=st.one_of(st.binary(max_size=30), st.binary(min_size=100, max_size=300)),
    )
    def request(self, host: str, port: int, request_id: int, operation: int, payload: bytes) -> None:
        if operation == Op.INCREMENT:
            payload = b""
        datagram = pack_request(operation, request_id, payload)
        before = self.core.dispatcher.counter
        reply = self.core.handle_datagram(datagram, (host, port), self.now)
        assert isinstance(reply, bytes)
        assert len(reply) <= AMPLIFICATION_FACTOR * len(datagram)
        header = unpack_header(reply)
        assert header.request_id == request_id
        if self.core.dispatcher.counter != before:
            key = (host, port, request_id)
            last = self.executed.get(key)
            assert last is None or self.now >= last + self.WINDOW, "INCREMENT ran twice inside the window"
            self.executed[key] = self.now

    @rule(data=st.binary(max_size=40), host=st.sampled_from(["127.0.0.1", "::1"]))
    def garbage(self, data: bytes, host: str) -> None:
        reply = self.core.handle_datagram(data, (host, 9), self.now)
        if reply is not None:
            assert isinstance(reply, bytes)
            assert len(reply) == HEADER_SIZE and _result(reply) != Result.OK

    @rule(step=st.floats(0, 5))
    def advance(self, step: float) -> None:
        self.now += step

    @invariant()
    def cache_in_bounds(self) -> None:
        settings_ = self.core.settings
        assert len(self.core.dedup) <= settings_.dedup_entries
        assert self.core.dedup.bytes_used <= settings_.dedup_bytes


UdpCoreMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_udp_core_state_machine = UdpCoreMachine.TestCase
test_udp_core_state_machine.__doc__ = "UDP-SRV-5, UDP-SRV-7, UDP-SRV-9, SRV-12, SRV-16: random datagrams and time."


# --- response rate limiting -------------------------------------------------------------------


def test_rate_limit_burst_gives_the_expected_answer_and_drop_counts() -> None:
    """UDP-SRV-10: 100 requests/s for 5 s from one /24 against 10 replies/s: about 50 answered, the rest slip or drop.

    As in BIND's RRL system test: the counts must be within 1 of the arithmetic.
    """
    rate, slip = 10, 2
    core = _core(ServerSettings(rate_limit=rate, rate_limit_slip=slip))
    answered = slipped = 0
    for i in range(500):
        host = f"192.0.2.{i % 200 + 1}"  # one /24, many addresses: the prefix is what is limited
        reply = core.handle_datagram(pack_request(Op.NOOP, i + 1), (host, 5000), i / 100)
        if reply is None:
            continue
        if _result(reply) == Result.OK:
            answered += 1
        else:
            assert _result(reply) == Result.BUSY
            slipped += 1
    expected_answered = rate + rate * 5  # the initial burst, then the refill over 5 s
    assert abs(answered - expected_answered) <= 1
    assert abs(slipped - (500 - answered) // slip) <= 1
    assert _counted(core).drops[DropReason.RATE_LIMITED] == 500 - answered - slipped
    other = core.handle_datagram(pack_request(Op.NOOP, 9999), ("198.51.100.1", 5000), 5.0)
    assert _result(other) == Result.OK, "another prefix has its own bucket"


def test_rate_limiter_prefixes_and_table_bound() -> None:
    """UDP-SRV-10: IPv4 /24 and IPv6 /56 share a bucket; the table forgets the least recently seen prefix."""
    limiter = ResponseRateLimiter(rate=1, slip=0, max_prefixes=2)
    assert limiter.judge("10.0.0.1", 0.0) is RateVerdict.SEND
    assert limiter.judge("10.0.0.200", 0.0) is RateVerdict.DROP
    assert limiter.judge("2001:db8:0:ff::1", 0.0) is RateVerdict.SEND
    assert limiter.judge("2001:db8:0:1::2", 0.0) is RateVerdict.DROP, "same /56"
    assert limiter.judge("2001:db8:1::1", 0.0) is RateVerdict.SEND
    assert len(limiter) == 2
    assert source_prefix("::ffff:10.0.0.1", 24, 56) == source_prefix("10.0.0.9", 24, 56)


# --- connection limits --------------------------------------------------------------------------


def test_connection_limits_count_from_accept_per_source_and_globally() -> None:
    """TCP-SRV-7, TCP-SRV-11, TCP-SRV-12: admissions are counted at accept; over a limit, BUSY then refuse."""
    limits = ConnectionLimits(ServerSettings(max_connections=5, max_connections_per_source=2, max_busy_connections=1))
    admit = limits.admit
    assert admit(1, "127.0.0.2") == (Admission.SERVE, None)
    assert admit(2, "127.0.0.2") == (Admission.SERVE, None)
    assert admit(3, "127.0.0.2") == (Admission.BUSY, None)
    assert admit(4, "127.0.0.2") == (Admission.REFUSE, None)
    assert admit(5, "127.0.0.1") == (Admission.SERVE, None), "another source still gets in"
    assert admit(6, "2001:db8::1") == (Admission.SERVE, None)
    assert admit(7, "2001:db8::2") == (Admission.SERVE, None)
    assert admit(8, "2001:db8::3") == (Admission.REFUSE, None), "same /64 over its limit (and no BUSY slot left)"
    assert admit(9, "127.0.0.9") == (Admission.REFUSE, None), "global limit of 5 reached, and 127.0.0/24 holds most"
    limits.release(3, Admission.BUSY)
    limits.release(1, Admission.SERVE)
    assert limits.from_source("127.0.0.2") == 1
    assert admit(10, "127.0.0.9") == (Admission.SERVE, None)
    assert ServerSettings().max_connections_per_source == DEFAULT_MAX_CONNECTIONS_PER_SOURCE


def test_at_the_global_limit_the_network_holding_most_gives_up_its_oldest_slot() -> None:
    """TCP-SRV-13: 17 sources in 17 networks fill every slot; a newcomer from elsewhere takes the oldest slot of
    the largest network, while a newcomer from a network already holding its share is still turned away."""
    settings = ServerSettings(max_connections=17 * 4, max_connections_per_source=4, max_busy_connections=4)
    limits = ConnectionLimits(settings)
    tokens = [(n, k) for n in range(17) for k in range(4)]
    for n, k in tokens:
        assert limits.admit((n, k), f"127.{n + 1}.0.1") == (Admission.SERVE, None)
    assert limits.open == 68
    assert limits.admit("attacker", "127.3.0.2") == (Admission.BUSY, None), "its network holds as much as any"
    admission, victim = limits.admit("honest", "127.0.0.1")
    assert admission is Admission.SERVE and victim == (0, 0), "the oldest connection of a largest network"
    assert limits.open == 68 and limits.from_network("127.1.0.9") == 3 and limits.reclaimed == 1
    limits.release(victim, Admission.SERVE)  # the reset victim's close arrives later: already released
    assert limits.open == 68
    second = limits.admit("honest-2", "127.0.0.1")
    assert second[0] is Admission.SERVE and second[1] not in (None, (0, 0))
    assert limits.from_network("127.0.0.1") == 2


def test_one_network_holds_at_most_its_share_of_slots() -> None:
    """TCP-SRV-12: many addresses of one IPv4 /24 (or IPv6 /48) count together against the per-network limit."""
    limits = ConnectionLimits(
        ServerSettings(max_connections=100, max_connections_per_source=2, max_connections_per_network=4)
    )
    answers = [limits.admit(n, f"198.51.100.{n}")[0] for n in range(1, 7)]
    assert answers == [Admission.SERVE] * 4 + [Admission.BUSY] * 2
    v6 = [limits.admit(f"v6-{n}", f"2001:db8:0:{n}::1")[0] for n in range(1, 7)]
    assert v6 == [Admission.SERVE] * 4 + [Admission.BUSY] * 2, "distinct /64s of one /48"
    assert limits.admit("other", "203.0.113.1")[0] is Admission.SERVE


def test_a_newcomer_from_a_small_network_takes_the_longest_idle_of_the_longest_open_slots() -> None:
    """TCP-SRV-16: one connection from each of many networks fills every slot, so no network holds two more than
    the newcomer's; a newcomer from a network holding at most one still gets in, taking the longest-idle of the
    longest-open connections (the three oldest are in use); with none idle, the oldest. One more from a network
    that already holds two is turned away."""
    limits = ConnectionLimits(ServerSettings(max_connections=40, max_busy_connections=4))
    for n in range(40):
        assert limits.admit(n, f"127.{n // 256}.{n % 256}.1") == (Admission.SERVE, None)
    idle: dict[Hashable, float] = {n: 100.0 - n % 7 for n in range(3, 40)}  # 0, 1 and 2 are in use
    idle_since = idle.get

    admission, victim = limits.admit("honest", "10.0.0.1", idle_since)
    assert (admission, victim) == (Admission.SERVE, 6), "idle since 94: the longest-idle of the 16 oldest"
    assert limits.admit("all busy", "10.0.1.1", lambda token: None) == (Admission.SERVE, 0), "else the oldest"
    assert limits.admit("second", "127.0.5.9", idle_since)[0] is Admission.SERVE, "its network holds one"
    assert limits.admit("third", "127.0.5.10", idle_since) == (Admission.BUSY, None), "its network holds two"
    assert limits.open == 40 and limits.reclaimed == 3


def test_at_a_networks_limit_the_source_holding_most_there_gives_up_its_oldest_slot() -> None:
    """TCP-SRV-12 with TCP-SRV-13's rule one level down: 17 addresses of the honest client's /24 fill that /24's
    slots; the honest newcomer takes the oldest slot of the address holding the most, an attacker address that
    already holds as much as any other in the /24 is still turned away."""
    settings = ServerSettings(
        max_connections=1024, max_connections_per_source=64, max_connections_per_network=51, max_busy_connections=4
    )
    limits = ConnectionLimits(settings)
    for n in range(17):
        for k in range(3):
            assert limits.admit((n, k), f"127.0.0.{n + 2}") == (Admission.SERVE, None)
    assert limits.from_network("127.0.0.1") == 51
    assert limits.admit("attacker", "127.0.0.5") == (Admission.BUSY, None), "its source holds as much as any"
    admission, victim = limits.admit("honest", "127.0.0.1")
    assert admission is Admission.SERVE and victim == (0, 0), "the oldest connection of a largest source"
    assert limits.from_network("127.0.0.1") == 51 and limits.from_source("127.0.0.2") == 2
    assert limits.reclaimed == 1 and limits.open == 51
    assert limits.admit("honest-2", "127.0.0.1") == (Admission.SERVE, (1, 0)), "1 against 3: the next address"
    assert limits.admit("honest-3", "127.0.0.1") == (Admission.BUSY, None), "2 against 3: its fair share"


# --- settings and the log -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_deadline", MAX_REQUEST_DEADLINE + 1),
        ("request_deadline", 0.0),
        ("request_deadline", float("nan")),
        ("send_timeout", MAX_SEND_TIMEOUT + 1),
        ("tcp_max_payload", -1),
        ("udp_max_payload", 70000),
        ("max_connections", 0),
        ("dedup_entries", 0),
        ("drop_rate", 1.5),
        ("rate_limit", -1.0),
    ],
)
def test_settings_refuse_unsafe_values(field: str, value: object) -> None:
    """TCP-SRV-5, TCP-SRV-10, UDP-SRV-4, UDP-SRV-9: limits outside what the spec allows are refused at construction."""
    with pytest.raises(ValueError, match=field):
        ServerSettings(**{field: value})  # type: ignore[arg-type]


def test_rejection_log_is_rate_limited_and_summarises() -> None:
    """The operator's log: at most N lines a second, then one 'suppressed K' line; never payload bytes."""
    lines: list[str] = []
    log = RateLimitedLog(lines.append, max_per_second=3)
    core = UdpServerCore(ServerSettings())
    for _ in range(10):
        core.handle_datagram(b"XX" + bytes(18) + b"secret", ("127.0.0.1", 1), 0.0)
    log.observe(core.take_events(), 0.0)
    log.line("next second", 1.0)
    assert len(lines) == 5
    assert lines[0].startswith("rejected input from udp 127.0.0.1:1: UDP-SRV-2")
    assert lines[3] == "suppressed 7 log lines"
    assert not any("secret" in line for line in lines)


def test_a_failed_handler_reaches_the_log_by_its_type_only() -> None:
    """SRV-15: the client gets a bare INTERNAL_ERROR; the operator's log names the operation and the exception type."""
    lines: list[str] = []
    core = _core()
    core.handle_datagram(pack_request(FAILING, 1, b"k"), PEER, 0.0)
    RateLimitedLog(lines.append).observe(core.take_events(), 0.0)
    assert lines == [f"handler for operation 0x{FAILING:04x} failed: KeyError"]


def test_a_suppressed_rejection_is_never_formatted() -> None:
    """SRV-17, TCP-SRV-8: past the budget a rejection is only counted; its message is not even built."""

    class Violation(ProtocolViolation):
        formatted = 0

        def __str__(self) -> str:
            Violation.formatted += 1
            return "formatted"

    lines: list[str] = []
    log = RateLimitedLog(lines.append, max_per_second=2)
    violation = Violation("SRV-3", Action.DROP, "reserved flag bits set")
    for _ in range(1000):
        log.rejection(violation, "udp 127.0.0.1:1", 0.5)
    assert Violation.formatted == 2 and len(lines) == 2 and log.suppressed == 998


def test_the_log_sink_never_blocks_the_caller_and_counts_what_it_drops() -> None:
    """SRV-17: with the output stalled, write() returns at once; past the queue, lines are dropped and counted."""
    release = threading.Event()

    class StalledStream(io.StringIO):
        def write(self, text: str) -> int:
            release.wait()
            return super().write(text)

    stream = StalledStream()
    sink = LogSink(stream, capacity=10)
    start = time.monotonic()
    for n in range(100):
        sink.write(f"line {n}")
    assert time.monotonic() - start < 1.0
    assert 89 <= sink.dropped_total <= 90  # the writer holds one line, the queue ten
    release.set()
    deadline = time.monotonic() + 5
    while "line 10" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    sink.write("after")  # the count goes out where the lines were lost, once there is room
    assert sink.close(timeout=5)
    lines = stream.getvalue().splitlines()
    dropped = sink.dropped_total
    assert lines == [f"line {n}" for n in range(100 - dropped)] + [f"{DROPPED} {dropped} log lines", "after"]


def test_a_log_sink_whose_output_stays_blocked_does_not_hold_up_the_exit() -> None:
    """SRV-17: close() gives up on a stalled output after its timeout (the writer is a daemon thread)."""
    stalled = threading.Event()

    class StalledStream(io.StringIO):
        def write(self, text: str) -> int:
            stalled.wait()
            return 0

    sink = LogSink(StalledStream())
    sink.write("never written")
    start = time.monotonic()
    assert not sink.close(timeout=0.1)
    assert time.monotonic() - start < 2.0
    stalled.set()


def test_counters_snapshot_names_operations_and_results() -> None:
    """Counters by op, result and drop reason, readable (issue 3's shutdown summary)."""
    core = _core()
    core.handle_datagram(pack_request(Op.ECHO, 1, b"a"), PEER, 0.0)
    core.handle_datagram(b"short", PEER, 0.0)
    snap = _counted(core).snapshot()
    assert snap.requests_by_op == {"ECHO": 1}
    assert snap.replies_by_result == {"OK": 1}
    assert snap.drops_by_reason == {"invalid": 1}
    assert snap.rejected_by_requirement == {"UDP-SRV-1": 1}
    assert any(line.startswith("requests: ECHO=1") for line in snap.lines())
