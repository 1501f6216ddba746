"""The TCP reply reader: reassembly from any split, matching, and clean errors (sans-IO)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rrp._sansio.client_errors import ConnectionClosed, ReplyRejected
from rrp._sansio.tcp_reply_reader import TcpReplyReader
from rrp_spec import HEADER_SIZE, UNSOLICITED_BUSY, Flag, Header, Message, Op, Result, pack_header, pack_reply

REQUEST = Header(operation=Op.ECHO, request_id=0xFEDC_BA98_7654_3210, size=5)
REPLY = pack_reply(REQUEST, Result.OK, b"hello")


def reader_for(*requests: Header, max_payload: int = 1 << 20) -> TcpReplyReader:
    reader = TcpReplyReader(max_payload)
    for request in requests:
        reader.expect(request)
    return reader


def feed_in_pieces(data: bytes, cuts: list[int], reader: TcpReplyReader) -> list[Message]:
    replies = []
    bounds = [0, *sorted(set(cuts)), len(data)]
    for start, end in itertools.pairwise(bounds):
        if end > start:
            reader.receive_data(data[start:end])
        while (message := reader.next_reply()) is not None:
            replies.append(message)
    return replies


def test_a_reply_fed_byte_by_byte_equals_the_reply_fed_at_once() -> None:
    """TCP-CLI-1: short reads are normal; one byte at a time gives the same reply as one read."""
    whole = reader_for(REQUEST)
    whole.receive_data(REPLY)
    at_once = whole.next_reply()
    drip = reader_for(REQUEST)
    results = []
    for i in range(len(REPLY)):
        assert drip.next_reply() is None
        drip.receive_data(REPLY[i : i + 1])
        results.append(drip.next_reply())
    assert results[:-1] == [None] * (len(REPLY) - 1)
    assert results[-1] == at_once
    assert at_once is not None and at_once.payload == b"hello"


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, 2 * len(REPLY)), max_size=10))
def test_any_split_of_two_pipelined_replies_gives_both_in_order(cuts: list[int]) -> None:
    """TCP-CLI-1: however the stream is cut, both replies come out whole and in request order."""
    second = Header(operation=Op.INCREMENT, request_id=7)
    stream = REPLY + pack_reply(second, Result.OK, (9).to_bytes(8, "big"))
    replies = feed_in_pieces(stream, [c for c in cuts if c <= len(stream)], reader_for(REQUEST, second))
    assert [(r.header.request_id, r.payload) for r in replies] == [
        (REQUEST.request_id, b"hello"),
        (7, (9).to_bytes(8, "big")),
    ]


@pytest.mark.parametrize(
    ("reply", "requirement"),
    [
        (pack_reply(Header(operation=Op.ECHO, request_id=REQUEST.request_id ^ 1), Result.OK, b"hello"), "SRV-12"),
        (pack_reply(Header(operation=Op.NOOP, request_id=REQUEST.request_id), Result.OK), "SRV-12"),
        (pack_header(Header(operation=Op.ECHO, request_id=REQUEST.request_id, size=5)) + b"hello", "SRV-12"),
        (pack_header(Header(operation=Op.ECHO, request_id=REQUEST.request_id, flags=0x81, size=0)), "MSG-3"),
        (pack_header(Header(magic=b"XX", operation=Op.ECHO, request_id=REQUEST.request_id, flags=1)), "MSG-2"),
    ],
    ids=["wrong-id", "wrong-operation", "not-a-reply", "reserved-flag", "bad-magic"],
)
def test_a_mismatched_reply_is_an_error_as_soon_as_its_header_arrives(reply: bytes, requirement: str) -> None:
    """TCP-CLI-3, CLI-3: a reply that does not answer our request is rejected before its payload is read."""
    reader = reader_for(REQUEST)
    reader.receive_data(reply[:HEADER_SIZE])
    with pytest.raises(ReplyRejected) as caught:
        reader.next_reply()
    assert caught.value.requirement == requirement
    assert str(caught.value).startswith("server sent an unacceptable reply (")
    with pytest.raises(ReplyRejected):  # the reader stays failed: the connection cannot be trusted any more
        reader.next_reply()


def test_an_error_reply_with_a_payload_is_rejected() -> None:
    """CLI-3: an error reply must be a bare header (SRV-13); one with a payload is not accepted."""
    reader = reader_for(REQUEST)
    reader.receive_data(
        pack_header(
            Header(operation=Op.ECHO, request_id=REQUEST.request_id, flags=Flag.REPLY, result=Result.MALFORMED, size=4)
        )
        + b"leak"
    )
    with pytest.raises(ReplyRejected, match="SRV-13"):
        reader.next_reply()


def test_an_oversized_reply_is_rejected_without_buffering_it() -> None:
    """TCP-CLI-1: a header announcing more than the client accepts is refused at once."""
    reader = reader_for(REQUEST, max_payload=4)
    reader.receive_data(REPLY[:HEADER_SIZE])
    with pytest.raises(ReplyRejected, match="exceeds this client's limit of 4 bytes"):
        reader.next_reply()


def test_bytes_that_answer_no_request_are_an_error() -> None:
    """TCP-CLI-3: data arriving with no request outstanding is not a reply to anything."""
    reader = reader_for()
    reader.receive_data(REPLY)
    with pytest.raises(ReplyRejected, match="answer no request"):
        reader.next_reply()


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (0, "server closed the connection before replying"),
        (7, "server closed the connection after 7 bytes of a reply header"),
        (HEADER_SIZE + 2, f"server closed the connection after {HEADER_SIZE + 2} of {len(REPLY)} reply bytes"),
    ],
)
def test_end_of_stream_mid_reply_is_a_clean_error(cut: int, message: str) -> None:
    """TCP-CLI-4: the server closing before the whole reply is a ConnectionClosed that says how far it got."""
    reader = reader_for(REQUEST)
    if cut:  # b"" would mean end of stream already
        reader.receive_data(REPLY[:cut])
    assert reader.next_reply() is None
    reader.receive_data(b"")
    with pytest.raises(ConnectionClosed) as caught:
        reader.next_reply()
    assert str(caught.value) == message


def test_end_of_stream_after_a_whole_reply_is_not_an_error() -> None:
    """TCP-CLI-4: a close after the reply arrived loses nothing."""
    reader = reader_for(REQUEST)
    reader.receive_data(REPLY)
    reader.receive_data(b"")
    assert reader.next_reply() is not None
    assert reader.next_reply() is None


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(st.binary(max_size=40), st.just(REPLY), st.just(REPLY[:HEADER_SIZE])),
        max_size=8,
    ),
    eof=st.booleans(),
)
def test_any_stream_ends_in_a_valid_reply_a_clean_error_or_a_wait(chunks: list[bytes], eof: bool) -> None:
    """TCP-CLI-1, TCP-CLI-3, TCP-CLI-4: whatever the server sends, the reader returns only an acceptable reply,
    raises one of its two errors, or waits for more, with a bounded buffer; after end of stream it never waits."""
    max_payload = 16
    reader = reader_for(REQUEST, max_payload=max_payload)
    outcome: object = None
    for chunk in [c for c in chunks if c] + ([b""] if eof else []):
        reader.receive_data(chunk)
        try:
            outcome = reader.next_reply()
        except (ReplyRejected, ConnectionClosed) as error:
            outcome = error
            break
        if outcome is not None:
            break
        assert reader.buffered <= HEADER_SIZE + max_payload + len(chunk)
    if isinstance(outcome, Message):
        header = outcome.header
        assert (header.request_id, header.operation, header.flags) == (
            REQUEST.request_id,
            REQUEST.operation,
            Flag.REPLY,
        )
        assert len(outcome.payload) == header.size <= max_payload
    elif outcome is None and eof:
        pytest.fail("end of stream left the reader waiting")


def test_an_unsolicited_busy_answers_every_outstanding_request_with_busy() -> None:
    """TCP-CLI-5 (vector tcp-reply-unsolicited-busy): request_id 0 and BUSY is the server refusing the connection."""
    second = Header(operation=Op.INCREMENT, request_id=7)
    reader = reader_for(REQUEST, second)
    reader.receive_data(UNSOLICITED_BUSY[:7])
    assert reader.next_reply() is None
    reader.receive_data(UNSOLICITED_BUSY[7:] + b"ignored")
    replies = [reader.next_reply(), reader.next_reply()]
    assert [r.header.result if r else None for r in replies] == [Result.BUSY, Result.BUSY]
    assert reader.next_reply() is None and reader.outstanding == 0
