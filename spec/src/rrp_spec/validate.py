"""Judging messages against RRP/1: what a server does with a request, and what makes a reply acceptable.

Every rule a receiver can judge from a header lives here, in the order a server
applies them (framing before content):

1. magic                      -> drop (UDP) / close (TCP)
2. REPLY flag set             -> drop (UDP) / close (TCP)
3. version                    -> UNSUPPORTED_VERSION (TCP: then close)
4. UDP length != 20 + size    -> SIZE_MISMATCH
5. size above the limit       -> TOO_LARGE (TCP: then close, payload unread)
6. reserved flag bits         -> MALFORMED
7. result != 0                -> MALFORMED
8. request_id == 0            -> MALFORMED
9. reserved operation         -> UNKNOWN_OPERATION
10. INCREMENT with a payload  -> MALFORMED

Every check needs only the header (and, over UDP, the datagram's length), so a TCP
server decides before reading a single payload byte. A violation is raised as one
exception type, :class:`ProtocolViolation`, naming the requirement and the action.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .codes import APPLICATION_RANGE_START, Flag, Op, Result, is_reserved_operation
from .header import Header, pack_reply, unpack_header
from .limits import HEADER_SIZE, MAGIC, MAX_UDP_PAYLOAD, VERSION


class Transport(StrEnum):
    """The two transports RRP/1 runs over."""

    UDP = "udp"
    TCP = "tcp"


class Action(StrEnum):
    """What a server does with a request that breaks a rule."""

    #: Send nothing (UDP only).
    DROP = "drop"
    #: Send a bare error reply with the violation's result code.
    REPLY = "reply"
    #: Close the connection without a reply (TCP only).
    CLOSE = "close"


class ProtocolViolation(Exception):
    """Untrusted bytes broke a rule of RRP/1.

    Carries the requirement broken, the action the spec prescribes and, for
    :attr:`Action.REPLY`, the result code and whether the connection closes after
    the reply (TCP).
    """

    def __init__(
        self,
        requirement: str,
        action: Action,
        detail: str,
        *,
        result: Result | None = None,
        close_after: bool = False,
        header: Header | None = None,
    ) -> None:
        super().__init__(f"{requirement}: {detail} -> {_describe(action, result, close_after)}")
        #: The ID of the requirement the input broke.
        self.requirement = requirement
        #: What the server does about it.
        self.action = action
        #: One sentence saying what was wrong.
        self.detail = detail
        #: The error code to reply with, when :attr:`action` is REPLY.
        self.result = result
        #: True when a TCP server closes the connection after its reply.
        self.close_after = close_after
        #: The offending header, when one could be read.
        self.header = header

    def error_reply(self) -> bytes:
        """The bare error reply this violation calls for (only when :attr:`action` is REPLY)."""
        if self.action is not Action.REPLY or self.result is None or self.header is None:
            raise ValueError(f"{self.requirement} calls for {self.action}, not a reply")
        return pack_reply(self.header, self.result)


def _describe(action: Action, result: Result | None, close_after: bool) -> str:
    if action is Action.REPLY and result is not None:
        return f"reply {result.name}" + (", then close" if close_after else "")
    return str(action)


def check_request(
    header: Header,
    *,
    transport: Transport,
    max_payload: int,
    datagram_length: int | None = None,
) -> None:
    """Raise :class:`ProtocolViolation` if a server must not carry out this request.

    ``max_payload`` is the server's payload limit for ``transport``;
    ``datagram_length`` is required for UDP. Whether an application-range
    operation is implemented is the server's own business (SRV-6).
    """
    # The common case, a valid request, is one expression of int comparisons
    # (is_plain_request); the rule-by-rule judge runs only when something is wrong, to
    # say what. A property test proves the two agree on every header.
    if is_plain_request(
        header.magic,
        header.version,
        header.flags,
        header.operation,
        header.result,
        header.request_id,
        header.size,
        max_payload,
        None if transport is Transport.TCP else (-1 if datagram_length is None else datagram_length),
    ):
        return
    _judge_request(header, transport, max_payload, datagram_length)


def is_plain_request(
    magic: bytes,
    version: int,
    flags: int,
    operation: int,
    result: int,
    request_id: int,
    size: int,
    max_payload: int,
    datagram_length: int | None,
) -> bool:
    """True when a request header with these fields (:func:`rrp_spec.unpack_header_fields`) breaks no rule.

    The fast path of every server: a ``True`` means :func:`check_request` accepts the
    header (over UDP, ``datagram_length`` is the whole datagram's length; over TCP,
    ``None``), so the request can be carried out without building a :class:`Header`; a
    ``False`` sends the header to :func:`check_request` or
    :func:`decode_request_datagram`, which say what is wrong and what to do. The screen
    never rejects anything itself, so the judge stays the only judge; a property test
    proves that the two agree on every header.
    """
    return bool(
        magic == MAGIC
        and version == VERSION
        and not flags
        and not result
        and request_id
        and size <= max_payload
        and (datagram_length is None or datagram_length == HEADER_SIZE + size)
        and (
            operation >= APPLICATION_RANGE_START
            or (operation in _DEFINED_OPERATIONS and (not size or operation != _INCREMENT))
        )
    )


_INCREMENT = int(Op.INCREMENT)
_DEFINED_OPERATIONS = frozenset(int(op) for op in Op)


def _reply_violation(
    header: Header, requirement: str, result: Result, detail: str, close_after: bool = False
) -> ProtocolViolation:
    return ProtocolViolation(requirement, Action.REPLY, detail, result=result, close_after=close_after, header=header)


def _judge_request(header: Header, transport: Transport, max_payload: int, datagram_length: int | None) -> None:
    """Apply the rules one by one, in the order of the module docstring, raising for the first one broken."""
    udp = transport is Transport.UDP
    if header.magic != MAGIC:
        if udp:
            raise ProtocolViolation("UDP-SRV-2", Action.DROP, "magic is not RR", header=header)
        raise ProtocolViolation("TCP-SRV-3", Action.CLOSE, "magic is not RR", header=header)
    if header.flags & Flag.REPLY:
        raise ProtocolViolation(
            "SRV-1", Action.DROP if udp else Action.CLOSE, "REPLY flag set in a request", header=header
        )
    if header.version != VERSION:
        raise _reply_violation(
            header, "SRV-2", Result.UNSUPPORTED_VERSION, f"version is {header.version}", close_after=not udp
        )
    if udp:
        if datagram_length is None:
            raise TypeError("datagram_length is required for UDP")
        if datagram_length != HEADER_SIZE + header.size:
            raise _reply_violation(
                header,
                "UDP-SRV-3",
                Result.SIZE_MISMATCH,
                f"datagram has {datagram_length - HEADER_SIZE} payload bytes, size says {header.size}",
            )
    if header.size > max_payload:
        raise _reply_violation(
            header,
            "SRV-8" if udp else "TCP-SRV-4",
            Result.TOO_LARGE,
            f"size {header.size} exceeds the limit of {max_payload}",
            close_after=not udp,
        )
    if header.flags != 0:
        raise _reply_violation(header, "SRV-3", Result.MALFORMED, f"reserved flag bits 0x{header.flags:02x} set")
    if header.result != 0:
        raise _reply_violation(header, "SRV-4", Result.MALFORMED, f"result is {header.result} in a request")
    if header.request_id == 0:
        raise _reply_violation(header, "SRV-5", Result.MALFORMED, "request_id is 0")
    if is_reserved_operation(header.operation):
        raise _reply_violation(
            header, "SRV-6", Result.UNKNOWN_OPERATION, f"operation 0x{header.operation:04x} is reserved"
        )
    if header.operation == Op.INCREMENT and header.size != 0:
        raise _reply_violation(header, "SRV-7", Result.MALFORMED, "INCREMENT carries a payload")


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded message: its header and its payload."""

    header: Header
    payload: bytes


def decode_request_datagram(datagram: bytes, max_payload: int = MAX_UDP_PAYLOAD) -> Message:
    """Decode and judge one UDP datagram as a server does.

    Returns the request, or raises :class:`ProtocolViolation` saying what to do instead.
    """
    if len(datagram) < HEADER_SIZE:
        raise ProtocolViolation("UDP-SRV-1", Action.DROP, f"datagram of {len(datagram)} bytes is shorter than a header")
    header = unpack_header(datagram)
    check_request(header, transport=Transport.UDP, max_payload=max_payload, datagram_length=len(datagram))
    return Message(header, bytes(datagram[HEADER_SIZE:]))


@dataclass(frozen=True, slots=True)
class ReplyProblem:
    """One reason a message is not an acceptable reply."""

    #: The requirement the message breaks.
    requirement: str
    #: What is wrong, in one sentence.
    detail: str


def reply_problems(data: bytes, *, request: Header, datagram: bool) -> list[ReplyProblem]:
    """Every reason ``data`` is not an acceptable reply to ``request`` (empty when it is).

    ``data`` is a whole UDP datagram (``datagram=True``) or, over TCP, the header
    and the payload that followed it. Clients ignore (UDP) or reject (TCP) a reply
    with any problem; the conformance suite reports each one.
    """
    if len(data) < HEADER_SIZE:
        return [ReplyProblem("MSG-1", f"{len(data)} bytes is shorter than a header")]
    h = unpack_header(data)
    problems: list[ReplyProblem] = []

    def problem(requirement: str, detail: str) -> None:
        problems.append(ReplyProblem(requirement, detail))

    if h.magic != MAGIC:
        problem("MSG-2", f"magic is {h.magic!r}, not b'RR'")
    if h.version != VERSION:
        problem("MSG-2", f"version is {h.version}, not {VERSION}")
    if not h.flags & Flag.REPLY:
        problem("SRV-12", "REPLY flag is clear")
    if h.reserved_flags:
        problem("MSG-3", f"reserved flag bits 0x{h.reserved_flags:02x} set")
    if h.request_id != request.request_id:
        problem("SRV-12", f"request_id 0x{h.request_id:016x} is not the request's 0x{request.request_id:016x}")
    if h.operation != request.operation:
        problem("SRV-12", f"operation 0x{h.operation:04x} is not the request's 0x{request.operation:04x}")
    payload_length = len(data) - HEADER_SIZE
    if (datagram and payload_length != h.size) or (not datagram and payload_length < h.size):
        problem("MSG-4", f"size says {h.size}, {payload_length} payload bytes arrived")
    if h.result != Result.OK and h.size != 0:
        problem("SRV-13", f"error reply carries {h.size} payload bytes")
    return problems


#: TCP-SRV-15's unsolicited BUSY: the 20 bytes a TCP server over its connection limits may send before reading
#: anything (request_id 0, which no request carries, operation NOOP); a client takes it as a refusal (TCP-CLI-5).
UNSOLICITED_BUSY: bytes = pack_reply(Header(operation=Op.NOOP, request_id=0), Result.BUSY)


def is_unsolicited_busy(data: bytes | bytearray | memoryview) -> bool:
    """True when ``data`` starts with :data:`UNSOLICITED_BUSY` (over TCP only: UDP has no unsolicited reply)."""
    return bytes(data[:HEADER_SIZE]) == UNSOLICITED_BUSY
