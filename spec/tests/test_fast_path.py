"""The struct fast path is byte-for-byte equal to the construct definition, on any input."""

import construct
from hypothesis import given
from hypothesis import strategies as st

import rrp_spec
from rrp_spec import MAX_CODE
from rrp_spec.wire import HEADER_STRUCT, MESSAGE_STRUCT

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, MAX_CODE)
u64 = st.integers(0, rrp_spec.MAX_REQUEST_ID)
u32 = st.integers(0, rrp_spec.MAX_SIZE_FIELD)


def _field_values(h: rrp_spec.Header) -> dict[str, object]:
    return {name: getattr(h, name) for name in rrp_spec.layout.HEADER_FIELD_NAMES}


@given(st.binary(min_size=20, max_size=40))
def test_unpack_agrees_with_construct_on_arbitrary_bytes(data: bytes) -> None:
    fast = rrp_spec.unpack_header(data)
    if data[:2] == b"RR":
        parsed = HEADER_STRUCT.parse(data)
        assert _field_values(fast) == {k: v for k, v in parsed.items() if not k.startswith("_")}
    else:
        # construct rejects a wrong magic; the fast path reads it and leaves judging to validate.
        assert fast.magic == data[:2]
        try:
            HEADER_STRUCT.parse(data)
        except construct.ConstError:
            pass
        else:
            raise AssertionError("construct accepted a wrong magic")


@given(u8, u8, u16, u16, u64, u32)
def test_pack_agrees_with_construct(version: int, flags: int, op: int, result: int, rid: int, size: int) -> None:
    header = rrp_spec.Header(version=version, flags=flags, operation=op, result=result, request_id=rid, size=size)
    built = HEADER_STRUCT.build(
        {"version": version, "flags": flags, "operation": op, "result": result, "request_id": rid, "size": size}
    )
    assert rrp_spec.pack_header(header) == built
    assert rrp_spec.unpack_header(built) == header


@given(u16, u64.filter(bool), st.binary(max_size=300))
def test_pack_request_agrees_with_the_message_definition(op: int, rid: int, payload: bytes) -> None:
    data = rrp_spec.pack_request(op, rid, payload)
    parsed = MESSAGE_STRUCT.parse(data)
    assert parsed.header.operation == op
    assert parsed.header.request_id == rid
    assert parsed.header.size == len(payload)
    assert parsed.payload == payload


def test_short_input_is_a_local_error() -> None:
    try:
        rrp_spec.unpack_header(b"RR\x01")
    except ValueError as error:
        assert "20 bytes" in str(error)
    else:
        raise AssertionError("a 3-byte header was accepted")
