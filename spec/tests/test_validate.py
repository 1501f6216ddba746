"""Judging untrusted bytes: one exception type, the right action, well-formed error replies."""

from hypothesis import given, settings
from hypothesis import strategies as st

import rrp_spec
from rrp_spec import APPLICATION_RANGE_START, MAX_CODE, Action, Flag, ProtocolViolation, Result, Transport, validate

headers = st.builds(
    rrp_spec.Header,
    magic=st.sampled_from([b"RR", b"RS", b"\x00\x00"]),
    version=st.sampled_from([0, 1, 1, 1, 2, 255]),
    flags=st.sampled_from([0, 0, 0, 1, 2, 0x80, 0xFF]),
    operation=st.sampled_from([0, 1, 2, 3, APPLICATION_RANGE_START - 1, APPLICATION_RANGE_START, MAX_CODE])
    | st.integers(0, MAX_CODE),
    result=st.sampled_from([0, 0, 0, 1, MAX_CODE]),
    request_id=st.sampled_from([0, 1, rrp_spec.MAX_REQUEST_ID]) | st.integers(0, rrp_spec.MAX_REQUEST_ID),
    size=st.sampled_from([0, 1, 5, rrp_spec.MAX_UDP_PAYLOAD + 1, rrp_spec.MAX_SIZE_FIELD]),
)


@given(st.binary(max_size=80))
def test_any_datagram_is_a_request_or_a_violation(data: bytes) -> None:
    try:
        message = rrp_spec.decode_request_datagram(data)
    except ProtocolViolation as violation:
        assert violation.requirement in rrp_spec.BY_ID
        assert violation.action in (Action.DROP, Action.REPLY)
        if violation.action is Action.REPLY:
            _check_error_reply(violation)
    else:
        assert message.header.size == len(message.payload) == len(data) - 20


@given(headers, st.sampled_from(list(Transport)))
def test_every_header_gets_a_prescribed_action(header: rrp_spec.Header, transport: Transport) -> None:
    try:
        rrp_spec.check_request(header, transport=transport, max_payload=1 << 20, datagram_length=20 + header.size)
    except ProtocolViolation as violation:
        if transport is Transport.UDP:
            assert violation.action is not Action.CLOSE and not violation.close_after
        else:
            assert violation.action is not Action.DROP
        if violation.action is Action.REPLY:
            _check_error_reply(violation)
    else:
        assert header.magic == b"RR" and header.version == 1 and header.flags == 0
        assert header.result == 0 and header.request_id != 0


def _check_error_reply(violation: ProtocolViolation) -> None:
    assert violation.header is not None
    reply = violation.error_reply()
    h = rrp_spec.unpack_header(reply)
    assert len(reply) == 20 and h.size == 0
    assert h.flags == Flag.REPLY and h.version == 1
    assert (h.request_id, h.operation) == (violation.header.request_id, violation.header.operation)
    assert h.result == violation.result != Result.OK


@given(
    st.integers(0, MAX_CODE),
    st.integers(1, rrp_spec.MAX_REQUEST_ID),
    st.binary(max_size=64),
    st.sampled_from(list(Result)),
)
def test_replies_built_by_the_codec_have_no_problems(op: int, rid: int, payload: bytes, result: Result) -> None:
    request = rrp_spec.Header(operation=op, request_id=rid, size=len(payload))
    reply = rrp_spec.pack_reply(request, result, payload)
    assert rrp_spec.reply_problems(reply, request=request, datagram=True) == []
    if result is not Result.OK:
        assert len(reply) == 20


def test_reply_problems_name_each_broken_rule() -> None:
    request = rrp_spec.Header(operation=rrp_spec.Op.ECHO, request_id=7)
    wrong = rrp_spec.pack_header(rrp_spec.Header(magic=b"XX", flags=0x40, operation=0, request_id=8, size=3))
    found = {p.requirement for p in rrp_spec.reply_problems(wrong, request=request, datagram=True)}
    assert found == {"MSG-2", "MSG-3", "SRV-12", "MSG-4"}


def test_violation_message_names_requirement_and_action() -> None:
    try:
        rrp_spec.decode_request_datagram(rrp_spec.pack_request(rrp_spec.Op.INCREMENT, 9, b"x"))
    except ProtocolViolation as violation:
        assert str(violation) == "SRV-7: INCREMENT carries a payload -> reply MALFORMED"
    else:
        raise AssertionError("accepted")


@settings(max_examples=2000)
@given(headers, st.sampled_from(list(Transport)), st.sampled_from([0, 5, 1 << 20]), st.integers(0, 80))
def test_the_fast_path_accepts_exactly_what_the_rule_by_rule_judge_accepts(
    header: rrp_spec.Header, transport: Transport, max_payload: int, extra: int
) -> None:
    """is_plain_request, every server's fast path (and check_request's), is an optimisation, never a second opinion.

    Fed the raw fields of the header's wire bytes, as the servers feed it; over UDP with the datagram's length.
    """
    datagram_length = 20 + header.size if extra == 0 else extra
    magic, version, flags, op, result, rid, size = rrp_spec.unpack_header_fields(rrp_spec.pack_header(header))
    length = datagram_length if transport is Transport.UDP else None
    screened = rrp_spec.is_plain_request(magic, version, flags, op, result, rid, size, max_payload, length)
    try:
        validate._judge_request(header, transport, max_payload, datagram_length)
    except ProtocolViolation:
        judged_valid = False
    else:
        judged_valid = True
    assert screened == judged_valid


@given(
    st.integers(0, MAX_CODE), st.integers(0, rrp_spec.MAX_REQUEST_ID), st.integers(0, MAX_CODE), st.binary(max_size=8)
)
def test_pack_reply_to_and_reply_result_agree_with_the_header_codec(
    op: int, rid: int, result: int, payload: bytes
) -> None:
    """The per-packet reply builder and result reader are pack_reply and unpack_header, without a Header."""
    reply = rrp_spec.pack_reply_to(op, rid, result, payload)
    assert reply == rrp_spec.pack_reply(rrp_spec.Header(operation=op, request_id=rid), result, payload)
    assert rrp_spec.reply_result(reply) == rrp_spec.unpack_header(reply).result == result
