"""The header as a value, and its fast codec.

``Header`` is what every API takes and returns. ``unpack_header`` and
``pack_header`` use a ``struct.Struct`` whose format is derived from the construct
definition (:data:`rrp_spec.layout.HEADER_FORMAT`); a property test proves them
byte-for-byte equal to construct over arbitrary input. They do no validation:
:mod:`rrp_spec.validate` judges a header against the rules.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .codes import RESERVED_FLAG_BITS, Flag
from .layout import HEADER_FIELD_NAMES, HEADER_FORMAT, HEADER_LAYOUT
from .limits import HEADER_SIZE, MAGIC, VERSION

_HEADER = struct.Struct(HEADER_FORMAT)
assert _HEADER.size == HEADER_SIZE, "struct format and construct definition disagree on the header size"


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """An RRP header, field for field as on the wire.

    ``operation`` and ``result`` are plain ints so that application-defined values
    pass through; compare them with :class:`~rrp_spec.codes.Op` and
    :class:`~rrp_spec.codes.Result` members, which are ints too.
    """

    #: The magic bytes; ``b"RR"`` in every valid message.
    magic: bytes = MAGIC
    #: Protocol version; 1 in every valid message.
    version: int = VERSION
    #: Flag bits: :attr:`~rrp_spec.codes.Flag.REPLY` and the reserved bits 1-7.
    flags: int = 0
    #: The operation asked for (requests) or answered (replies).
    operation: int
    #: 0 in requests; the :class:`~rrp_spec.codes.Result` in replies.
    result: int = 0
    #: The 64-bit request ID.
    request_id: int
    #: Payload bytes that follow the header.
    size: int = 0

    @property
    def is_reply(self) -> bool:
        """True when the REPLY flag is set."""
        return bool(self.flags & Flag.REPLY)

    @property
    def reserved_flags(self) -> int:
        """The reserved flag bits that are set (0 in every valid message)."""
        return self.flags & RESERVED_FLAG_BITS


assert tuple(f for f in Header.__dataclass_fields__) == HEADER_FIELD_NAMES, (
    "Header's fields must follow the construct definition's order"
)

# Building a frozen dataclass through __init__ costs one object.__setattr__ per
# field; the slot descriptors below set the fields directly, unrolled, which keeps
# decoding a header within a few times the cost of struct.unpack on the per-packet path.
_new_header = object.__new__
(
    _set_magic,
    _set_version,
    _set_flags,
    _set_operation,
    _set_result,
    _set_request_id,
    _set_size,
) = (getattr(Header, name).__set__ for name in HEADER_FIELD_NAMES)
_unpack_from = _HEADER.unpack_from
_pack = _HEADER.pack

#: ``unpack_header_fields(data, offset=0)``: the header's seven fields at ``offset`` as a tuple, in wire order,
#: nothing built and nothing judged: the per-packet path's first step (see :func:`rrp_spec.is_plain_request`).
unpack_header_fields = _unpack_from

(_RESULT_FIELD,) = (field for field in HEADER_LAYOUT if field.name == "result")
_RESULT = struct.Struct(">" + _RESULT_FIELD.struct_code)
_unpack_result = _RESULT.unpack_from
_RESULT_OFFSET = _RESULT_FIELD.offset


def unpack_header(data: bytes | bytearray | memoryview, offset: int = 0) -> Header:
    """Read the 20 header bytes at ``offset`` of ``data`` into a :class:`Header`, without judging them.

    Raises ``ValueError`` when fewer than 20 bytes are available (a local error:
    callers check lengths before decoding untrusted input, or use
    :func:`rrp_spec.validate.decode_request_datagram`).
    """
    if len(data) - offset < HEADER_SIZE:
        raise ValueError(f"a header needs {HEADER_SIZE} bytes, {max(len(data) - offset, 0)} available")
    magic, version, flags, operation, result, request_id, size = _unpack_from(data, offset)
    header: Header = _new_header(Header)
    _set_magic(header, magic)
    _set_version(header, version)
    _set_flags(header, flags)
    _set_operation(header, operation)
    _set_result(header, result)
    _set_request_id(header, request_id)
    _set_size(header, size)
    return header


def pack_header(header: Header) -> bytes:
    """The 20 wire bytes of ``header``, exactly as given (nothing is validated or fixed up)."""
    return _pack(
        header.magic,
        header.version,
        header.flags,
        header.operation,
        header.result,
        header.request_id,
        header.size,
    )


def pack_request(operation: int, request_id: int, payload: bytes = b"") -> bytes:
    """A well-formed request message: header plus payload."""
    return _pack(MAGIC, VERSION, 0, operation, 0, request_id, len(payload)) + payload


def pack_reply(request: Header, result: int, payload: bytes = b"") -> bytes:
    """A reply to ``request``: its ID and operation, REPLY set, ``result`` and ``payload``.

    An error result (anything but OK) always gets a bare header, whatever
    ``payload`` is given (SRV-13).
    """
    return pack_reply_to(request.operation, request.request_id, result, payload)


def pack_reply_to(operation: int, request_id: int, result: int, payload: bytes = b"") -> bytes:
    """:func:`pack_reply` from the request's operation and ID alone, for the per-packet path (no :class:`Header`)."""
    if result != 0:
        payload = b""
    return _pack(MAGIC, VERSION, _REPLY, operation, result, request_id, len(payload)) + payload


_REPLY = int(Flag.REPLY)


def reply_result(message: bytes | bytearray | memoryview) -> int:
    """The result field of a message's header (at least 20 bytes), read without decoding the rest."""
    result: int = _unpack_result(message, _RESULT_OFFSET)[0]
    return result
