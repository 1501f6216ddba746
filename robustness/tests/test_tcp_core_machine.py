"""python-ref's TCP server core (sans-IO) under random interleavings of bytes, end of stream and time.

:class:`rrp_robustness.judged_tcp.JudgedTcpConnection` does the driving and the judging
against ``rrp_spec.check_request``'s verdicts over the stream; after every step the core
has sent exactly the replies the spec calls for, is closed exactly when the spec closes,
buffers at most one header plus one payload within the limit, and its timer is the
whole-request deadline (from the request's first byte) or the idle timeout, which it
never outlives. A second test feeds the same streams whole and byte by byte and
compares every event.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rrp import ServerSettings, TcpConnection
from rrp._sansio.dispatch import Dispatcher
from rrp_robustness.judged_tcp import JudgedTcpConnection
from rrp_spec import (
    APPLICATION_RANGE_START,
    DEFAULT_IDLE_TIMEOUT,
    HEADER_SIZE,
    MAX_CODE,
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

operations = st.sampled_from(
    [
        int(Op.NOOP),
        int(Op.ECHO),
        int(Op.INCREMENT),
        0x0003,
        APPLICATION_RANGE_START - 1,
        APPLICATION_RANGE_START,
        MAX_CODE,
    ]
)
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


class TcpCoreMachine(RuleBasedStateMachine):
    """One connection (a fresh one after each close), judged against the spec after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.judged = JudgedTcpConnection(SETTINGS, now=START)

    @initialize(busy=st.booleans())
    def open_connection(self, busy: bool) -> None:
        self.judged = JudgedTcpConnection(SETTINGS, busy=busy, now=START)

    @rule(data=valid_requests())
    def send_valid_request(self, data: bytes) -> None:
        self.judged.feed(data)

    @rule(data=valid_requests(), cut=st.integers(1, HEADER_SIZE - 1))
    def send_partial_header(self, data: bytes, cut: int) -> None:
        self.judged.feed(data[:cut])

    @rule(data=huge_size_claims())
    def send_huge_size(self, data: bytes) -> None:
        self.judged.feed(data)

    @rule(data=odd_headers())
    def send_odd_header(self, data: bytes) -> None:
        self.judged.feed(data)

    @rule(data=st.binary(min_size=1, max_size=64))
    def send_garbage(self, data: bytes) -> None:
        self.judged.feed(data)

    @precondition(lambda self: not self.judged.core.closed)
    @rule()
    def finish_pending_payload(self) -> None:
        verdict = self.judged.verdict()
        if verdict.pending_header is not None:
            missing = verdict.pending_start + HEADER_SIZE + verdict.pending_header.size - len(self.judged.stream)
            self.judged.feed(b"p" * missing)

    @rule(data=valid_requests())
    def close_mid_payload(self, data: bytes) -> None:
        """Part of a request, then the end of the stream: the server closes without a reply."""
        self.judged.feed(data[: max(1, len(data) - 1)])
        self.judged.end_of_stream()

    @rule()
    def peer_closes(self) -> None:
        self.judged.end_of_stream()

    @rule(seconds=st.sampled_from([0.0, 0.001, 0.5, 1.0, 1.999, 2.0, 2.001, 5.0, 9.999, 10.0, 10.5]))
    def advance_time(self, seconds: float) -> None:
        self.judged.advance(seconds)

    @rule()
    def stay_idle(self) -> None:
        self.judged.advance(DEFAULT_IDLE_TIMEOUT + 1)

    @invariant()
    def judged_after_every_step(self) -> None:
        self.judged.check()


TcpCoreMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_tcp_core_machine = TcpCoreMachine.TestCase


def _run(chunks_: list[bytes], *, byte_by_byte: bool, busy: bool) -> tuple[bytes, bool, int, float | None]:
    core = TcpConnection(SETTINGS, Dispatcher(), START, busy=busy)
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
    core = TcpConnection(SETTINGS, Dispatcher(), START)
    header = Header(operation=int(Op.ECHO), request_id=7, size=5)
    core.receive_data(pack_request(Op.ECHO, 7, b"hello"), START)
    assert core.data_to_send() == pack_reply(header, Result.OK, b"hello")
    assert not core.closed
    assert core.get_timer() == START + DEFAULT_IDLE_TIMEOUT
