"""How a reply-checker fuzz input packs the outstanding request next to the reply bytes.

Layout: operation (u16, big-endian), request ID (u64), one byte whose bit 0 says
"datagram", then the reply bytes. Kept apart from the targets so that the corpus
builder can encode without importing the code under test.
"""

from __future__ import annotations

import struct

_PREFIX = struct.Struct(">HQB")
#: Bytes before the reply in a reply-checker input.
REPLY_INPUT_PREFIX = _PREFIX.size


def encode_reply_input(operation: int, request_id: int, datagram: bool, reply: bytes) -> bytes:
    """One reply-checker input."""
    return _PREFIX.pack(operation, request_id, int(datagram)) + reply


def decode_reply_input(data: bytes) -> tuple[int, int, bool, bytes] | None:
    """``(operation, request ID, datagram, reply bytes)``, or ``None`` when ``data`` is too short."""
    if len(data) < REPLY_INPUT_PREFIX:
        return None
    operation, request_id, flags = _PREFIX.unpack_from(data)
    return operation, request_id, bool(flags & 1), data[REPLY_INPUT_PREFIX:]
