"""Operation semantics over each transport: NOOP, ECHO, INCREMENT, application operations, the reply header.

Every reply is judged against :func:`rrp_spec.reply_problems` as well, so a wrong
request ID, a clear REPLY flag or a set reserved bit fails SRV-12/MSG-* in every check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

from rrp_spec import (
    APPLICATION_RANGE_END,
    APPLICATION_RANGE_START,
    COUNTER_SIZE,
    HEADER_SIZE,
    MAX_REQUEST_ID,
    Header,
    Op,
    Result,
    pack_request,
    unpack_header,
)

from ..context import CheckContext
from ..registry import Registry
from .env import ServerEnv
from .judge import REPLY_WAIT, judge_reply, tcp_first_exchange, udp_exchange
from .net import Ending, TcpChannel, UdpChannel, fresh_id

#: NOOP, ECHO, INCREMENT and application-operation checks, each over both transports.
DISPATCH_CHECKS: Registry[ServerEnv] = Registry()
#: Both transports, UDP first.
_BOTH = ("udp", "tcp")


class Asker(Protocol):
    """Sends one request and returns the target's reply, or ``None``."""

    def __call__(self, data: bytes, note: str = "") -> bytes | None: ...


@contextlib.contextmanager
def asker(ctx: CheckContext[ServerEnv], transport: str) -> Iterator[Asker]:
    """A request/reply function over ``transport``: one UDP socket, or one persistent TCP connection."""
    env = ctx.env
    if transport == "udp":
        assert env.udp is not None
        with UdpChannel(ctx.log, env.udp, env.amplification) as udp:

            def ask_udp(data: bytes, note: str = "") -> bytes | None:
                return udp_exchange(ctx, udp, data, note)

            yield ask_udp
        return
    wait = ctx.timing.scaled(REPLY_WAIT)
    opened: list[TcpChannel] = []

    def ask_tcp(data: bytes, note: str = "") -> bytes | None:
        if not opened:  # the first request opens the connection (retrying a refusal left over by earlier checks)
            channel, read = tcp_first_exchange(ctx, data, note)
            opened.append(channel)
        elif opened[0].send(data, note):
            read = opened[0].read_message(wait)
        else:
            return None
        return read.data if read.ending is Ending.MESSAGE else None

    try:
        yield ask_tcp
    finally:
        for channel in opened:
            channel.close()


def _ask_ok(
    ctx: CheckContext[ServerEnv], ask: Asker, transport: str, data: bytes, requirement: str, note: str = ""
) -> tuple[Header, bytes] | None:
    reply = ask(data, note)
    header = judge_reply(
        ctx, reply, unpack_header(data), datagram=transport == "udp", result=Result.OK, requirement=requirement
    )
    if reply is None or header is None or header.result != Result.OK:
        return None
    return header, reply[HEADER_SIZE:]


@DISPATCH_CHECKS.check_each(
    _BOTH,
    "noop",
    f"NOOP with request IDs 1, 2^{MAX_REQUEST_ID.bit_length()}-1 and a random one: OK, empty, ID and operation echoed, "
    "REPLY set.",
    area="dispatch",
    requirements=("SRV-9", "SRV-12", "MSG-1", "MSG-2", "MSG-3"),
)
def _noop(ctx: CheckContext[ServerEnv], transport: str) -> None:
    with asker(ctx, transport) as ask:
        for rid in (1, MAX_REQUEST_ID, fresh_id()):
            got = _ask_ok(ctx, ask, transport, pack_request(Op.NOOP, rid), "SRV-9", f"NOOP, request_id {rid:#x}")
            if got is not None:
                ctx.expect(not got[1], "SRV-9", "an empty payload", f"{len(got[1])} payload bytes")


#: ECHO payloads: empty, text, every byte value, and a block that spans several TCP segments.
_ECHO_PAYLOADS = (b"", b"hello", bytes(range(256)), bytes(i % 251 for i in range(3000)))


@DISPATCH_CHECKS.check_each(
    _BOTH,
    "echo",
    f"ECHO of {', '.join(str(len(p)) for p in _ECHO_PAYLOADS[:-1])} and {len(_ECHO_PAYLOADS[-1])} bytes: "
    "the same bytes back, size equal to the payload length (each cut to the claimed payload limit).",
    area="dispatch",
    requirements=("SRV-10", "MSG-4", "SRV-12"),
)
def _echo(ctx: CheckContext[ServerEnv], transport: str) -> None:
    limit = ctx.env.claims.max_payload(transport)
    with asker(ctx, transport) as ask:
        for payload in dict.fromkeys(ctx.env.claims.fit(p, transport) for p in _ECHO_PAYLOADS):  # within the claim
            note = "" if len(payload) < limit else f"{len(payload)} bytes: the claimed limit"
            got = _ask_ok(ctx, ask, transport, pack_request(Op.ECHO, fresh_id(), payload), "SRV-10", note)
            if got is not None:
                ctx.expect(
                    got[1] == payload,
                    "SRV-10",
                    f"the {len(payload)} payload bytes back, identical",
                    f"{len(got[1])} bytes, {'identical' if got[1] == payload else 'different'}",
                )


def _counter(ctx: CheckContext[ServerEnv], ask: Asker, transport: str, requirement: str) -> int | None:
    got = _ask_ok(ctx, ask, transport, pack_request(Op.INCREMENT, fresh_id()), requirement, "INCREMENT")
    if got is None:
        return None
    if not ctx.expect(
        len(got[1]) == COUNTER_SIZE,
        "SRV-11",
        f"a {COUNTER_SIZE}-byte big-endian counter",
        f"{len(got[1])} payload bytes",
    ):
        return None
    return int.from_bytes(got[1], "big")


@DISPATCH_CHECKS.check_each(
    _BOTH,
    "increment",
    f"Two INCREMENTs: {COUNTER_SIZE}-byte big-endian counters, the second one more than the first.",
    area="dispatch",
    requirements=("SRV-11", "SRV-12"),
)
def _increment(ctx: CheckContext[ServerEnv], transport: str) -> None:
    with asker(ctx, transport) as ask:
        first = _counter(ctx, ask, transport, "SRV-11")
        second = _counter(ctx, ask, transport, "SRV-11")
    if first is not None and second is not None:
        ctx.expect(
            second == first + 1,
            "SRV-11",
            f"the second INCREMENT to return {first + 1}",
            f"{second}",
        )


@DISPATCH_CHECKS.check_each(
    _BOTH,
    "increment-with-payload-not-counted",
    "INCREMENT, INCREMENT with a payload (MALFORMED), INCREMENT: the rejected one must not count.",
    area="dispatch",
    requirements=("SRV-7", "SRV-11"),
)
def _rejected_increment(ctx: CheckContext[ServerEnv], transport: str) -> None:
    # A fresh socket per step: whether a TCP connection survives an error reply is TCP-SRV-9's business.
    with asker(ctx, transport) as ask:
        before = _counter(ctx, ask, transport, "SRV-11")
    with asker(ctx, transport) as ask:
        bad = pack_request(Op.INCREMENT, fresh_id(), b"\x01")
        reply = ask(bad, "INCREMENT with a payload: MALFORMED, and the counter must not move")
        judge_reply(
            ctx,
            reply,
            unpack_header(bad),
            datagram=transport == "udp",
            result=Result.MALFORMED,
            requirement="SRV-7",
        )
    with asker(ctx, transport) as ask:
        after = _counter(ctx, ask, transport, "SRV-11")
    if before is not None and after is not None:
        ctx.expect(
            after == before + 1,
            "SRV-7",
            f"the rejected INCREMENT not counted: the next one returns {before + 1}",
            f"it returned {after}",
        )


@DISPATCH_CHECKS.check_each(
    _BOTH,
    "application-operations",
    f"Operations 0x{APPLICATION_RANGE_START:04x} and 0x{APPLICATION_RANGE_END:04x}: a well-formed reply "
    "(UNKNOWN_OPERATION unless implemented).",
    area="dispatch",
    requirements=("SRV-6", "SRV-12", "SRV-13"),
)
def _application(ctx: CheckContext[ServerEnv], transport: str) -> None:
    with asker(ctx, transport) as ask:
        for op, payload in ((APPLICATION_RANGE_START, b"\x01\x02"), (APPLICATION_RANGE_END, b"")):
            data = pack_request(op, fresh_id(), payload)
            reply = ask(data, f"application operation 0x{op:04x}")
            if reply is None:
                ctx.fail("SRV-6", f"a reply to operation 0x{op:04x} (UNKNOWN_OPERATION if not implemented)", "none")
                continue
            header = judge_reply(
                ctx,
                reply,
                unpack_header(data),
                datagram=transport == "udp",
                result=Result(unpack_header(reply).result) if _known_result(reply) else Result.OK,
                requirement="SRV-6",
            )
            if header is not None:
                ctx.note(f"operation 0x{op:04x}: result {header.result}")


def _known_result(reply: bytes) -> bool:
    return len(reply) >= HEADER_SIZE and unpack_header(reply).result in Result._value2member_map_
