"""Every forgery the hostile servers send is one the spec's own judge rejects; the genuine reply is accepted."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rrp_conformance.client.forged import (
    FORGED_PAYLOAD,
    genuine_reply,
    impostor_reply,
    malformed_replies,
    wrong_id_replies,
)
from rrp_spec import HEADER_SIZE, MAX_REQUEST_ID, Op, pack_request, reply_problems, unpack_header

requests = st.builds(
    pack_request,
    st.sampled_from(list(Op)),
    st.integers(1, MAX_REQUEST_ID),
    st.binary(max_size=64),
)


@given(requests)
def test_genuine_reply_is_acceptable(request: bytes) -> None:
    reply = genuine_reply(request)
    assert reply_problems(reply, request=unpack_header(request), datagram=True) == []
    assert reply[HEADER_SIZE:] == request[HEADER_SIZE:]


@given(requests)
def test_every_forgery_is_rejected_by_the_spec(request: bytes) -> None:
    header = unpack_header(request)
    for forgery in (*wrong_id_replies(request), *malformed_replies(request)):
        assert reply_problems(forgery.data, request=header, datagram=True), forgery.note
    for forgery in wrong_id_replies(request):  # the TCP checks send these on a stream
        assert reply_problems(forgery.data, request=header, datagram=False), forgery.note


@given(requests)
@example(pack_request(Op.NOOP, 1 << 63))  # flipping its top bit alone would give the invalid ID 0
def test_wrong_ids_differ_from_the_request_and_are_not_zero(request: bytes) -> None:
    request_id = unpack_header(request).request_id
    for forgery in wrong_id_replies(request):
        forged_id = unpack_header(forgery.data).request_id
        assert forged_id not in (0, request_id)


@given(requests)
@example(pack_request(Op.NOOP, 1 << 63))
def test_the_high_half_forgery_keeps_the_low_32_bits(request: bytes) -> None:
    request_id = unpack_header(request).request_id
    _, high_half = wrong_id_replies(request)
    forged_id = unpack_header(high_half.data).request_id
    assert forged_id & 0xFFFFFFFF == request_id & 0xFFFFFFFF


def test_impostor_reply_is_well_formed_so_only_its_source_is_wrong() -> None:
    request = pack_request(Op.ECHO, 7, b"abc")
    forgery = impostor_reply(request, "127.0.0.2")
    assert reply_problems(forgery.data, request=unpack_header(request), datagram=True) == []
    assert forgery.data.endswith(FORGED_PAYLOAD)


@pytest.mark.parametrize("index", range(len(malformed_replies(pack_request(Op.ECHO, 7)))))
def test_each_malformed_reply_breaks_one_rule(index: int) -> None:
    request = pack_request(Op.ECHO, 7, b"abc")
    forgery = malformed_replies(request)[index]
    assert len(reply_problems(forgery.data, request=unpack_header(request), datagram=True)) == 1, forgery.note
