"""Operations, result codes and flag bits of RRP/1, with their registries.

Values from the application ranges (0x8000-0xFFFF) are legal on the wire but are
not members of these enums: header fields are plain ``int`` so that such values
pass through, and the ``is_*`` helpers below say which range a value falls in.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

#: Largest value of the 16-bit ``operation`` and ``result`` fields.
MAX_CODE = 0xFFFF
#: First operation and result code of the application-defined range (inclusive).
APPLICATION_RANGE_START = 0x8000
#: Last value of the application-defined range (inclusive): the largest code.
APPLICATION_RANGE_END = MAX_CODE


class Op(IntEnum):
    """Operations defined by RRP/1 (Specification, "Operations")."""

    #: Does nothing; the reply is an empty OK.
    NOOP = 0x0000
    #: The reply's payload is the request's payload, byte for byte.
    ECHO = 0x0001
    #: Increments the server's counter and replies with its new value as a u64.
    #: Deliberately not idempotent, so that retransmission handling is observable.
    INCREMENT = 0x0002


class Result(IntEnum):
    """Result codes carried in a reply's ``result`` field (Specification, "Result codes")."""

    #: The request was carried out.
    OK = 0
    #: A header field broke a rule (reserved bits, result, request ID, INCREMENT payload).
    MALFORMED = 1
    #: The request's version is not 1.
    UNSUPPORTED_VERSION = 2
    #: The operation is reserved or not implemented by this server.
    UNKNOWN_OPERATION = 3
    #: Over UDP, the datagram's length is not 20 + size.
    SIZE_MISMATCH = 4
    #: The payload is larger than the server accepts, or the reply would amplify.
    TOO_LARGE = 5
    #: The server gave up waiting for something the request needs.
    TIMEOUT = 6
    #: The server is at its connection limit; try again later.
    BUSY = 7
    #: The server failed while carrying out the request; nothing about the failure is disclosed.
    INTERNAL_ERROR = 8


class Flag(IntFlag):
    """Bits of the ``flags`` field."""

    #: Set in replies, clear in requests.
    REPLY = 0x01


#: Bits 1-7 of ``flags``: reserved, MUST be zero.
# Written with XOR: ~ on an IntFlag complements only within its defined members, which gives 0.
RESERVED_FLAG_BITS = 0xFF ^ int(Flag.REPLY)


def is_application_value(value: int) -> bool:
    """True for operation or result values in the application-defined range."""
    return APPLICATION_RANGE_START <= value <= APPLICATION_RANGE_END


def is_defined_operation(operation: int) -> bool:
    """True for NOOP, ECHO and INCREMENT."""
    return operation in _DEFINED_OPERATIONS


def is_reserved_operation(operation: int) -> bool:
    """True for operations that are neither defined by RRP/1 nor application-defined."""
    return not is_defined_operation(operation) and not is_application_value(operation)


_DEFINED_OPERATIONS = frozenset(int(op) for op in Op)
