"""The cores' fast path (rrp_spec.is_plain_request) never changes the spec's verdict, on any header.

That the screen itself says yes exactly when the rule-by-rule judge accepts is proven in
spec/tests/test_validate.py; here the cores, which take the fast path first, are shown to
do what decode_request_datagram and check_request say for every header.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rrp import ServerSettings, TcpConnection, UdpServerCore
from rrp._sansio.dispatch import Dispatcher
from rrp_spec import (
    APPLICATION_RANGE_START,
    HEADER_SIZE,
    MAX_CODE,
    Action,
    Header,
    ProtocolViolation,
    Transport,
    check_request,
    decode_request_datagram,
    pack_header,
    pack_reply,
    unpack_header,
)

# Field values concentrated where the rules' edges are, plus anything at all.
_headers = st.builds(
    Header,
    magic=st.sampled_from([b"RR", b"RR", b"RS", b"rr", b"\x00\x00"]),
    version=st.one_of(st.just(1), st.integers(0, 255)),
    flags=st.one_of(st.just(0), st.integers(0, 255)),
    operation=st.one_of(
        st.sampled_from([0, 1, 2, 3, APPLICATION_RANGE_START - 1, APPLICATION_RANGE_START, MAX_CODE]),
        st.integers(0, MAX_CODE),
    ),
    result=st.one_of(st.just(0), st.integers(0, MAX_CODE)),
    request_id=st.one_of(st.sampled_from([0, 1]), st.integers(0, 2**64 - 1)),
    size=st.one_of(st.integers(0, 70), st.integers(0, 2**32 - 1)),
)


@settings(max_examples=1000, deadline=None)
@given(header=_headers, extra=st.integers(-3, 3))
def test_udp_core_agrees_with_decode_request_datagram(header: Header, extra: int) -> None:
    """UDP-SRV-1, UDP-SRV-2, UDP-SRV-3, SRV-1..SRV-8: whatever the datagram, the core does what the decoder says."""
    payload_length = max(0, min(header.size, 64) + extra)
    datagram = pack_header(header) + bytes(payload_length)
    max_payload = 32
    core = UdpServerCore(ServerSettings(udp_max_payload=max_payload), Dispatcher())
    out = core.handle_datagram(datagram, ("127.0.0.1", 1), 0.0)
    try:
        decode_request_datagram(datagram, max_payload)
    except ProtocolViolation as violation:
        if violation.action is Action.REPLY:
            assert out == violation.error_reply()
        else:
            assert out is None
        return
    assert isinstance(out, bytes)
    reply = unpack_header(out)
    assert (reply.request_id, reply.operation) == (header.request_id, header.operation)


@settings(max_examples=1000, deadline=None)
@given(header=_headers)
def test_tcp_core_agrees_with_check_request(header: Header) -> None:
    """TCP-SRV-3, TCP-SRV-4, SRV-1..SRV-8: the TCP core's first reply and close follow the spec's verdict."""
    max_payload = 32
    connection = TcpConnection(ServerSettings(tcp_max_payload=max_payload), Dispatcher(), 0.0)
    connection.receive_data(pack_header(header) + bytes(min(header.size, max_payload)), 0.0)
    out = connection.data_to_send()
    try:
        check_request(header, transport=Transport.TCP, max_payload=max_payload)
    except ProtocolViolation as violation:
        if violation.action is Action.REPLY:
            assert violation.result is not None
            assert out == pack_reply(header, violation.result)
            assert connection.closed == violation.close_after
        else:
            assert out == b"" and connection.closed
        return
    assert unpack_header(out).request_id == header.request_id
    assert len(out) >= HEADER_SIZE
