"""Replies a hostile server sends: the genuine one, and forgeries a client must not accept.

Every forgery carries :data:`FORGED_PAYLOAD` where it has a payload, so that when
a client prints it (the adapter contract prints the accepted reply's payload) the
suite knows which message the client took for the answer. Each forgery breaks one
rule a client must judge a reply by (CLI-3, via
:func:`rrp_spec.reply_problems`); a test proves that the spec's own judge rejects
every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rrp_spec import (
    APPLICATION_RANGE_END,
    HEADER_SIZE,
    MAX_REQUEST_ID,
    RESERVED_FLAG_BITS,
    VERSION,
    Flag,
    Header,
    Result,
    pack_header,
    pack_reply,
    unpack_header,
)

#: The payload of every forged reply: recognisable in a client's output and in a wire log.
FORGED_PAYLOAD = b"FORGED-REPLY-DO-NOT-ACCEPT"


@dataclass(frozen=True, slots=True)
class Forgery:
    """A reply a client must not accept, and why."""

    #: What is wrong with it, for the wire log ("request_id off by one").
    note: str
    data: bytes


def genuine_reply(request: bytes) -> bytes:
    """The correct ECHO-style reply: the request's ID and operation, REPLY set, OK, the request's payload back."""
    return pack_reply(unpack_header(request), Result.OK, request[HEADER_SIZE:])


def _reply_header(request: Header, **changes: int | bytes) -> Header:
    reply = Header(
        operation=request.operation,
        request_id=request.request_id,
        flags=int(Flag.REPLY),
        result=int(Result.OK),
        size=len(FORGED_PAYLOAD),
    )
    return replace(reply, **changes)  # type: ignore[arg-type]


def _message(header: Header, payload: bytes = FORGED_PAYLOAD) -> bytes:
    return pack_header(header) + payload


def impostor_reply(request: bytes, source: str) -> Forgery:
    """A well-formed reply to the request, with the forged payload: it is only wrong in where it comes from."""
    return Forgery(
        f"forged: sent from {source}, not the address asked",
        pack_reply(unpack_header(request), Result.OK, FORGED_PAYLOAD),
    )


def wrong_id_replies(request: bytes) -> tuple[Forgery, ...]:
    """Well-formed replies to someone else's request: the ID off by one, and the ID with its top bit flipped.

    The second catches a client that compares only the low 32 bits.
    """
    header = unpack_header(request)
    off_by_one = header.request_id % MAX_REQUEST_ID + 1  # never 0, never the request's own ID
    top_bit = MAX_REQUEST_ID ^ (MAX_REQUEST_ID >> 1)
    # Flipping the top bit of 0x8000000000000000 gives the invalid ID 0; flip a
    # higher-half bit that is clear instead, so the low 32 bits still match.
    top_bit_flipped = header.request_id ^ top_bit or header.request_id ^ (top_bit >> 31)
    return (
        Forgery("forged: request_id off by one", _message(_reply_header(header, request_id=off_by_one))),
        Forgery("forged: request_id, top bit flipped", _message(_reply_header(header, request_id=top_bit_flipped))),
    )


def malformed_replies(request: bytes) -> tuple[Forgery, ...]:
    """Replies with the right request ID that are not well-formed replies, each broken in one way."""
    header = unpack_header(request)
    good = _reply_header(header)
    truncated = _message(good)[: HEADER_SIZE // 2]
    return (
        Forgery("forged: REPLY flag clear", _message(replace(good, flags=0))),
        Forgery("forged: magic is not RR", _message(replace(good, magic=b"XX"))),
        Forgery("forged: version is not 1", _message(replace(good, version=VERSION + 1))),
        Forgery("forged: a reserved flag bit set", _message(replace(good, flags=good.flags | RESERVED_FLAG_BITS))),
        Forgery(
            "forged: another operation",
            _message(replace(good, operation=(header.operation + 1) % (APPLICATION_RANGE_END + 1))),
        ),
        Forgery("forged: size larger than the payload", _message(replace(good, size=good.size + 1))),
        Forgery("forged: size smaller than the payload", _message(replace(good, size=good.size - 1))),
        Forgery("forged: error reply carrying a payload", _message(replace(good, result=int(Result.INTERNAL_ERROR)))),
        Forgery("forged: shorter than a header", truncated),
    )
