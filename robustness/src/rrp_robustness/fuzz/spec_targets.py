"""Fuzz targets for the spec's decoders: what a server and a client make of untrusted bytes.

Each function raises :class:`~rrp_robustness.contract.ContractBroken` (or lets an unexpected exception through)
only when ``rrp_spec`` broke its contract: every input must end in a decoded message or
a :class:`~rrp_spec.ProtocolViolation` whose action the transport allows, and a reply
check must return a list of problems citing catalogue IDs, never raise.
"""

from __future__ import annotations

from rrp_spec import (
    AMPLIFICATION_FACTOR,
    BY_ID,
    DEFAULT_TCP_MAX_PAYLOAD,
    DEFAULT_UDP_MAX_PAYLOAD,
    HEADER_SIZE,
    MAGIC,
    VERSION,
    Action,
    Flag,
    Header,
    ProtocolViolation,
    Result,
    Transport,
    check_request,
    decode_request_datagram,
    pack_header,
    reply_problems,
    unpack_header,
)

from ..contract import require as _require
from .encoding import decode_reply_input

#: What a server may do with a request it does not carry out, per transport.
_ALLOWED_ACTIONS = {Transport.UDP: {Action.DROP, Action.REPLY}, Transport.TCP: {Action.CLOSE, Action.REPLY}}


def check_violation(violation: ProtocolViolation, transport: Transport, request_length: int) -> None:
    """Check that a violation is one the spec can raise over ``transport``, and that its reply is lawful."""
    _require(violation.requirement in BY_ID, f"{violation.requirement} is not in the catalogue")
    _require(violation.action in _ALLOWED_ACTIONS[transport], f"{violation.action} is not allowed over {transport}")
    if violation.action is not Action.REPLY:
        _require(violation.result is None, "a drop or close carries no result code")
        return
    _require(violation.result is not None and violation.result != Result.OK, "an error reply needs an error result")
    _require(violation.header is not None, "an error reply needs the request's header")
    reply = violation.error_reply()
    header = unpack_header(reply)
    _require(len(reply) == HEADER_SIZE and header.size == 0, "an error reply is a bare header (SRV-13)")
    _require(header.flags == Flag.REPLY, "an error reply has REPLY set and nothing else (SRV-12)")
    _require(header.magic == MAGIC and header.version == VERSION, "an error reply is RRP/1 (MSG-2)")
    assert violation.header is not None  # narrowed above; for mypy
    _require(header.request_id == violation.header.request_id, "an error reply repeats the request ID (SRV-12)")
    _require(header.operation == violation.header.operation, "an error reply repeats the operation (SRV-12)")
    if transport is Transport.UDP:
        _require(len(reply) <= AMPLIFICATION_FACTOR * request_length, "an error reply amplifies (UDP-SRV-5)")
    else:
        _require(
            violation.close_after == (violation.result in (Result.UNSUPPORTED_VERSION, Result.TOO_LARGE)),
            "over TCP only the replies that lose the framing close the connection (SRV-2, TCP-SRV-4, TCP-SRV-9)",
        )


def udp_datagram(data: bytes) -> None:
    """A UDP server's view of one datagram: :func:`rrp_spec.decode_request_datagram`."""
    try:
        message = decode_request_datagram(data, DEFAULT_UDP_MAX_PAYLOAD)
    except ProtocolViolation as violation:
        check_violation(violation, Transport.UDP, len(data))
        return
    header = message.header
    _require(len(data) == HEADER_SIZE + header.size, "an accepted datagram's length is 20 + size (UDP-SRV-3)")
    _require(message.payload == data[HEADER_SIZE:], "the payload is the datagram's bytes after the header")
    _require(pack_header(header) == data[:HEADER_SIZE], "the header re-encodes to the bytes it came from")
    _require(
        header.magic == MAGIC and header.version == VERSION and header.flags == 0 and header.result == 0,
        "an accepted request is a well-formed RRP/1 request",
    )
    _require(header.request_id != 0 and header.size <= DEFAULT_UDP_MAX_PAYLOAD, "an accepted request is in limits")


def tcp_stream(data: bytes) -> None:
    """A TCP server's framing over a byte stream: ``unpack_header`` and ``check_request``, request after request.

    Follows the spec's framing: a violation that closes (or replies then closes) ends
    the stream; one that leaves the framing intact skips that request's payload
    (TCP-SRV-9); an incomplete request ends the input (the server would wait).
    """
    offset = 0
    while len(data) - offset >= HEADER_SIZE:
        header = unpack_header(data, offset)
        try:
            check_request(header, transport=Transport.TCP, max_payload=DEFAULT_TCP_MAX_PAYLOAD)
        except ProtocolViolation as violation:
            check_violation(violation, Transport.TCP, len(data) - offset)
            if violation.action is Action.CLOSE or violation.close_after:
                return
        else:
            _require(header.size <= DEFAULT_TCP_MAX_PAYLOAD, "an accepted request is within the limit")
        offset += HEADER_SIZE + header.size


def reply(data: bytes) -> None:
    """A client's judgement of a reply: :func:`rrp_spec.reply_problems` against an independent check."""
    decoded = decode_reply_input(data)
    if decoded is None:
        return
    operation, request_id, datagram, reply_bytes = decoded
    request = Header(operation=operation, request_id=request_id)
    problems = reply_problems(reply_bytes, request=request, datagram=datagram)
    _require(all(p.requirement in BY_ID for p in problems), "every reply problem cites a catalogue ID")
    acceptable = _acceptable_reply(reply_bytes, request, datagram)
    _require(acceptable == (not problems), f"reply_problems says {problems}, the independent check {acceptable}")


def _acceptable_reply(data: bytes, request: Header, datagram: bool) -> bool:
    """CLI-3 written out a second time, straight from the header table, as the oracle for ``reply_problems``."""
    if len(data) < HEADER_SIZE:
        return False
    magic, version, flags = data[0:2], data[2], data[3]
    operation = int.from_bytes(data[4:6], "big")
    result = int.from_bytes(data[6:8], "big")
    request_id = int.from_bytes(data[8:16], "big")
    size = int.from_bytes(data[16:20], "big")
    payload = len(data) - HEADER_SIZE
    return (
        magic == MAGIC
        and version == VERSION
        and flags == Flag.REPLY
        and request_id == request.request_id
        and operation == request.operation
        and (payload == size if datagram else payload >= size)
        and (result == Result.OK or size == 0)
    )
