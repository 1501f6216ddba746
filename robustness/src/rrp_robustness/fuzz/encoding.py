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


# --- server-core inputs: a script of events, one control byte each --------------------------
#
# tcp-core: byte 0 bit 0 = the connection is over the limits (busy); then events:
#   0x00-0xEF  the peer writes the next (c + 1) bytes
#   0xF0-0xFB  (c - 0xF0) seconds pass
#   0xFC       a millisecond passes
#   0xFD       the end of the stream
#   0xFE       the peer writes the next N bytes, N a big-endian u16 that follows
#   0xFF       (reserved: read as a millisecond)
# udp-core: events:
#   0x00-0xEF  a datagram of the next N bytes (N a big-endian u16 that follows) from peer c % 4
#   0xF0-0xF7  (c - 0xF0) seconds pass, the timer fires if due
#   0xF8-0xFB  (c - 0xF8) * 3 seconds pass, the timer callback is late
#   0xFC       the previous datagram again, from the same peer
#   0xFD       the previous datagram again, from the next peer
#   0xFE       a bare NOOP reusing the previous datagram's request ID, from the same peer
#   0xFF       a millisecond passes

#: Largest write a single short event carries.
SHORT_WRITE = 0xF0
TCP_LONG_WRITE = 0xFE
TCP_END_OF_STREAM = 0xFD


def encode_tcp_core_input(writes: list[bytes], *, busy: bool = False) -> bytes:
    """A tcp-core input in which the peer makes ``writes`` one after another, with no time passing."""
    out = bytearray([int(busy)])
    for chunk in writes:
        for start in range(0, len(chunk), 0xFFFF):
            piece = chunk[start : start + 0xFFFF]
            if len(piece) <= SHORT_WRITE:
                out += bytes([len(piece) - 1]) + piece
            else:
                out += bytes([TCP_LONG_WRITE]) + len(piece).to_bytes(2, "big") + piece
    return bytes(out)


def encode_udp_core_input(datagrams: list[tuple[int, bytes]]) -> bytes:
    """A udp-core input delivering ``(peer index, datagram)`` pairs one after another."""
    out = bytearray()
    for peer, datagram in datagrams:
        out += bytes([peer % 4]) + len(datagram).to_bytes(2, "big") + datagram
    return bytes(out)
