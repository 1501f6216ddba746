"""The UDP server core and the small parts (dedup cache, rate limiter, limits, log, settings) on simulated time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from rrp import ServerSettings, UdpServerCore
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
    Op,
    Result,
    pack_reply,
    pack_request,
    unpack_header,
)

PEER = ("127.0.0.1", 40000)
BIG = APPLICATION_RANGE_START
FAILING = APPLICATION_RANGE_START + 1
ASYNC = APPLICATION_RANGE_START + 2


def _core(settings: ServerSettings | None = None) -> UdpServerCore:
    dispatcher = Dispatcher()
    dispatcher.register(BIG, lambda payload: bytes(len(payload) * 10 + 100))

    def failing(payload: bytes) -> bytes:
        raise KeyError("internal detail")

    async def later(payload: bytes) -> bytes:
        return payload

    dispatcher.register(FAILING, failing)
    dispatcher.register(ASYNC, later)
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
    big = pack_request(Op.ECHO, 42, bytes(1000))
    assert isinstance(core.handle_datagram(big, PEER, 0.0), bytes)
    short = pack_request(Op.NOOP, 42)
    assert core.handle_datagram(short, PEER, 0.1) == pack_reply(unpack_header(short), Result.TOO_LARGE)
    again = core.handle_datagram(big, PEER, 0.2)
    assert isinstance(again, bytes) and len(again) == len(big), "the real retransmission still gets it"


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
    """Memory bound: past max_udp_calls running handlers a request gets a bare BUSY (UDP-SRV-5); a retry is served."""
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


@settings(max_examples=200, deadline=None)
@given(
    operations=st.lists(
        st.tuples(st.integers(0, 12), st.binary(max_size=40), st.floats(0, 3)), min_size=1, max_size=60
    ),
    max_entries=st.integers(1, 8),
    max_bytes=st.integers(0, 120),
)
def test_dedup_cache_stays_in_bounds_and_evicts_oldest_first(
    operations: list[tuple[int, bytes, float]], max_entries: int, max_bytes: int
) -> None:
    """UDP-SRV-9: never more than its entries and bytes; what is left is always the newest, in order."""
    window = 5.0
    cache = DedupCache(window=window, max_entries=max_entries, max_bytes=max_bytes)
    model: list[tuple[int, bytes, float]] = []  # (key, reply, expires), oldest first
    now = 0.0
    for key, reply, step in operations:
        now += step
        cache.put(key, reply, now)
        model = [(k, r, e) for k, r, e in model if k != key and e > now]
        if len(reply) <= max_bytes:
            model.append((key, reply, now + window))
        while len(model) > max_entries or sum(len(r) for _, r, _ in model) > max_bytes:
            model.pop(0)
        assert len(cache) <= max_entries
        assert cache.bytes_used <= max_bytes
        assert cache.keys() == [k for k, _, _ in model]
        for k, r, _ in model:
            assert cache.get(k, now) == r


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
    assert limits.admit("127.0.0.2") is Admission.SERVE
    assert limits.admit("127.0.0.2") is Admission.SERVE
    assert limits.admit("127.0.0.2") is Admission.BUSY
    assert limits.admit("127.0.0.2") is Admission.REFUSE
    assert limits.admit("127.0.0.1") is Admission.SERVE, "another source still gets in"
    assert limits.admit("2001:db8::1") is Admission.SERVE
    assert limits.admit("2001:db8::2") is Admission.SERVE
    assert limits.admit("2001:db8::3") is Admission.REFUSE, "same /64 over its limit (and no BUSY slot left)"
    assert limits.admit("192.0.2.1") is Admission.REFUSE, "global limit of 5 reached"
    limits.release("127.0.0.2", Admission.BUSY)
    limits.release("127.0.0.2", Admission.SERVE)
    assert limits.from_source("127.0.0.2") == 1
    assert limits.admit("192.0.2.1") is Admission.SERVE
    assert ServerSettings().max_connections_per_source == DEFAULT_MAX_CONNECTIONS_PER_SOURCE


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
