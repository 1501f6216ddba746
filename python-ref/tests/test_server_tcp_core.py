"""The TCP server core on simulated time: framing, deadlines, ordering, and a hypothesis state machine."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rrp import HandlerError, ServerSettings, TcpConnection
from rrp._sansio.counters import ServerCounters
from rrp._sansio.dispatch import Dispatcher
from rrp._sansio.server_events import CallRequested, CloseReason, ConnectionClosed, HandlerFailed, Rejected
from rrp._sansio.tcp_core import TALLY_EVERY, Phase
from rrp_spec import (
    APPLICATION_RANGE_START,
    COUNTER_SIZE,
    HEADER_SIZE,
    MAX_CODE,
    MAX_SIZE_FIELD,
    Action,
    Header,
    Op,
    ProtocolViolation,
    Result,
    Transport,
    check_request,
    pack_header,
    pack_reply,
    pack_request,
    unpack_header,
)

DEADLINE = 1.0
IDLE = 3.0
LIMIT = 64
SETTINGS = ServerSettings(tcp_max_payload=LIMIT, request_deadline=DEADLINE, idle_timeout=IDLE)
REVERSE = APPLICATION_RANGE_START
FAILING = 0x8001
REFUSING = 0x8002
ASYNC = 0x8003


def _dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.register(REVERSE, lambda payload: payload[::-1])

    def failing(payload: bytes) -> bytes:
        raise RuntimeError("secret detail " + payload.hex())

    def refusing(payload: bytes) -> bytes:
        raise HandlerError(0x8123)

    async def slow(payload: bytes) -> bytes:
        return payload

    dispatcher.register(FAILING, failing)
    dispatcher.register(REFUSING, refusing)
    dispatcher.register(ASYNC, slow)
    return dispatcher


def _connection(now: float = 0.0, *, busy: bool = False, settings: ServerSettings = SETTINGS) -> TcpConnection:
    return TcpConnection(settings, _dispatcher(), now, busy=busy)


def _calls(connection: TcpConnection) -> list[CallRequested]:
    """The requests the connection asked the application to carry out since the last look."""
    return [event for event in connection.take_events() if isinstance(event, CallRequested)]


def _is_open(connection: TcpConnection) -> bool:
    # A function, so that mypy does not narrow `closed` across the calls that change it.
    return not connection.closed


def _wants_data(connection: TcpConnection) -> bool:
    # A function for the same reason as _is_open.
    return connection.wants_data


def _reply(request: bytes, result: int, payload: bytes = b"") -> bytes:
    return pack_reply(unpack_header(request), result, payload)


# --- framing ---------------------------------------------------------------------------------


def test_requests_split_anywhere_and_several_per_segment_are_all_answered_in_order() -> None:
    """TCP-SRV-1, TCP-SRV-2, MSG-5: one byte at a time or three requests in one segment, same replies, in order."""
    stream = pack_request(Op.ECHO, 1, b"abc") + pack_request(Op.NOOP, 2) + pack_request(REVERSE, 3, b"xyz")
    expected = (
        _reply(pack_request(Op.ECHO, 1, b"abc"), Result.OK, b"abc")
        + _reply(pack_request(Op.NOOP, 2), Result.OK)
        + _reply(pack_request(REVERSE, 3, b"xyz"), Result.OK, b"zyx")
    )
    whole = _connection()
    whole.receive_data(stream, 0.0)
    assert whole.data_to_send() == expected
    split = _connection()
    out = b""
    for i in range(len(stream)):
        split.receive_data(stream[i : i + 1], 0.0)
        out += split.data_to_send()
    assert out == expected
    assert not whole.closed and not split.closed


def test_reply_holds_only_its_own_request_bytes() -> None:
    """SRV-14: a short ECHO after a long one, in one read or split, carries none of the long one's bytes."""
    long_request = pack_request(Op.ECHO, 1, b"L" * LIMIT)
    short_request = pack_request(Op.ECHO, 2, b"s")
    for cut in (1, HEADER_SIZE + 3, len(long_request) + 5):
        stream = long_request + short_request
        connection = _connection()
        connection.receive_data(stream[:cut], 0.0)
        connection.receive_data(stream[cut:], 0.0)
        out = connection.data_to_send()
        assert out == _reply(long_request, Result.OK, b"L" * LIMIT) + _reply(short_request, Result.OK, b"s")


def test_oversized_request_is_answered_too_large_and_closed_before_any_payload_is_buffered() -> None:
    """TCP-SRV-4, SRV-8: TOO_LARGE then close, with the payload that came along neither read nor kept."""
    header = pack_header(Header(operation=Op.ECHO, request_id=5, size=LIMIT + 1))
    connection = _connection()
    connection.receive_data(header + b"x" * 10, 0.0)
    assert connection.data_to_send() == _reply(header, Result.TOO_LARGE)
    assert connection.closed and connection.close_reason is CloseReason.PROTOCOL
    assert connection.buffered_bytes == 0
    huge = _connection()
    huge.receive_data(pack_header(Header(operation=Op.ECHO, request_id=5, size=MAX_SIZE_FIELD)), 0.0)
    assert unpack_header(huge.data_to_send()).result == Result.TOO_LARGE
    assert huge.closed


@pytest.mark.parametrize(
    ("header", "requirement"),
    [
        (Header(magic=b"XX", operation=Op.NOOP, request_id=1), "TCP-SRV-3"),
        (Header(flags=1, operation=Op.NOOP, request_id=1), "SRV-1"),
    ],
)
def test_unframeable_input_closes_without_a_reply(header: Header, requirement: str) -> None:
    """TCP-SRV-3, SRV-1: bad magic or a REPLY flag closes the connection with nothing sent."""
    connection = _connection()
    connection.receive_data(pack_header(header) + pack_request(Op.NOOP, 2), 0.0)
    assert connection.data_to_send() == b""
    assert connection.closed
    events = connection.take_events()
    assert [event.requirement for event in events if isinstance(event, Rejected)] == [requirement]
    assert [event.reason for event in events if isinstance(event, ConnectionClosed)] == [CloseReason.PROTOCOL]


def test_other_version_is_answered_then_closed() -> None:
    """SRV-2: UNSUPPORTED_VERSION, then close, because the rest of the stream cannot be framed."""
    request = pack_header(Header(version=2, operation=Op.NOOP, request_id=9))
    connection = _connection()
    connection.receive_data(request + pack_request(Op.NOOP, 2), 0.0)
    assert connection.data_to_send() == _reply(request, Result.UNSUPPORTED_VERSION)
    assert connection.closed


def test_error_reply_discards_the_payload_and_serves_the_next_request() -> None:
    """TCP-SRV-9, SRV-7: MALFORMED INCREMENT with a payload; the payload is skipped unbuffered, the next served."""
    bad = pack_header(Header(operation=Op.INCREMENT, request_id=1, size=5))
    unknown = pack_header(Header(operation=0x1234, request_id=2, size=3))
    good = pack_request(Op.ECHO, 3, b"ok")
    connection = _connection()
    dispatcher = connection._dispatcher  # the counter must not move for the MALFORMED INCREMENT
    connection.receive_data(bad + b"12", 0.0)
    assert connection.phase is Phase.DISCARD
    assert connection.buffered_bytes == 0
    connection.receive_data(b"345" + unknown + b"abc" + good, 0.5)
    assert connection.data_to_send() == (
        _reply(bad, Result.MALFORMED) + _reply(unknown, Result.UNKNOWN_OPERATION) + _reply(good, Result.OK, b"ok")
    )
    assert dispatcher.counter == 0
    assert not connection.closed


def test_failing_handler_gets_a_bare_internal_error_and_the_connection_goes_on() -> None:
    """SRV-15, SRV-13: the exception's text never reaches the wire; the next request is served."""
    failing = pack_request(FAILING, 1, b"\xde\xad")
    refused = pack_request(REFUSING, 2)
    connection = _connection()
    connection.receive_data(failing + refused + pack_request(Op.INCREMENT, 3), 0.0)
    out = connection.data_to_send()
    assert out[:HEADER_SIZE] == _reply(failing, Result.INTERNAL_ERROR)
    assert out[HEADER_SIZE : 2 * HEADER_SIZE] == _reply(refused, 0x8123)
    assert out[2 * HEADER_SIZE :] == _reply(pack_request(Op.INCREMENT, 3), Result.OK, (1).to_bytes(COUNTER_SIZE, "big"))
    assert b"secret" not in out and b"dead" not in out
    (failed,) = [event for event in connection.take_events() if isinstance(event, HandlerFailed)]
    assert failed.operation == FAILING and isinstance(failed.error, RuntimeError), "the operator hears of it"


def test_async_handler_reply_keeps_its_place_in_line() -> None:
    """TCP-SRV-2: a later sync reply waits for the earlier async one."""
    first = pack_request(ASYNC, 1, b"slow")
    second = pack_request(Op.ECHO, 2, b"fast")
    connection = _connection()
    connection.receive_data(first + second, 0.0)
    assert connection.data_to_send() == b""
    (call,) = _calls(connection)
    assert (call.operation, call.request_id, call.payload) == (ASYNC, 1, b"slow")
    assert connection.get_timer() is None, "a handler is working: no idle timeout"
    connection.complete(call, b"slow", None, 0.2)
    assert connection.data_to_send() == _reply(first, Result.OK, b"slow") + _reply(second, Result.OK, b"fast")
    assert connection.get_timer() == 0.2 + IDLE


def _finish_next(connection: TcpConnection, calls: deque[CallRequested], now: float) -> None:
    """Finish the oldest call, answering its request ID as 8 bytes."""
    call = calls.popleft()
    connection.complete(call, _id_bytes(call.request_id), None, now)


def _id_bytes(request_id: int) -> bytes:
    return request_id.to_bytes(8, "big")


def test_unanswered_requests_are_bounded_and_the_rest_waits_in_order() -> None:
    """TCP-SRV-2: pipelined requests to a slow async handler start at most max_unanswered_requests coroutines.

    The rest stays buffered, unparsed, while ``wants_data`` tells the adapter to stop
    reading; each finished call lets the next one start, and every reply leaves in order.
    """
    limit = 3
    requests = [pack_request(ASYNC, n, b"") for n in range(1, 9)]
    connection = _connection(settings=ServerSettings(tcp_max_payload=LIMIT, max_unanswered_requests=limit))
    connection.receive_data(b"".join(requests), 0.0)
    calls = deque(_calls(connection))
    assert len(calls) == limit and connection.calls_in_progress == limit
    assert not connection.wants_data
    assert connection.buffered_bytes == (len(requests) - limit) * HEADER_SIZE
    assert connection.get_timer() is None, "waiting on our own handler: no deadline runs against the peer"
    sent = b""
    while calls:
        _finish_next(connection, calls, 1.0)
        calls.extend(_calls(connection))
        assert connection.calls_in_progress <= limit
        sent += connection.data_to_send()
    assert sent == b"".join(_reply(r, Result.OK, _id_bytes(unpack_header(r).request_id)) for r in requests)
    assert _wants_data(connection) and connection.buffered_bytes == 0


def test_queued_sync_replies_count_against_the_bound_too() -> None:
    """TCP-SRV-2: NOOPs queued behind a slow call fill the bound, so replies cannot pile up either."""
    limit = 4
    slow = pack_request(ASYNC, 1, b"")
    noops = [pack_request(Op.NOOP, n) for n in range(2, 12)]
    connection = _connection(settings=ServerSettings(tcp_max_payload=LIMIT, max_unanswered_requests=limit))
    connection.receive_data(slow + b"".join(noops), 0.0)
    calls = deque(_calls(connection))
    assert not connection.wants_data
    assert connection.buffered_bytes == (len(noops) - (limit - 1)) * HEADER_SIZE
    _finish_next(connection, calls, 1.0)
    assert connection.data_to_send() == _reply(slow, Result.OK, _id_bytes(1)) + b"".join(
        _reply(n, Result.OK) for n in noops
    )


def test_end_of_stream_while_paused_answers_what_was_buffered_then_closes() -> None:
    """TCP-SRV-1: whole requests buffered behind the bound are answered after the peer's FIN; half a one is not."""
    requests = [pack_request(ASYNC, n, b"") for n in range(1, 4)]
    partial = pack_request(Op.ECHO, 9, b"never finished")[:25]
    connection = _connection(settings=ServerSettings(tcp_max_payload=LIMIT, max_unanswered_requests=1))
    connection.receive_data(b"".join(requests) + partial, 0.0)
    connection.receive_data(b"", 0.1)
    calls = deque(_calls(connection))
    assert _is_open(connection), "a handler is still answering"
    while calls:
        _finish_next(connection, calls, 1.0)
        calls.extend(_calls(connection))
    expected = b"".join(_reply(r, Result.OK, _id_bytes(unpack_header(r).request_id)) for r in requests)
    assert connection.data_to_send() == expected
    assert connection.closed and connection.close_reason is CloseReason.PEER


# --- time ----------------------------------------------------------------------------------------


def test_whole_request_deadline_counts_from_the_first_byte_and_ignores_later_bytes() -> None:
    """TCP-SRV-5: a slow drip (one byte every 0.3 s) keeps the deadline of its first byte, then gets TIMEOUT."""
    request = pack_request(Op.ECHO, 7, b"0123456789")
    connection = _connection(now=10.0)
    now = 10.0
    connection.receive_data(request[:1], now)
    for byte in request[1:4]:
        now += 0.3
        connection.receive_data(bytes([byte]), now)
        assert connection.get_timer() == 10.0 + DEADLINE
    connection.handle_timer(10.0 + DEADLINE - 0.001)
    assert _is_open(connection)
    connection.handle_timer(10.0 + DEADLINE)
    assert connection.closed and connection.close_reason is CloseReason.REQUEST_DEADLINE
    assert connection.data_to_send() == b"", "the header never arrived, so there is nothing to answer"


def test_short_request_gets_timeout_then_close_at_the_deadline() -> None:
    """TCP-SRV-5: the header says 100 bytes, 10 arrive; at the deadline TIMEOUT is sent and the connection closed."""
    header = pack_header(Header(operation=Op.ECHO, request_id=11, size=50))
    connection = _connection()
    connection.receive_data(header + b"x" * 10, 2.0)
    assert connection.phase is Phase.PAYLOAD
    assert connection.get_timer() == 2.0 + DEADLINE
    connection.handle_timer(2.0 + DEADLINE)
    assert connection.data_to_send() == _reply(header, Result.TIMEOUT)
    assert connection.closed
    closes = [event.reason for event in connection.take_events() if isinstance(event, ConnectionClosed)]
    assert closes == [CloseReason.REQUEST_DEADLINE]


def test_idle_connection_is_closed_after_the_idle_timeout() -> None:
    """TCP-SRV-6: the idle timeout runs from accept and from the end of each request, and closes silently."""
    connection = _connection(now=0.0)
    assert connection.get_timer() == IDLE, "a fresh connection that never sends is idle too"
    connection.receive_data(pack_request(Op.NOOP, 1), 2.0)
    connection.data_to_send()
    assert connection.get_timer() == 2.0 + IDLE
    connection.handle_timer(2.0 + IDLE - 0.01)
    assert _is_open(connection)
    connection.handle_timer(2.0 + IDLE)
    assert connection.closed and connection.close_reason is CloseReason.IDLE
    assert connection.data_to_send() == b""


def test_busy_connection_answers_busy_to_its_first_header_and_closes() -> None:
    """TCP-SRV-15 (second form), TCP-SRV-7: over the limits, the first header gets BUSY with its ID, then a close;
    a connection that sends no header within the request deadline from accept is closed without a reply."""
    connection = _connection(now=5.0, busy=True)
    assert connection.get_timer() == 5.0 + DEADLINE, "TCP-SRV-11: the clock runs from accept"
    request = pack_request(Op.ECHO, 4, b"hi")
    connection.receive_data(request, 5.1)
    assert connection.data_to_send() == _reply(request, Result.BUSY)
    assert connection.closed and connection.close_reason is CloseReason.BUSY
    silent = _connection(now=5.0, busy=True)
    silent.handle_timer(5.0 + DEADLINE)
    assert silent.closed and silent.data_to_send() == b""
    dispatcher = _dispatcher()
    unread = TcpConnection(SETTINGS, dispatcher, 5.0, busy=True)
    unread.receive_data(pack_request(Op.INCREMENT, 5), 5.1)
    assert unpack_header(unread.data_to_send()).result == Result.BUSY
    assert unread.closed and dispatcher.counter == 0, "never carried out"


def test_end_of_stream_mid_request_closes_and_shutdown_waits_for_the_request_in_progress() -> None:
    """TCP-SRV-5 (no request outlives its stream) and graceful shutdown: finish what started, then close."""
    connection = _connection()
    connection.receive_data(pack_request(Op.ECHO, 1, b"ab")[:5], 0.0)
    connection.receive_data(b"", 0.1)
    assert connection.closed and connection.close_reason is CloseReason.PEER
    draining = _connection()
    request = pack_request(Op.ECHO, 1, b"ab")
    draining.receive_data(request[:5], 0.0)
    draining.shutdown(0.1)
    assert _is_open(draining)
    draining.receive_data(request[5:] + pack_request(Op.NOOP, 2), 0.2)
    assert draining.data_to_send() == _reply(request, Result.OK, b"ab"), "the pipelined NOOP is not started"
    assert draining.closed and draining.close_reason is CloseReason.SHUTDOWN


# --- the same input whole and split ------------------------------------------------------------


_messages = st.one_of(
    st.builds(
        pack_request,
        st.sampled_from([Op.NOOP, Op.ECHO, REVERSE, FAILING, 0x1234]),
        st.integers(1, 2**64 - 1),
        st.binary(max_size=LIMIT),
    ),
    st.binary(min_size=HEADER_SIZE, max_size=HEADER_SIZE + 8),
)


@settings(max_examples=150, deadline=None)
@given(messages=st.lists(_messages, max_size=6), cuts=st.lists(st.integers(0, 600), max_size=12))
def test_whole_and_split_feeding_give_identical_output(messages: list[bytes], cuts: list[int]) -> None:
    """TCP-SRV-1: however the stream is cut into reads, the replies and the close are the same."""
    stream = b"".join(messages)
    points = sorted({c for c in cuts if 0 < c < len(stream)})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    whole = _connection()
    whole.receive_data(stream, 0.0)
    split = _connection()
    out = b""
    for chunk in chunks:
        split.receive_data(chunk, 0.0)
        out += split.data_to_send()
    assert out == whole.data_to_send()
    assert split.closed == whole.closed
    assert split.buffered_bytes == whole.buffered_bytes


# --- the state machine -------------------------------------------------------------------------


def _oracle_payload(operation: int, payload: bytes, counter: list[int]) -> tuple[int, bytes]:
    if operation == Op.ECHO:
        return Result.OK, payload
    if operation == Op.NOOP:
        return Result.OK, b""
    if operation == Op.INCREMENT:
        counter[0] += 1
        return Result.OK, counter[0].to_bytes(COUNTER_SIZE, "big")
    if operation == REVERSE:
        return Result.OK, payload[::-1]
    if operation == FAILING:
        return Result.INTERNAL_ERROR, b""
    if operation == REFUSING:
        return 0x8123, b""
    return Result.UNKNOWN_OPERATION, b""


@dataclass
class _Message:
    """One message the model has queued, and what the server must do with it."""

    data: bytes
    delivered: int = 0
    first_byte_at: float | None = None
    header_judged: bool = False
    valid: bool = False
    discard: bool = False
    events: list[str] = field(default_factory=list)


class TcpCoreMachine(RuleBasedStateMachine):
    """Random messages (valid, garbage, oversized), cut into random reads, with time advancing at random.

    The model frames the stream itself and judges each header with the spec's
    check_request, so it knows every reply the core must send and when it must close.
    """

    @initialize()
    def start(self) -> None:
        self.now = 0.0
        self.dispatcher = _dispatcher()
        self.dispatcher.unregister(ASYNC)
        self.conn = TcpConnection(SETTINGS, self.dispatcher, 0.0)
        self.queue: deque[_Message] = deque()
        self.expected = bytearray()
        self.received = bytearray()
        self.closed = False
        self.idle_since = 0.0
        self.counter = [0]

    # Messages are queued here and delivered by `deliver`, so that their bytes can be cut anywhere.
    @rule(
        operation=st.sampled_from([Op.NOOP, Op.ECHO, Op.INCREMENT, REVERSE, FAILING, REFUSING]),
        request_id=st.integers(1, 2**64 - 1),
        payload=st.binary(max_size=LIMIT),
    )
    def queue_valid_request(self, operation: int, request_id: int, payload: bytes) -> None:
        if operation == Op.INCREMENT:
            payload = b""
        self.queue.append(_Message(pack_request(operation, request_id, payload)))

    @rule(header=st.binary(min_size=HEADER_SIZE, max_size=HEADER_SIZE), tail=st.binary(max_size=LIMIT))
    def queue_garbage(self, header: bytes, tail: bytes) -> None:
        size = unpack_header(header).size
        payload = (tail * (size // max(len(tail), 1) + 1))[:size] if size <= LIMIT and tail else tail
        if size <= LIMIT and len(payload) < size:
            payload = bytes(size)
        self.queue.append(_Message(header + payload))

    @rule(
        version=st.sampled_from([1, 1, 1, 0, 2]),
        flags=st.sampled_from([0, 0, 0, 1, 2, 0x80]),
        operation=st.one_of(st.sampled_from([Op.NOOP, Op.ECHO, Op.INCREMENT]), st.integers(0, MAX_CODE)),
        result=st.sampled_from([0, 0, 0, 1, MAX_CODE]),
        request_id=st.sampled_from([0, 1, 2**64 - 1]),
        payload=st.binary(max_size=LIMIT),
    )
    def queue_framed_request(
        self, version: int, flags: int, operation: int, result: int, request_id: int, payload: bytes
    ) -> None:
        """A well-framed request whose fields may break any rule judged from the header."""
        header = Header(
            version=version, flags=flags, operation=operation, result=result, request_id=request_id, size=len(payload)
        )
        self.queue.append(_Message(pack_header(header) + payload))

    @rule(size=st.integers(LIMIT + 1, MAX_SIZE_FIELD), tail=st.binary(max_size=16))
    def queue_oversized(self, size: int, tail: bytes) -> None:
        self.queue.append(_Message(pack_header(Header(operation=Op.ECHO, request_id=1, size=size)) + tail))

    @precondition(lambda self: self.queue)
    @rule(count=st.one_of(st.integers(1, 8), st.integers(1, 200)))
    def deliver(self, count: int) -> None:
        chunk = bytearray()
        while count and self.queue:
            message = self.queue[0]
            take = min(count, len(message.data) - message.delivered)
            chunk += message.data[message.delivered : message.delivered + take]
            count -= take
            self._model_receive(message, take)
            if message.delivered == len(message.data):
                self.queue.popleft()
        self.conn.receive_data(bytes(chunk), self.now)
        self.received += self.conn.data_to_send()

    @rule(step=st.one_of(st.floats(0.0, 0.5), st.floats(0.0, 4.0)))
    def advance(self, step: float) -> None:
        self.now += step
        deadline = self.conn.get_timer()
        if deadline is not None and self.now >= deadline:
            self._model_timer()
            self.conn.handle_timer(self.now)
            self.received += self.conn.data_to_send()

    @rule()
    def end_of_stream(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.clear()
        self.conn.receive_data(b"", self.now)

    # --- the model --------------------------------------------------------------------------

    def _current(self) -> _Message | None:
        for message in self.queue:
            if 0 < message.delivered < len(message.data):
                return message
        return None

    def _model_receive(self, message: _Message, count: int) -> None:
        if self.closed:
            message.delivered += count
            return
        if message.delivered == 0 and count:
            message.first_byte_at = self.now
        message.delivered += count
        if not message.header_judged and message.delivered >= HEADER_SIZE:
            message.header_judged = True
            header = unpack_header(message.data)
            try:
                check_request(header, transport=Transport.TCP, max_payload=LIMIT)
            except ProtocolViolation as violation:
                if violation.action is Action.REPLY:
                    assert violation.result is not None
                    self.expected += pack_reply(header, violation.result)
                if violation.action is Action.CLOSE or violation.close_after:
                    self.closed = True
                    return
                message.discard = True
            else:
                message.valid = True
        if message.header_judged and message.delivered == len(message.data):
            if message.valid:
                header = unpack_header(message.data)
                result, payload = _oracle_payload(header.operation, message.data[HEADER_SIZE:], self.counter)
                self.expected += pack_reply(header, result, payload)
            self.idle_since = self.now

    def _model_timer(self) -> None:
        if self.closed:
            return
        current = self._current()
        if current is not None:
            assert current.first_byte_at is not None
            assert self.now >= current.first_byte_at + DEADLINE
            if current.valid:
                self.expected += pack_reply(unpack_header(current.data), Result.TIMEOUT)
        else:
            assert self.now >= self.idle_since + IDLE
        self.closed = True

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def buffer_is_bounded(self) -> None:
        assert self.conn.buffered_bytes <= HEADER_SIZE + LIMIT

    @invariant()
    def replies_are_exactly_the_expected_bytes(self) -> None:
        # SRV-14 and TCP-SRV-2: every reply byte is the one the model expects, in order, so no
        # reply carries bytes of another request.
        assert bytes(self.received) == bytes(self.expected)

    @invariant()
    def closes_exactly_when_expected(self) -> None:
        assert self.conn.closed == self.closed

    @invariant()
    def incomplete_request_deadline_is_bounded_by_its_first_byte(self) -> None:
        # TCP-SRV-5: never later than first byte + deadline, whatever arrived since.
        if self.closed:
            return
        current = self._current()
        timer = self.conn.get_timer()
        if current is not None:
            assert current.first_byte_at is not None and timer is not None
            assert timer <= current.first_byte_at + DEADLINE
            assert self.now < current.first_byte_at + DEADLINE or timer <= self.now

    @invariant()
    def increment_runs_once_per_request(self) -> None:
        assert self.dispatcher.counter == self.counter[0]


TcpCoreMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_tcp_core_state_machine = TcpCoreMachine.TestCase
test_tcp_core_state_machine.__doc__ = (
    "TCP-SRV-1, TCP-SRV-2, TCP-SRV-4, TCP-SRV-5, TCP-SRV-6, TCP-SRV-9, SRV-14: random streams, reads and time."
)


def test_the_tally_comes_in_bulk_and_nothing_is_left_out_at_the_close() -> None:
    """Counters observe every request and reply, TALLY_EVERY at a time on a quiet connection, the rest at the close."""
    connection = _connection()
    connection.take_events()  # ConnectionOpened
    counters = ServerCounters()
    for n in range(1, TALLY_EVERY + 6):
        connection.receive_data(pack_request(Op.NOOP, n), 0.0)
        connection.data_to_send()
        events = connection.take_events()
        assert len(events) == (1 if n == TALLY_EVERY else 0), "one Tally per TALLY_EVERY replies, nothing between"
        counters.observe(events)
    assert counters.replies[Result.OK] == TALLY_EVERY
    connection.receive_data(b"", 1.0)
    counters.observe(connection.take_events())
    assert counters.requests[Op.NOOP] == counters.replies[Result.OK] == TALLY_EVERY + 5
    assert counters.closes[CloseReason.PEER] == 1
