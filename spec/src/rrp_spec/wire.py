"""The RRP/1 wire format as construct definitions: the one place the layout is written.

Each field carries its documentation (``"size" / Int32ub * "..."``) so that the
specification site renders its tables from these definitions. The definitions are
the reference for the layout; :mod:`rrp_spec.header` derives its fast
``struct``-based codec from them, because interpreted construct is too slow for a
per-packet path and construct's compiled parsers are not meant for untrusted input.
Construct ``Container``s never leave this package.
"""

from __future__ import annotations

from construct import Bytes, Const, Int8ub, Int16ub, Int32ub, Int64ub, Struct, this

#: The magic bytes at offset 0: ASCII "RR".
MAGIC = b"RR"

#: The 20-byte header that starts every RRP message, every integer big-endian.
HEADER_STRUCT = Struct(
    "magic" / Const(MAGIC) * 'ASCII "RR" (0x52 0x52); anything else is not RRP',
    "version" / Int8ub * "protocol version; 1 in RRP/1",
    "flags" / Int8ub * "bit 0 (0x01) REPLY, set in replies and clear in requests; bits 1-7 reserved, MUST be 0",
    "operation" / Int16ub * "what the request asks for; a reply repeats its request's operation",
    "result" / Int16ub * "0 in every request; the result code in a reply",
    "request_id" / Int64ub * "chosen by the client from a CSPRNG over all 64 bits; 0 is invalid; a reply repeats it",
    "size" / Int32ub * "number of payload bytes that follow the header",
)

#: A whole message: the header, then exactly ``size`` payload bytes.
MESSAGE_STRUCT = Struct(
    "header" / HEADER_STRUCT * "the fixed 20-byte header",
    "payload" / Bytes(this.header.size) * "operation-specific bytes; exactly `size` of them",
)
