"""The layout derived from the construct definition is the one RRP/1 fixes."""

import rrp_spec
from rrp_spec.wire import HEADER_STRUCT


def test_header_fields_sit_at_the_fixed_offsets() -> None:
    layout = [(f.name, f.offset, f.size) for f in rrp_spec.HEADER_LAYOUT]
    assert layout == [
        ("magic", 0, 2),
        ("version", 2, 1),
        ("flags", 3, 1),
        ("operation", 4, 2),
        ("result", 6, 2),
        ("request_id", 8, 8),
        ("size", 16, 4),
    ]


def test_header_is_twenty_bytes_in_construct_and_struct() -> None:
    assert HEADER_STRUCT.sizeof() == rrp_spec.HEADER_SIZE == 20
    assert rrp_spec.HEADER_FORMAT == ">2sBBHHQL"


def test_every_field_is_documented_in_its_definition() -> None:
    assert all(f.doc for f in rrp_spec.HEADER_LAYOUT)


def test_udp_payload_limit_follows_from_the_datagram_limit() -> None:
    assert rrp_spec.MAX_UDP_PAYLOAD == 65507 - 20 == 65487
