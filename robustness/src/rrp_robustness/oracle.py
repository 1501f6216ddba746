"""What the spec says a server must answer, written from ``rrp_spec`` alone: the oracle for the core tests.

The state-machine tests and the core fuzz targets hold python-ref's server cores
against these functions. They use :func:`rrp_spec.check_request` and
:func:`rrp_spec.decode_request_datagram` for every verdict, and the operations'
definitions (SRV-9, SRV-10, SRV-11, SRV-6) for the replies, so a core that disagrees
with them disagrees with the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rrp_spec import (
    AMPLIFICATION_FACTOR,
    COUNTER_SIZE,
    HEADER_SIZE,
    MAX_REQUEST_ID,
    Action,
    Header,
    Op,
    ProtocolViolation,
    Result,
    Transport,
    check_request,
    decode_request_datagram,
    pack_reply,
    unpack_header,
)

_COUNTER_MODULUS = MAX_REQUEST_ID + 1
assert _COUNTER_MODULUS == 1 << (8 * COUNTER_SIZE)


@dataclass(slots=True)
class Operations:
    """The three operations of RRP/1, and application handlers (SRV-6: any other operation is unknown)."""

    #: The INCREMENT counter.
    counter: int = 0
    #: Application operations the server implements: payload in, OK payload out.
    handlers: dict[int, Callable[[bytes], bytes]] = field(default_factory=dict)

    def reply(self, header: Header, payload: bytes) -> bytes:
        """The reply the server sends to an accepted request."""
        if header.operation == Op.ECHO:
            return pack_reply(header, Result.OK, payload)
        if header.operation == Op.NOOP:
            return pack_reply(header, Result.OK)
        if header.operation == Op.INCREMENT:
            self.counter = (self.counter + 1) % _COUNTER_MODULUS
            return pack_reply(header, Result.OK, self.counter.to_bytes(COUNTER_SIZE, "big"))
        handler = self.handlers.get(header.operation)
        if handler is not None:
            return pack_reply(header, Result.OK, handler(payload))
        return pack_reply(header, Result.UNKNOWN_OPERATION)


@dataclass(slots=True)
class StreamVerdict:
    """What a TCP server must have done with a stream's bytes so far."""

    #: Every reply due, in request order (TCP-SRV-2).
    replies: list[bytes] = field(default_factory=list)
    #: True when the spec closes the connection within these bytes.
    closed: bool = False
    #: Offset where the request still arriving starts (the stream's length when none is).
    pending_start: int = 0
    #: The accepted header of the request still arriving, when its payload is what is missing.
    pending_header: Header | None = None
    #: Offset just after the last request that was dealt with whole.
    completed_end: int = 0
    #: The operations, with their counter after these bytes.
    operations: Operations = field(default_factory=Operations)


def judge_stream(stream: bytes, *, max_payload: int, busy: bool = False, counter: int = 0) -> StreamVerdict:
    """Frame ``stream`` as the spec's TCP server does (MSG-5, TCP-SRV-1..4, TCP-SRV-9, SRV-1..8).

    ``busy`` is a connection over the connection limits: its first request, whatever
    it is, gets BUSY and the close (TCP-SRV-7, TCP-SRV-12), a framing violation the close.
    """
    verdict = StreamVerdict(operations=Operations(counter))
    offset = 0
    end = len(stream)
    while True:
        verdict.pending_start = offset
        if end - offset < HEADER_SIZE:
            return verdict
        header = unpack_header(stream, offset)
        try:
            check_request(header, transport=Transport.TCP, max_payload=max_payload)
        except ProtocolViolation as violation:
            if violation.action is Action.REPLY:
                verdict.replies.append(pack_reply(header, Result.BUSY if busy else violation.result or 0))
            if violation.action is Action.CLOSE or violation.close_after or busy:
                verdict.closed = True
                return verdict
            # The framing is intact: the payload is discarded (TCP-SRV-9).
            if end - offset - HEADER_SIZE < header.size:
                return verdict
            offset += HEADER_SIZE + header.size
            verdict.completed_end = offset
            continue
        if busy:
            verdict.replies.append(pack_reply(header, Result.BUSY))
            verdict.closed = True
            return verdict
        if end - offset - HEADER_SIZE < header.size:
            verdict.pending_header = header
            return verdict
        payload = bytes(stream[offset + HEADER_SIZE : offset + HEADER_SIZE + header.size])
        verdict.replies.append(verdict.operations.reply(header, payload))
        offset += HEADER_SIZE + header.size
        verdict.completed_end = offset


#: Operations whose reply depends only on the request (UDP-SRV-7 lets a server carry them out again).
_STATELESS = frozenset({int(Op.NOOP), int(Op.ECHO)})


@dataclass(slots=True)
class DatagramServer:
    """The spec's UDP server: judging (UDP-SRV-1..3, SRV-1..8), the duplicate-reply window (UDP-SRV-7)
    and the amplification bound (UDP-SRV-5). Rate limiting is off, as by default."""

    #: The duplicate-reply window in seconds.
    window: float
    #: Largest payload accepted.
    max_payload: int
    operations: Operations = field(default_factory=Operations)
    #: (host, port, request_id) -> (expiry, reply) for every request carried out.
    cache: dict[tuple[str, int, int], tuple[float, bytes]] = field(default_factory=dict)

    def acceptable(self, datagram: bytes, peer: tuple[str, int], now: float) -> tuple[bytes | None, ...]:
        """Every answer the spec allows for ``datagram`` from ``peer`` at ``now``; ``None`` means silence.

        Usually exactly one. A retransmission inside the window gets the reply sent
        before (UDP-SRV-7), unless that reply is more than three times the size of the
        datagram that asks for it now (a shorter datagram reusing the ID): then
        UDP-SRV-5 forbids sending it, and silence or a bare TOO_LARGE are the answers
        that break neither rule. A reply is cached for exactly one window and has
        expired at ``now == expiry`` (the spec sets only the window's minimum; the
        tests keep the boundary exact).
        """
        try:
            message = decode_request_datagram(datagram, self.max_payload)
        except ProtocolViolation as violation:
            return (violation.error_reply() if violation.action is Action.REPLY else None,)
        key = (peer[0], peer[1], message.header.request_id)
        cached = self.cache.get(key)
        from_cache: tuple[bytes | None, ...] = ()
        if cached is not None and now < cached[0]:
            reply = cached[1]
            if len(reply) > AMPLIFICATION_FACTOR * len(datagram):
                from_cache = (
                    None,
                    pack_reply(message.header, Result.TOO_LARGE),
                    pack_reply(unpack_header(reply), Result.TOO_LARGE),
                )
            else:
                from_cache = (reply,)
        stateless = message.header.operation in _STATELESS
        if from_cache and not stateless:
            return from_cache
        # NOOP and ECHO MAY be carried out again instead (UDP-SRV-7): the same bytes, and nothing to remember.
        reply = self.operations.reply(message.header, message.payload)
        if len(reply) > AMPLIFICATION_FACTOR * len(datagram):
            reply = pack_reply(message.header, Result.TOO_LARGE)
        if stateless:
            return (reply, *from_cache)
        self.cache[key] = (now + self.window, reply)
        return (reply,)

    def expire(self, now: float) -> None:
        """Forget the replies whose window has passed."""
        for key in [k for k, (expiry, _) in self.cache.items() if expiry <= now]:
            del self.cache[key]
