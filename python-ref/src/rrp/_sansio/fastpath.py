"""The per-request fast path: raw header fields with one ``struct`` call, and the screen for plainly valid requests.

:func:`rrp_spec.check_request` judges every rule in the spec's order and needs a
:class:`~rrp_spec.Header`; building and judging one costs more than all the rest
of serving an ECHO. The cores therefore first unpack the raw fields and ask one
question, :func:`is_plainly_valid`: does this header break no rule at all? Only
a "no" goes to the spec's :func:`~rrp_spec.decode_request_datagram` /
:func:`~rrp_spec.check_request`, which decides what the violation is and what to
do about it, so the screen never rejects anything by itself and the spec stays
the only judge. ``tests/test_server_fastpath.py`` proves over arbitrary headers
that the screen says yes exactly when the spec accepts.
"""

from __future__ import annotations

import struct

from rrp_spec import APPLICATION_RANGE_START, HEADER_FORMAT, MAGIC, VERSION, Flag, Op

_HEADER = struct.Struct(HEADER_FORMAT)
#: ``unpack_fields(data, offset=0)``: the header's seven fields as a tuple, in wire order.
unpack_fields = _HEADER.unpack_from
#: ``pack_fields(magic, version, flags, operation, result, request_id, size)``: 20 header bytes.
pack_fields = _HEADER.pack

#: Operations RRP/1 defines; with the application range, everything a request may ask for.
DEFINED_OPERATIONS = frozenset(int(op) for op in Op)
INCREMENT = int(Op.INCREMENT)
REPLY_FLAG = int(Flag.REPLY)


def is_plainly_valid(
    magic: bytes, version: int, flags: int, operation: int, result: int, request_id: int, size: int, max_payload: int
) -> bool:
    """True when a request header with these fields passes every check of :func:`rrp_spec.check_request`.

    The cores inline this same expression on their per-packet path (a call costs as
    much as the test); this function is the readable statement of it and what the
    equivalence test checks the cores against.
    """
    return (
        magic == MAGIC
        and version == VERSION
        and not flags
        and not result
        and request_id != 0
        and size <= max_payload
        and (operation in DEFINED_OPERATIONS or operation >= APPLICATION_RANGE_START)
        and not (operation == INCREMENT and size)
    )


def reply_bytes(operation: int, request_id: int, result: int, payload: bytes = b"") -> bytes:
    """A reply's bytes from the request's operation and ID (SRV-12); error replies are bare headers (SRV-13)."""
    if result:
        payload = b""
    return pack_fields(MAGIC, VERSION, REPLY_FLAG, operation, result, request_id, len(payload)) + payload
