"""Judging what the target sent back, and the sanity probes: the server suite's shared verdict helpers."""

from __future__ import annotations

import os
import time

from rrp_spec import HEADER_SIZE, MAGIC, Flag, Header, Result, reply_problems, unpack_header

from ..context import CheckContext, Timing
from ..wirelog import WireLog
from .env import ServerEnv
from .net import Ending, TcpChannel, TcpRead, UdpChannel, describe, echo_request

#: Seconds (before scaling) a well-behaved target has to answer a request that needs no waiting.
REPLY_WAIT = 2.0
#: Attempts per UDP exchange: retransmission with the same ID is what the spec lets a client do about loss.
UDP_ATTEMPTS = 3
#: Seconds (before scaling) per UDP attempt.
UDP_ATTEMPT_WAIT = 1.0


def result_name(value: int) -> str:
    """A result code's name, or its number."""
    return Result(value).name if value in Result._value2member_map_ else str(value)


def judge_reply(
    ctx: CheckContext[ServerEnv],
    reply: bytes | None,
    request: Header,
    *,
    datagram: bool,
    result: Result,
    requirement: str,
) -> Header | None:
    """Fail ``requirement`` unless ``reply`` exists and carries ``result``; fail each well-formedness problem.

    Returns the reply's header when there is one.
    """
    if reply is None:
        ctx.fail(requirement, f"a {result.name} reply", "no reply")
        return None
    seen: set[tuple[str, str]] = set()
    for problem in reply_problems(reply, request=request, datagram=datagram):
        if (problem.requirement, problem.detail) not in seen:
            seen.add((problem.requirement, problem.detail))
            ctx.fail(problem.requirement, "a well-formed reply to the request", problem.detail)
    if len(reply) < HEADER_SIZE:
        return None
    header = unpack_header(reply)
    ctx.expect(
        header.result == result,
        requirement,
        f"a {result.name} reply",
        f"a {result_name(header.result)} reply ({describe(reply)})",
    )
    return header


#: Fresh connections tried when the first one is closed or answered BUSY before anything else.
FRESH_CONNECTION_TRIES = 3


def tcp_first_exchange(ctx: CheckContext[ServerEnv], data: bytes, note: str = "") -> tuple[TcpChannel, TcpRead]:
    """Connect, send ``data`` and read the first message; the channel stays open for the caller to close.

    A target at its per-source limit may still be releasing the suite's previous connections: when a fresh
    connection is closed, reset or answered BUSY before anything else, the suite waits a moment and tries a
    new one, so that a check is never failed for what the check before it left behind.
    """
    assert ctx.env.tcp is not None
    wait = ctx.timing.scaled(REPLY_WAIT)
    for attempt in range(1, FRESH_CONNECTION_TRIES + 1):
        channel = TcpChannel(ctx.log, ctx.env.tcp, timeout=wait)
        channel.send(data, note)
        read = channel.read_message(wait)
        busy = read.ending is Ending.MESSAGE and unpack_header(read.data).result == Result.BUSY
        if not (busy or (read.closed and not read.data)) or attempt == FRESH_CONNECTION_TRIES:
            return channel, read
        ctx.log.event(channel.name, "refused at once: the target may still be releasing earlier connections")
        channel.close()
        time.sleep(ctx.timing.scaled(0.3))
    raise AssertionError("unreachable")


def udp_exchange(ctx: CheckContext[ServerEnv], channel: UdpChannel, data: bytes, note: str = "") -> bytes | None:
    """:meth:`UdpChannel.exchange` with the suite's scaled wait and attempts."""
    return channel.exchange(data, timeout=ctx.timing.scaled(UDP_ATTEMPT_WAIT), attempts=UDP_ATTEMPTS, note=note)


#: Starts every probe's ECHO payload: a line-based server (HTTP, SMTP, Redis, ...) answers a line ending in
#: CRLF with a text error that shows what it is, where it would otherwise wait silently for the end of a line.
#: An RRP server echoes it like any other payload.
PROBE_PAYLOAD_PREFIX = b"RRP probe\r\n\r\n"
#: Bytes of a non-RRP answer quoted in the sentence that describes it.
_QUOTED = 40
#: How the sentence about a target that answers, but not as an RRP server, begins.
NOT_RRP = "this does not look like an RRP server"


def _quote(data: bytes) -> str:
    """The start of an answer, readable: text as text, the rest as escapes."""
    text = data[:_QUOTED].decode("ascii", errors="backslashreplace")
    return repr(text + ("..." if len(data) > _QUOTED else ""))


def not_an_rrp_reply(reply: bytes, request: bytes) -> str | None:
    """Why ``reply`` is no RRP reply to ``request`` at all (one clause), or ``None`` when it is one.

    Only what any RRP server gets right on a plain ECHO counts here: the header's
    magic, version and REPLY flag, and the request's ID and operation. Everything
    else is for the checks to grade.
    """
    if not reply:
        return None
    if reply == request:
        return "it sent the request back unchanged, as an echo service does"
    if len(reply) < HEADER_SIZE or reply[: len(MAGIC)] != MAGIC:
        return f"its answer does not start with an RRP header: {_quote(reply)}"
    header, asked = unpack_header(reply), unpack_header(request)
    if header.version != asked.version:
        return f"its answer has version {header.version}, not {asked.version}"
    if not header.flags & Flag.REPLY:
        return "its answer does not have the REPLY flag set"
    if header.request_id != asked.request_id:
        return f"its answer carries request ID 0x{header.request_id:016x}, not the request's 0x{asked.request_id:016x}"
    if header.operation != asked.operation:
        return f"its answer is for operation 0x{header.operation:04x}, not the ECHO that was sent"
    return None


def _probe_request() -> tuple[bytes, bytes]:
    payload = PROBE_PAYLOAD_PREFIX + os.urandom(8)
    data, _ = echo_request(payload)
    return data, payload


def probe_udp(env: ServerEnv, timing: Timing) -> str | None:
    """A plain ECHO over UDP; ``None`` when it is answered correctly, else one sentence saying what went wrong."""
    assert env.udp is not None
    data, payload = _probe_request()
    with UdpChannel(WireLog(), env.udp) as channel:
        reply = channel.exchange(data, timeout=timing.scaled(UDP_ATTEMPT_WAIT), attempts=UDP_ATTEMPTS)
    if reply is None:
        return f"no reply to an ECHO over UDP in {UDP_ATTEMPTS} attempts"
    foreign = not_an_rrp_reply(reply, data)
    if foreign is not None:
        return f"{NOT_RRP}: {foreign}"
    if reply[HEADER_SIZE:] != payload or unpack_header(reply).result != Result.OK:
        return f"wrong reply to an ECHO over UDP: {describe(reply)}"
    return None


def probe_tcp(env: ServerEnv, timing: Timing) -> str | None:
    """A plain ECHO on a fresh TCP connection; ``None`` when it is answered correctly, else one sentence."""
    assert env.tcp is not None
    data, payload = _probe_request()
    wait = timing.scaled(REPLY_WAIT)
    try:
        with TcpChannel(WireLog(), env.tcp, timeout=wait) as channel:
            channel.send(data)
            got = channel.read_message(wait)
    except OSError as error:
        return f"cannot connect over TCP: {error.strerror or error!r}"
    foreign = not_an_rrp_reply(got.data, data)
    if foreign is not None:
        return f"{NOT_RRP}: {foreign}"
    if not got.data:
        why = {Ending.TIMEOUT: f"nothing within {wait:g} s", Ending.EOF: "it closed the connection"}
        return f"no reply to an ECHO over TCP: {why.get(got.ending, 'it reset the connection')}"
    answered = len(got.data) >= HEADER_SIZE and unpack_header(got.data).result == Result.OK
    if not answered or got.data[HEADER_SIZE:] != payload:
        return f"no correct reply to an ECHO over TCP ({got.ending.value}: {describe(got.data)})"
    return None
