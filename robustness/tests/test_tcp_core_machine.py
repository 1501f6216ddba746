"""python-ref's TCP server core (sans-IO) under random interleavings of bytes, end of stream and time.

The oracle is :func:`rrp_robustness.oracle.judge_stream`, i.e. ``rrp_spec.check_request``'s
verdicts over the stream. Invariants after every step: the core has sent exactly the
replies the spec calls for, is closed exactly when the spec closes, buffers at most one
header plus one payload within the limit, and its timer is the whole-request deadline
(from the request's first byte) or the idle timeout, which it never outlives. A second
test feeds the same streams whole and byte by byte and compares every event.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rrp import Dispatcher, ServerCounters, ServerSettings, TcpConnection
from rrp_robustness.oracle import judge_stream
from rrp_spec import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_REQUEST_DEADLINE,
    HEADER_SIZE,
    MAX_SIZE_FIELD,
    Flag,
    Header,
    Op,
    Result,
    pack_header,
    pack_reply,
    pack_request,
)

#: A small payload limit, so that requests at and over it are cheap to generate.
LIMIT = 64
SETTINGS = ServerSettings(tcp_max_payload=LIMIT)
START = 1000.0

operations = st.sampled_from([int(Op.NOOP), int(Op.ECHO), int(Op.INCREMENT), 0x0003, 0x7FFF, 0x8000, 0xFFFF])
request_ids = st.integers(0, 2**64 - 1)
payloads = st.binary(max_size=LIMIT)


@st.composite
def valid_requests(draw: st.DrawFn) -> bytes:
    """A request the spec carries out (INCREMENT without a payload)."""
    operation = draw(st.sampled_from([Op.NOOP, Op.ECHO, Op.INCREMENT]))
    payload = draw(payloads) if operation is Op.ECHO else b""
    return pack_request(operation, draw(st.integers(1, 2**64 - 1)), payload)


@st.composite
def odd_headers(draw: st.DrawFn) -> bytes:
    """Headers with any field wrong (or right), followed by a payload as long as the header claims, or less."""
    size = draw(st.integers(0, LIMIT + 2))
    header = Header(
        magic=draw(st.sampled_from([b"RR", b"RR", b"RS", b"\x00\x00"])),
        version=draw(st.sampled_from([1, 1, 1, 0, 2])),
        flags=draw(st.sampled_from([0, 0, 0, int(Flag.REPLY), 0x02, 0x80])),
        operation=draw(operations),
        result=draw(st.sampled_from([0, 0, 0, 1])),
        request_id=draw(request_ids),
        size=size,
    )
    return pack_header(header) + draw(st.binary(min_size=0, max_size=size))


@st.composite
def huge_size_claims(draw: st.DrawFn) -> bytes:
    header = Header(operation=int(Op.ECHO), request_id=draw(st.integers(1, 2**64 - 1)))
    size = draw(st.integers(LIMIT + 1, MAX_SIZE_FIELD))
    return pack_header(Header(operation=header.operation, request_id=header.request_id, size=size))


#: Anything a peer may send as one write.
chunks = st.one_of(
    valid_requests(),
    valid_requests().map(lambda r: r[: len(r) // 2]),
    odd_headers(),
    huge_size_claims(),
    st.binary(min_size=1, max_size=40),
)


def is_closed(core: TcpConnection) -> bool:
    """The core's ``closed``, read afresh (a plain attribute read would stay narrowed for mypy after a call)."""
    return core.closed


class TcpCoreMachine(RuleBasedStateMachine):
    """One connection, driven the way the asyncio adapter drives it, judged against the spec after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.busy = False
        self.connections = 0
        self._open()

    def _open(self) -> None:
        """A fresh connection accepted at ``now``: the model of the stream starts over."""
        self.connections += 1
        self.opened = self.now
        self.core = TcpConnection(SETTINGS, Dispatcher(), ServerCounters(), self.now, busy=self.busy)
        self.stream = bytearray()
        self.arrivals: list[tuple[int, float]] = []
        self.output = bytearray()
        #: Set when time or the end of stream closed the connection: the stream verdict stops there.
        self.closed_at_stream_length: int | None = None
        self.timeout_reply = b""

    @initialize(busy=st.booleans())
    def open_connection(self, busy: bool) -> None:
        self.busy = busy
        self._open()

    # --- the peer's moves ------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        if self.core.closed:
            # A closed connection ignores what still arrives; the peer then connects again.
            self.core.receive_data(data, self.now)
            assert self.core.data_to_send() == b"", "a closed connection sent bytes"
            assert self.core.get_timer() is None
            self._open()
        self.arrivals.append((len(self.stream), self.now))
        self.stream += data
        self.core.receive_data(data, self.now)
        self.output += self.core.data_to_send()

    @rule(data=valid_requests())
    def send_valid_request(self, data: bytes) -> None:
        self._feed(data)

    @rule(data=valid_requests(), cut=st.integers(1, HEADER_SIZE - 1))
    def send_partial_header(self, data: bytes, cut: int) -> None:
        self._feed(data[:cut])

    @rule(data=huge_size_claims())
    def send_huge_size(self, data: bytes) -> None:
        self._feed(data)

    @rule(data=odd_headers())
    def send_odd_header(self, data: bytes) -> None:
        self._feed(data)

    @rule(data=st.binary(min_size=1, max_size=64))
    def send_garbage(self, data: bytes) -> None:
        self._feed(data)

    @precondition(lambda self: not self.core.closed)
    @rule()
    def finish_pending_payload(self) -> None:
        verdict = judge_stream(bytes(self.stream), max_payload=LIMIT, busy=self.busy)
        if verdict.pending_header is not None:
            missing = verdict.pending_start + HEADER_SIZE + verdict.pending_header.size - len(self.stream)
            self._feed(b"p" * missing)

    @rule(data=valid_requests())
    def close_mid_payload(self, data: bytes) -> None:
        """Half a request, then the end of the stream: the server closes without a reply."""
        self._feed(data[: max(1, len(data) - 1)])
        self._eof()

    @rule()
    def peer_closes(self) -> None:
        self._eof()

    def _eof(self) -> None:
        if self.core.closed:
            self._open()
        was_closed = self.core.closed
        self.core.receive_data(b"", self.now)
        assert self.core.data_to_send() == b"", "the end of the stream produced a reply"
        assert self.core.closed, "the server kept a connection whose peer has closed (no handler was running)"
        if not was_closed and self.closed_at_stream_length is None:
            self.closed_at_stream_length = len(self.stream)

    @rule(seconds=st.sampled_from([0.0, 0.001, 0.5, 1.0, 1.999, 2.0, 2.001, 5.0, 9.999, 10.0, 10.5]))
    def advance_time(self, seconds: float) -> None:
        self._advance(seconds)

    @rule()
    def stay_idle(self) -> None:
        self._advance(DEFAULT_IDLE_TIMEOUT + 1)

    def _advance(self, seconds: float) -> None:
        """Move the clock, firing the core's timer at its deadline, as the adapter's ``call_at`` does."""
        target = self.now + seconds
        while not self.core.closed:
            deadline = self.core.get_timer()
            if deadline is None or deadline > target:
                break
            expected_deadline = self._expected_deadline()
            self.now = max(self.now, deadline)
            verdict = judge_stream(bytes(self.stream), max_payload=LIMIT, busy=self.busy)
            self.core.handle_timer(self.now)
            out = self.core.data_to_send()
            assert is_closed(self.core), f"the deadline {deadline} passed and the connection is still open"
            assert deadline == expected_deadline
            if out:
                # TCP-SRV-5: TIMEOUT is allowed once the request's header has arrived, and nothing else.
                assert verdict.pending_header is not None and not self.busy
                assert out == pack_reply(verdict.pending_header, Result.TIMEOUT)
            self.output += out
            self.timeout_reply = out
            self.closed_at_stream_length = len(self.stream)
        self.now = target

    # --- the invariants --------------------------------------------------------------

    def _arrival_time(self, offset: int) -> float:
        """When the byte at ``offset`` of the stream arrived."""
        when = self.arrivals[0][1] if self.arrivals else self.opened
        for start, at in self.arrivals:
            if start > offset:
                break
            when = at
        return when

    def _expected_deadline(self) -> float:
        verdict = judge_stream(bytes(self.stream), max_payload=LIMIT, busy=self.busy)
        if self.busy:
            return self.opened + DEFAULT_REQUEST_DEADLINE  # an over-limit connection's clock starts at accept
        if verdict.pending_start < len(self.stream):
            return self._arrival_time(verdict.pending_start) + DEFAULT_REQUEST_DEADLINE
        idle_since = self._arrival_time(verdict.completed_end - 1) if verdict.completed_end else self.opened
        return idle_since + DEFAULT_IDLE_TIMEOUT

    @invariant()
    def replies_are_the_specs(self) -> None:
        verdict = judge_stream(bytes(self.stream), max_payload=LIMIT, busy=self.busy)
        expected = b"".join(verdict.replies) + self.timeout_reply
        assert bytes(self.output) == expected
        if self.closed_at_stream_length is None:
            assert self.core.closed == verdict.closed
        else:
            assert self.core.closed

    @invariant()
    def buffer_is_bounded(self) -> None:
        assert self.core.buffered_bytes <= HEADER_SIZE + LIMIT

    @invariant()
    def timer_is_the_deadline(self) -> None:
        if self.core.closed:
            assert self.core.get_timer() is None
            return
        assert self.core.get_timer() == self._expected_deadline()


TcpCoreMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_tcp_core_machine = TcpCoreMachine.TestCase


def _run(chunks_: list[bytes], *, byte_by_byte: bool, busy: bool) -> tuple[bytes, bool, int, float | None]:
    core = TcpConnection(SETTINGS, Dispatcher(), ServerCounters(), START, busy=busy)
    out = bytearray()
    for chunk in chunks_:
        pieces = [chunk[i : i + 1] for i in range(len(chunk))] if byte_by_byte else [chunk]
        for piece in pieces:
            core.receive_data(piece, START)
            out += core.data_to_send()
    return bytes(out), core.closed, core.buffered_bytes, core.get_timer()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(chunks, max_size=8), st.booleans())
def test_whole_and_byte_by_byte_give_the_same_events(chunks_: list[bytes], busy: bool) -> None:
    """TCP-SRV-1: however the stream is split, the replies, the close, the buffer and the timer are the same."""
    assert _run(chunks_, byte_by_byte=False, busy=busy) == _run(chunks_, byte_by_byte=True, busy=busy)


def test_a_valid_request_that_arrives_whole_is_answered() -> None:
    """The plainest case, spelled out: one ECHO in one write gets its reply at once and the connection stays."""
    core = TcpConnection(SETTINGS, Dispatcher(), ServerCounters(), START)
    header = Header(operation=int(Op.ECHO), request_id=7, size=5)
    core.receive_data(pack_request(Op.ECHO, 7, b"hello"), START)
    assert core.data_to_send() == pack_reply(header, Result.OK, b"hello")
    assert not core.closed
    assert core.get_timer() == START + DEFAULT_IDLE_TIMEOUT
