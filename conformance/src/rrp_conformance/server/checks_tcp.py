"""TCP server checks: framing, ordering, deadlines, idle timeout, slowloris, slow readers, connection limits and
the memory budget.

Timing bounds come from the claimed settings through :meth:`Timing.limit` (claim plus
grace, times ``--timeout-scale``); a correct server acts well inside them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from rrp_spec import (
    HEADER_SIZE,
    MAGIC,
    MAX_REQUEST_DEADLINE,
    MAX_SEND_TIMEOUT,
    MAX_SMALL_PAYLOAD,
    VERSION,
    Header,
    Op,
    Result,
    is_unsolicited_busy,
    pack_header,
    pack_request,
    reply_problems,
    unpack_header,
)

from ..context import CheckContext
from ..registry import Registry
from ..timing_audit import GRACE, BoundKind, TimingRow, audited
from .env import ServerEnv
from .held_payloads import held_to_fill, push, wait_drained
from .judge import REPLY_WAIT, judge_reply, result_name, tcp_first_exchange
from .net import Ending, Peek, TcpChannel, describe, echo_request, fresh_id, wait_for
from .pipeline_flood import PipelineFlood, flood_chunk

#: The TCP server checks, in run order (connection-limit checks last).
TCP_CHECKS: Registry[ServerEnv] = Registry()

#: Stalled connections in the slowloris check (the issue's figure), fewer when the claimed limit is lower.
SLOWLORIS_CONNECTIONS = 100
#: Seconds (before scaling) within which a fresh client's ECHO must complete while the slowloris holds on.
SLOWLORIS_LATENCY = 1.0
#: Seconds (before scaling) connection A pipelines requests in the fast-neighbour check; and of those, how long it
#: floods alone before B's first request, so that A's queue at the target is deep by then.
FAST_FLOOD, FAST_RAMP = 1.5, 0.2
#: The longest B may wait for one reply while A floods, as a share of the flood: a server that serves A until A's
#: socket is empty keeps B waiting for the whole flood; a fair one answers B within milliseconds.
FAST_WAIT_SHARE = 0.25
#: Requests in A's precomputed chunk; and the most A keeps unanswered, far more than any server frames from one
#: read (the reference's 256 KiB read holds 13,000), so every read finds a full buffer.
FAST_CHUNK, FAST_WINDOW = 4096, 1 << 16
#: B's median round trip (before scaling), and A's requests answered during one of B's, past both of which a target
#: fails. Medians over B's time, not over B's requests: a server that serves B at once between long turns of A's
#: answers many quick NOOPs and a few slow ones, but B spends most of its time in the slow ones. A server that
#: frames a whole read before it turns to another connection (the reference before hardening round 2: 13,000
#: requests a read, B's median 110-240 ms) is past both; a fair one is inside both (the reference now: 64 requests
#: a turn, B's median 1 ms), and a loaded machine stretches only the time, as the work done for A while B waits is
#: the server's own choice.
FAST_MEDIAN, FAST_WORK = 0.05, 2048
#: One wait of B's past the bound fails when the target went on answering A meanwhile: more than this many of A's
#: requests (four times the reference's turn), at no less than this share of A's mean rate over the flood. A target
#: that stalls on both connections at once (a loaded machine) is slow, not unfair; the share, not a count, is what
#: tells the two apart whatever the load.
FAST_TURN, FAST_BUSY_SHARE = 256, 0.5
#: The longest pause between bytes of the slow drip; shorter when the claimed deadline is short.
DRIP_INTERVAL = 0.5
#: ECHO requests sent in one segment by the pipelining check.
PIPELINED = 3
#: Connections the garbage check fills with random bytes before it checks the target still serves.
GARBAGE_STREAMS = 5
#: Payload bytes the short request's header announces, and how many of them arrive.
SHORT_REQUEST = (100, 10)
#: Largest payload per request in the slow-reader flood, and the most bytes the flood sends in all.
FLOOD_REQUEST, FLOOD_CAP = 1 << 16, 64 << 20
#: Open files the suite keeps free beside the connections it holds (probes, logs, the reports).
DESCRIPTOR_MARGIN = 64
#: Tries of the extra connection when the held ones are silent (the target may still be accepting them).
SILENT_RETRIES = 3
#: The slow reader's receive buffer: small, so the target's writes block soon.
FLOOD_RECEIVE_BUFFER = 4096
#: Seconds (before scaling) the flood's sends must stay blocked before it counts as stalled.
FLOOD_STALL = 0.5
#: The ECHO before the over-limit header in the final-reply check: more than the suite's small receive window
#: takes, less than a server's default send buffer, so the server's close finds reply bytes still unsent.
FINAL_REPLY_ECHO = 12_000

for _name, _what in (("tcp/short-request", "sending 10 of 100 announced bytes"), ("tcp/slow-drip", "the first byte")):
    audited(
        TimingRow(
            "server",
            _name,
            "TCP-SRV-5",
            BoundKind.MAXIMUM,
            f"a whole-request deadline from the first byte, at most {MAX_REQUEST_DEADLINE:g} s",
            f"waits for the close from {_what} until the claimed deadline + {GRACE:g} s, times the scale, but "
            f"never past {MAX_REQUEST_DEADLINE:g} s",
            f"for the target against its claim (by {GRACE:g} s x scale), never past the spec's maximum; the clock "
            "starts before the server's, so a server set exactly to the maximum can fail on noise",
        )
    )
audited(
    TimingRow(
        "server",
        "tcp/slow-reader",
        "TCP-SRV-10",
        BoundKind.MAXIMUM,
        f"a reset once the kernel has taken no reply bytes for the send timeout, at most {MAX_SEND_TIMEOUT:g} s",
        f"floods ECHOs it never reads, from the flood's start until the claimed send timeout + {GRACE:g} s, "
        f"times the scale, but never past {MAX_SEND_TIMEOUT:g} s",
        "for the target against its claim, never past the spec's maximum; counted from before the target's "
        "writes block, so against the target by the time its buffers take to fill",
    )
)
audited(
    TimingRow(
        "server",
        "tcp/final-reply-close",
        "TCP-SRV-10",
        BoundKind.MAXIMUM,
        f"the close after a final reply ends within the send timeout, at most {MAX_SEND_TIMEOUT:g} s",
        f"from sending an unread ECHO and an over-limit header until the claimed send timeout + {GRACE:g} s, "
        f"times the scale, but never past {MAX_SEND_TIMEOUT:g} s",
        "for the target against its claim, never past the spec's maximum; counted from before the target "
        "could reply, so against it by that much",
    )
)
audited(
    TimingRow(
        "server",
        "tcp/busy-form",
        "TCP-SRV-15",
        BoundKind.MAXIMUM,
        f"an over-limit connection that sends nothing is answered or closed within the request deadline from "
        f"accept, at most {MAX_REQUEST_DEADLINE:g} s",
        f"from connect until the claimed deadline + {GRACE:g} s, times the scale, but never past "
        f"{MAX_REQUEST_DEADLINE:g} s",
        "for the target against its claim, never past the spec's maximum",
    )
)


def _connect(ctx: CheckContext[ServerEnv], **kwargs: object) -> TcpChannel:
    assert ctx.env.tcp is not None
    return TcpChannel(ctx.log, ctx.env.tcp, timeout=ctx.timing.scaled(REPLY_WAIT), **kwargs)  # type: ignore[arg-type]


def _read(ctx: CheckContext[ServerEnv], channel: TcpChannel, wait: float | None = None) -> bytes | None:
    read = channel.read_message(ctx.timing.scaled(REPLY_WAIT) if wait is None else wait)
    return read.data if read.ending is Ending.MESSAGE else None


@TCP_CHECKS.check(
    "tcp/split-1-byte",
    "An ECHO sent one byte per segment is answered.",
    requirements=("TCP-SRV-1",),
)
def _split(ctx: CheckContext[ServerEnv]) -> None:
    payload = b"one byte at a time"
    data, header = echo_request(payload)
    deadline = ctx.env.claims.request_deadline
    with _connect(ctx) as channel:
        started = time.monotonic()
        for i in range(len(data)):
            if not channel.send(data[i : i + 1], message_start=i == 0):
                break
            time.sleep(0.002)  # a separate segment per byte (TCP_NODELAY is set)
        took = time.monotonic() - started
        reply = _read(ctx, channel)
    if reply is None and took >= deadline:  # the suite was too slow, not the target: it may rightly have closed
        ctx.skip(f"the suite took {took:.2f} s to send the request, past the claimed {deadline:g} s deadline")
    header_ok = judge_reply(ctx, reply, header, datagram=False, result=Result.OK, requirement="TCP-SRV-1")
    if reply is not None and header_ok is not None and header_ok.result == Result.OK:
        ctx.expect(reply[HEADER_SIZE:] == payload, "TCP-SRV-1", "the payload back", describe(reply))


@TCP_CHECKS.check(
    "tcp/pipelined",
    f"{PIPELINED} ECHOs in one segment are all answered, in order.",
    requirements=("TCP-SRV-1", "TCP-SRV-2", "MSG-5"),
)
def _pipelined(ctx: CheckContext[ServerEnv]) -> None:
    requests = [echo_request(bytes([65 + i]) * (i + 1)) for i in range(PIPELINED)]
    together = b"".join(d for d, _ in requests)
    channel, first = tcp_first_exchange(ctx, together, f"{PIPELINED} ECHO requests in one segment")
    with channel:
        replies = [first.data if first.ending is Ending.MESSAGE else None]
        replies += [_read(ctx, channel) for _ in requests[1:]]
    ids = [h.request_id for _, h in requests]
    got = [r for r in replies if r is not None and len(r) >= HEADER_SIZE]
    got_ids = [unpack_header(r).request_id for r in got]
    if not ctx.expect(
        len(got) == len(requests),
        "TCP-SRV-1",
        f"{len(requests)} replies to {len(requests)} requests in one segment",
        f"{len(got)} replies",
    ):
        return
    ctx.expect(
        got_ids == ids,
        "TCP-SRV-2",
        "replies in the order of the requests",
        "request IDs in reply order: " + ", ".join(f"#{ids.index(i) + 1}" if i in ids else "?" for i in got_ids),
    )
    for (data, header), reply in zip(requests, replies, strict=True):
        if reply is not None and unpack_header(reply).request_id == header.request_id:
            judge_reply(ctx, reply, header, datagram=False, result=Result.OK, requirement="SRV-10")
            ctx.expect(reply[HEADER_SIZE:] == data[HEADER_SIZE:], "SRV-10", "the payload back", describe(reply))


@TCP_CHECKS.check(
    "tcp/error-keeps-connection",
    "A reserved operation with a payload, then an ECHO, in one segment: UNKNOWN_OPERATION, then the ECHO.",
    requirements=("TCP-SRV-9", "TCP-SRV-2", "SRV-6"),
)
def _error_keeps_connection(ctx: CheckContext[ServerEnv]) -> None:
    bad = pack_request(0x0003, fresh_id(), b"discard me")
    good, good_header = echo_request(b"next")
    channel, read = tcp_first_exchange(ctx, bad + good, "a reserved operation with a payload, then an ECHO")
    with channel:
        first = read.data if read.ending is Ending.MESSAGE else None
        second = _read(ctx, channel)
    if first is not None and len(first) >= HEADER_SIZE and unpack_header(first).request_id == good_header.request_id:
        ctx.fail("TCP-SRV-2", "the error reply first, then the ECHO reply", "the ECHO reply came first")
        return
    judge_reply(ctx, first, unpack_header(bad), datagram=False, result=Result.UNKNOWN_OPERATION, requirement="SRV-6")
    ctx.expect(
        second is not None and second[HEADER_SIZE:] == b"next",
        "TCP-SRV-9",
        "the rejected request's payload discarded and the ECHO behind it answered",
        describe(second) if second else "no second reply",
    )


@TCP_CHECKS.check(
    "tcp/max-payload",
    "ECHO with the claimed TCP limit is answered whole; a header announcing one more byte gets TOO_LARGE and a "
    "close before the suite sends any payload.",
    requirements=("TCP-SRV-4", "SRV-8", "TCP-SRV-1"),
)
def _max_payload(ctx: CheckContext[ServerEnv]) -> None:
    limit = ctx.env.claims.tcp_max_payload
    payload = os.urandom(limit)
    data, header = echo_request(payload)
    channel, read = tcp_first_exchange(ctx, data, f"ECHO with {limit} payload bytes, the claimed limit")
    channel.close()
    reply = read.data if read.ending is Ending.MESSAGE else None
    replied = judge_reply(ctx, reply, header, datagram=False, result=Result.OK, requirement="SRV-8")
    if reply is not None and replied is not None and replied.result == Result.OK:
        ctx.expect(
            reply[HEADER_SIZE:] == payload,
            "TCP-SRV-1",
            f"all {limit} bytes back, however they were split into segments",
            f"{len(reply) - HEADER_SIZE} bytes, {'identical' if reply[HEADER_SIZE:] == payload else 'different'}",
        )
    over = pack_request(Op.ECHO, fresh_id())[:HEADER_SIZE]
    over = over[:16] + (limit + 1).to_bytes(4, "big")
    with _connect(ctx) as channel:
        channel.send(over, f"header announcing {limit + 1} bytes; the suite never sends them")
        reply = _read(ctx, channel)
        judge_reply(ctx, reply, unpack_header(over), datagram=False, result=Result.TOO_LARGE, requirement="TCP-SRV-4")
        if reply is not None:
            got = channel.wait_closed(ctx.timing.limit(0))
            ctx.expect(got.closed, "TCP-SRV-4", "the connection closed after TOO_LARGE", "it stayed open")


@TCP_CHECKS.check(
    "tcp/short-request",
    f"A header announcing {SHORT_REQUEST[0]} bytes, {SHORT_REQUEST[1]} of them, then nothing: closed by the deadline.",
    requirements=("TCP-SRV-5",),
    informational=True,
)
def _short_request(ctx: CheckContext[ServerEnv]) -> None:
    announced, sent = SHORT_REQUEST
    data = pack_request(Op.ECHO, fresh_id(), bytes(announced))[: HEADER_SIZE + sent]
    with _connect(ctx) as channel:
        channel.send(data, f"header says {announced} payload bytes; {sent} follow, then nothing")
        got = channel.wait_closed(_deadline_bound(ctx))
    _judge_deadline_close(ctx, got.closed, got.data, got.elapsed, data)


def _deadline_bound(ctx: CheckContext[ServerEnv]) -> float:
    """Seconds from a request's first byte by which the connection must be closed: the claim with grace, never
    past the spec's maximum."""
    return ctx.timing.at_most(ctx.env.claims.request_deadline, MAX_REQUEST_DEADLINE)


def _judge_deadline_close(ctx: CheckContext[ServerEnv], closed: bool, data: bytes, elapsed: float, sent: bytes) -> None:
    deadline = ctx.env.claims.request_deadline
    if not ctx.expect(
        closed,
        "TCP-SRV-5",
        f"the connection closed by the whole-request deadline, claimed {deadline:g} s, at most "
        f"{MAX_REQUEST_DEADLINE:g} s (bound {_deadline_bound(ctx):.2f} s from the first byte)",
        f"still open after {elapsed:.2f} s",
    ):
        return
    ctx.measure("observed whole-request deadline", elapsed, "s", f"claimed {deadline:g} s")
    if data:
        reply_ok = len(data) == HEADER_SIZE and unpack_header(data).result == Result.TIMEOUT
        ctx.expect(
            reply_ok and unpack_header(data).request_id == unpack_header(sent).request_id,
            "TCP-SRV-5",
            "a close, optionally after a bare TIMEOUT reply",
            describe(data) + (f" ({result_name(unpack_header(data).result)})" if len(data) >= HEADER_SIZE else ""),
        )


@TCP_CHECKS.check(
    "tcp/slow-drip",
    "A request dripped one byte at a time is cut off at the whole-request deadline.",
    requirements=("TCP-SRV-5",),
    informational=True,
)
def _slow_drip(ctx: CheckContext[ServerEnv]) -> None:
    deadline = ctx.env.claims.request_deadline
    interval = min(DRIP_INTERVAL, deadline / 4)
    bound = _deadline_bound(ctx)
    data = pack_request(Op.ECHO, fresh_id(), bytes(SHORT_REQUEST[0]))
    with _connect(ctx) as channel:
        ctx.note(f"one byte every {interval:.3f} s; the deadline counts from the first byte")
        start = time.monotonic()
        for i in range(len(data)):
            if time.monotonic() - start > bound:
                break
            if not channel.send(data[i : i + 1], message_start=i == 0):
                _judge_deadline_close(ctx, True, b"", time.monotonic() - start, data)
                return
            if wait_for(channel.sock, interval):
                got = channel.wait_closed(max(0.0, bound - (time.monotonic() - start)))
                _judge_deadline_close(ctx, got.closed, got.data, time.monotonic() - start, data)
                return
        else:
            ctx.skip("the whole request went out before the deadline; claim a shorter --request-deadline")
        _judge_deadline_close(ctx, False, b"", time.monotonic() - start, data)


for _name, _from in (("tcp/idle-timeout", "the reply's arrival"), ("tcp/idle-before-first-request", "connect")):
    audited(
        TimingRow(
            "server",
            _name,
            "TCP-SRV-6",
            BoundKind.CLAIM,
            "an idle timeout, of the server's choosing: no number",
            f"waits for the close from {_from} until the claimed idle timeout + {GRACE:g} s, times the scale",
            f"for the target, by {GRACE:g} s x scale over its claim (measurement starts after the server's "
            "clock does); there is no spec bound for it to stretch",
        )
    )


@TCP_CHECKS.check(
    "tcp/idle-timeout",
    "A connection left silent after a request is closed by the idle timeout.",
    requirements=("TCP-SRV-6",),
    informational=True,
)
def _idle(ctx: CheckContext[ServerEnv]) -> None:
    idle = ctx.env.claims.idle_timeout
    data, header = echo_request(b"then silence")
    channel, read = tcp_first_exchange(ctx, data)
    with channel:
        reply = read.data if read.ending is Ending.MESSAGE else None
        judge_reply(ctx, reply, header, datagram=False, result=Result.OK, requirement="SRV-10")
        got = channel.wait_closed(ctx.timing.limit(idle))
    if ctx.expect(
        got.closed,
        "TCP-SRV-6",
        f"the idle connection closed by the claimed idle timeout of {idle:g} s (bound {ctx.timing.limit(idle):.2f} s)",
        f"still open after {got.elapsed:.2f} s",
    ):
        ctx.measure("observed idle timeout", got.elapsed, "s", f"claimed {idle:g} s")


@TCP_CHECKS.check(
    "tcp/idle-before-first-request",
    "A connection that never sends a byte is closed by the idle timeout too.",
    requirements=("TCP-SRV-6",),
    informational=True,
)
def _idle_before_first_request(ctx: CheckContext[ServerEnv]) -> None:
    idle = ctx.env.claims.idle_timeout
    bound = ctx.timing.limit(idle)
    with _connect(ctx) as channel:
        ctx.log.event(channel.name, "connected; the suite sends nothing")
        got = channel.wait_closed(bound)
    if got.data:
        ctx.fail("TCP-SRV-6", "a close without a reply to a connection that sent nothing", describe(got.data))
    if ctx.expect(
        got.closed,
        "TCP-SRV-6",
        f"a connection that never sent a byte closed by the claimed idle timeout of {idle:g} s "
        f"(bound {bound:.2f} s from connect)",
        f"still open after {got.elapsed:.2f} s",
    ):
        ctx.measure("observed idle timeout of a fresh connection", got.elapsed, "s", f"claimed {idle:g} s")


@TCP_CHECKS.check(
    "tcp/garbage",
    f"Garbage streams on {GARBAGE_STREAMS} connections, then an ECHO on one more: answered.",
    requirements=("SRV-16", "TCP-SRV-3"),
    destructive=True,
)
def _garbage(ctx: CheckContext[ServerEnv]) -> None:
    rng = random.Random(os.urandom(8))
    for n in range(GARBAGE_STREAMS):
        body = rng.randbytes(512)
        if n % 2:
            body = MAGIC + bytes([VERSION]) + body
        with contextlib.suppress(OSError), _connect(ctx) as channel:
            channel.send(body, f"garbage stream {n + 1}")
            channel.wait_closed(ctx.timing.scaled(0.2))
    data, header = echo_request(b"still there?")
    channel, read = tcp_first_exchange(ctx, data)
    channel.close()
    reply = read.data if read.ending is Ending.MESSAGE else None
    judge_reply(ctx, reply, header, datagram=False, result=Result.OK, requirement="SRV-16")


@TCP_CHECKS.check(
    "tcp/slowloris",
    f"With up to {SLOWLORIS_CONNECTIONS} connections stalled in the header, a fresh ECHO is answered within "
    f"{SLOWLORIS_LATENCY:g} s.",
    requirements=("TCP-SRV-8",),
    destructive=True,
    informational=True,
)
def _slowloris(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    count = min(SLOWLORIS_CONNECTIONS, claims.max_connections - 1)
    sources = _sources(ctx, count, claims.max_connections_per_source)
    stalled: list[TcpChannel] = []
    try:
        for i, source in enumerate(sources):
            try:
                channel = _connect(ctx, source=source, label=f"stalled#{i + 1}")
            except OSError:
                continue
            stalled.append(channel)
            if i < 3:
                channel.send(MAGIC[:1], "one byte of a header, then nothing", message_start=False)
            else:
                channel.sock.send(MAGIC[:1])
        ctx.log.event("slowloris", f"{len(stalled)} connections stalled in the header")
        time.sleep(ctx.timing.scaled(0.1))
        data, header = echo_request(b"fresh client")
        bound = ctx.timing.scaled(SLOWLORIS_LATENCY)
        start = time.monotonic()
        try:
            with _connect(ctx, label="fresh") as fresh:
                fresh.send(data)
                read = fresh.read_message(bound)
        except OSError as error:
            ctx.fail("TCP-SRV-8", "a fresh client served at once", f"connect failed: {error!r}")
            return
        latency = time.monotonic() - start
    finally:
        for channel in stalled:
            channel.close()
    served = read.ending is Ending.MESSAGE and read.data[HEADER_SIZE:] == b"fresh client"
    if ctx.expect(
        served and latency <= bound,
        "TCP-SRV-8",
        f"with {len(stalled)} connections stalled, a fresh ECHO answered within {bound:.2f} s",
        f"{'answered' if served else read.ending.value} after {latency:.2f} s",
    ):
        ctx.measure("fresh ECHO latency under slowloris", latency, "s", f"{len(stalled)} stalled connections")
        judge_reply(ctx, read.data, header, datagram=False, result=Result.OK, requirement="TCP-SRV-8")


@functools.cache
def _fast_chunk() -> bytes:
    return flood_chunk(FAST_CHUNK)


def _noop() -> tuple[bytes, Header]:
    data = pack_request(Op.NOOP, fresh_id())
    return data, unpack_header(data)


@dataclass(frozen=True)
class FastProbe:
    """One request on connection B while connection A floods (tcp/fast-neighbour)."""

    #: Seconds from sending to the reply (or to giving up), and A's requests the target answered meanwhile.
    took: float
    flood_answered: int
    #: How the wait ended: a reply (``MESSAGE``), a timeout, or the target ending B.
    ending: Ending


def _probe_while_flooding(
    channel: TcpChannel, flood: PipelineFlood, until: float, bound: float
) -> tuple[list[FastProbe], tuple[bytes, Header] | None]:
    """One NOOP at a time on ``channel`` until ``until``; and the first reply that was not a plain OK to its NOOP,
    with that NOOP. The probing stops at the first wait past ``bound`` during which the target answered more
    of A's requests than :func:`_busy_with_a` allows (the verdict is known), or at the first that gets no reply."""
    probes: list[FastProbe] = []
    while time.monotonic() < until and not flood.ended:
        data, header = _noop()
        answered = flood.answered
        start = time.monotonic()
        channel.send(data)
        if not wait_for(channel.sock, bound):
            waited, served = time.monotonic() - start, flood.answered - answered
            if _busy_with_a(waited, served, flood.answered / (time.monotonic() - flood.started)):
                probes.append(FastProbe(waited, served, Ending.TIMEOUT))
                break
            # Slow on A too, so far: a loaded machine, or replies to A written at the end of a long turn. Wait on.
            wait_for(channel.sock, until - time.monotonic())
        read = channel.read_message(bound)
        probes.append(FastProbe(time.monotonic() - start, flood.answered - answered, read.ending))
        if read.ending is not Ending.MESSAGE:
            break
        if reply_problems(read.data, request=header, datagram=False) or unpack_header(read.data).result != Result.OK:
            return probes, (read.data, header)
    return probes, None


def _busy_with_a(waited: float, served: int, rate: float) -> bool:
    """Whether the target answered A's requests while B waited ``waited`` s: ``served`` of them, more than
    :data:`FAST_TURN` and at no less than :data:`FAST_BUSY_SHARE` of A's mean ``rate``."""
    return served > FAST_TURN and served >= FAST_BUSY_SHARE * rate * waited


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _time_median(probes: list[FastProbe], value: Callable[[FastProbe], float]) -> float:
    """The median of ``value`` over the time B spent waiting: each probe weighs as long as it took."""
    ordered = sorted(probes, key=value)
    half, spent = sum(p.took for p in probes) / 2, 0.0
    for probe in ordered:
        spent += probe.took
        if spent >= half:
            return value(probe)
    return value(ordered[-1])


@TCP_CHECKS.check(
    "tcp/fast-neighbour",
    f"While connection A pipelines NOOPs and MALFORMED requests as fast as the target takes them (for "
    f"{FAST_FLOOD:g} s, replies read), NOOPs on connection B are answered at once: none waits "
    f"{FAST_WAIT_SHARE:.0%} of the flood while A is served, nor half of them {FAST_MEDIAN * 1000:g} ms and "
    f"{FAST_WORK} of A's requests.",
    requirements=("TCP-SRV-8",),
    destructive=True,
    informational=True,
)
def _fast_neighbour(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    if min(claims.max_connections, claims.max_connections_per_source) < 2:
        ctx.skip("the claimed connection limits leave no room for a second connection from the suite")
    flood_for = ctx.timing.scaled(FAST_FLOOD)
    bound = FAST_WAIT_SHARE * flood_for
    data, header = _noop()
    neighbour, read = tcp_first_exchange(ctx, data, "B: a NOOP before the flood")
    with neighbour:
        reply = read.data if read.ending is Ending.MESSAGE else None
        if judge_reply(ctx, reply, header, datagram=False, result=Result.OK, requirement="SRV-9") is None:
            return
        data, header = _noop()
        fast, read = tcp_first_exchange(ctx, data, "A: a NOOP, then the flood")
        with fast:
            if read.ending is not Ending.MESSAGE:
                ctx.skip(f"the target did not serve a second connection from the suite ({read.ending.value})")
            flood = PipelineFlood(fast, _fast_chunk(), window=FAST_WINDOW)
            flood.start()
            try:
                time.sleep(ctx.timing.scaled(FAST_RAMP))
                ctx.log.event(neighbour.name, f"one NOOP at a time while A floods, for {flood_for:.2f} s in all")
                probes, wrong = _probe_while_flooding(neighbour, flood, flood.started + flood_for, bound)
            finally:
                flood.stop()
                with contextlib.suppress(OSError):  # a reset: the target need not answer what A left queued
                    fast.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    flooded = time.monotonic() - flood.started
    if wrong is not None:
        judge_reply(ctx, wrong[0], wrong[1], datagram=False, result=Result.OK, requirement="SRV-9")
        return
    rate = flood.answered / flooded
    ctx.measure("A's requests answered per second", rate, "requests/s", f"{flood.answered} in {flooded:.2f} s")
    judge_fast_neighbour(ctx, probes, flood.answered, flood.ended, rate, bound)


def judge_fast_neighbour(
    ctx: CheckContext[ServerEnv],
    probes: list[FastProbe],
    flood_answered: int,
    flood_ended: str,
    flood_rate: float,
    bound: float,
) -> None:
    """TCP-SRV-8 from B's round trips while A flooded (A's requests answered in all, why A ended early if it did,
    and A's mean rate); or a skip when the check cannot judge."""
    starved = next((p for p in probes if p.took > bound and _busy_with_a(p.took, p.flood_answered, flood_rate)), None)
    if starved is not None:
        waited = "no reply" if starved.ending is not Ending.MESSAGE else "the reply"
        ctx.fail(
            "TCP-SRV-8",
            f"no NOOP on B waiting over {bound:.2f} s ({FAST_WAIT_SHARE:.0%} of the flood) while the target went on "
            "answering A's pipelined requests",
            f"{waited} after {starved.took:.2f} s, while the target answered {starved.flood_answered} of A's "
            f"({starved.flood_answered / starved.took:.0f}/s; {flood_rate:.0f}/s over the whole flood)",
        )
        ctx.measure("B's longest wait, at least", starved.took * 1000, "ms", "one NOOP while A flooded")
        return
    last = probes[-1] if probes else None
    if last is not None and last.ending in (Ending.EOF, Ending.RESET):
        ctx.fail("TCP-SRV-8", "B served while A flooded", f"the target ended B ({last.ending.value})")
        return
    if flood_ended:
        ctx.skip(
            f"the target ended A after answering {flood_answered} of its requests ({flood_ended}), so the check "
            "cannot judge; going on after MALFORMED is TCP-SRV-9's tcp/error-keeps-connection"
        )
    answered = [p for p in probes if p.ending is Ending.MESSAGE]
    if flood_answered <= FAST_WORK or not answered:  # then no round trip of B's could span more than FAST_WORK
        ctx.skip(
            f"the target answered {flood_answered} of A's requests and {len(answered)} of B's while A flooded: "
            f"with at most {FAST_WORK} of A's answered, no rule can tell how it shares its work (a larger "
            "--timeout-scale floods for longer)"
        )
    slow = sum(p.took > bound for p in answered)
    if slow:
        ctx.note(f"{slow} of B's NOOPs waited over {bound:.2f} s while A's went slowly too (a loaded machine)")
    took = sorted(p.took for p in answered)
    median = _time_median(answered, lambda p: p.took)
    work = _time_median(answered, lambda p: float(p.flood_answered))
    ctx.measure("B's round trip under a fast neighbour, p50", _median(took) * 1000, "ms", f"{len(took)} NOOPs on B")
    ctx.measure("B's round trip under a fast neighbour, p99", took[int(0.99 * (len(took) - 1))] * 1000, "ms")
    ctx.measure("B's round trip under a fast neighbour, max", took[-1] * 1000, "ms")
    ctx.measure("B's round trip under a fast neighbour, median over B's time", median * 1000, "ms")
    ctx.measure("A's requests answered during one of B's round trips, median over B's time", work, "requests")
    most = ctx.timing.scaled(FAST_MEDIAN)
    ctx.expect(
        median <= most or work <= FAST_WORK,
        "TCP-SRV-8",
        f"B's NOOPs answered between bounded shares of A's work: a median round trip (over B's time) of at most "
        f"{most * 1000:.0f} ms, or at most {FAST_WORK} of A's requests answered during one",
        f"a median round trip of {median * 1000:.0f} ms, during which the target answered {work:.0f} of A's "
        f"requests (over {len(took)} NOOPs on B)",
    )


@TCP_CHECKS.check(
    "tcp/slow-reader",
    "A client that sends requests and never reads the replies is dropped by the send timeout.",
    requirements=("TCP-SRV-10",),
    destructive=True,
    informational=True,
)
def _slow_reader(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    payload = min(claims.tcp_max_payload, FLOOD_REQUEST)
    request, _ = echo_request(bytes(payload))
    with _connect(ctx, receive_buffer=FLOOD_RECEIVE_BUFFER, label="slow-reader") as channel:
        if channel.kernel_state_open() is None:
            ctx.skip("this platform has no TCP_INFO, so a close cannot be seen without reading")
        channel.log.sent(
            channel.name, request, note=f"ECHO with {payload} bytes, repeated; replies never read", flow=channel.flow
        )
        channel.sock.setblocking(False)
        sent, pending = 0, memoryview(request)
        blocked_since: float | None = None
        start = time.monotonic()
        closed_early = False
        while sent < FLOOD_CAP:
            try:
                n = channel.sock.send(pending)
            except BlockingIOError:
                now = time.monotonic()
                blocked_since = blocked_since or now
                if now - blocked_since > ctx.timing.scaled(FLOOD_STALL):
                    break
                wait_for(channel.sock, 0.05, writable=True)
                continue
            except OSError:
                closed_early = True
                break
            blocked_since = None
            sent += n
            pending = pending[n:] if n < len(pending) else memoryview(request)
        stalled_at = blocked_since or time.monotonic()
        ctx.log.event(channel.name, f"{sent} bytes sent in {stalled_at - start:.2f} s, then the sends blocked")
        # From the flood's start: the target's writes blocked after it, so the time is never under-counted.
        bound = ctx.timing.at_most(claims.send_timeout, MAX_SEND_TIMEOUT)
        while not closed_early and time.monotonic() - start < bound:
            state = channel.kernel_state_open()
            if not state:
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        open_now = not closed_early and bool(channel.kernel_state_open())
        ctx.log.event(channel.name, "still established" if open_now else "closed by the target")
        with contextlib.suppress(OSError):
            channel.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    if ctx.expect(
        not open_now,
        "TCP-SRV-10",
        f"a peer that never reads reset within the send timeout, claimed {claims.send_timeout:g} s, at most "
        f"{MAX_SEND_TIMEOUT:g} s (bound {bound:.2f} s from the start of the flood)",
        f"still established {elapsed:.2f} s after the flood started ({sent} bytes of requests sent, the suite's "
        f"sends blocked after {stalled_at - start:.2f} s)",
    ):
        ctx.measure("slow reader dropped after", elapsed, "s", "from the start of the flood")


def _ensure_descriptors(ctx: CheckContext[ServerEnv], count: int) -> None:
    """Raise the soft limit on open files so ``count`` connections fit, or skip the check saying why."""
    needed = count + DESCRIPTOR_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        ctx.skip(f"{count} connections need {needed} open files; the hard limit is {hard} (raise it with ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _sources(ctx: CheckContext[ServerEnv], count: int, per_source: int) -> list[str | None]:
    """Source addresses for ``count`` connections, at most ``per_source`` from each, never the default source."""
    _ensure_descriptors(ctx, count)
    needed = math.ceil(count / per_source)
    sources = ctx.env.loopback_sources(needed)
    if sources is None:
        ctx.skip("the target is not on IPv4 loopback, so the suite cannot spread connections over source addresses")
    return [sources[i // per_source] for i in range(count)]


class Fill(StrEnum):
    """How filling the target's connection slots ended."""

    REJECTED = "the extra connection was rejected"
    SERVED = "the extra connection was served with every other one still open"
    LOWER = "the target rejected a connection before the claimed limit"
    INCONCLUSIVE = "the target closed some of the held connections meanwhile"
    HUNG = "the extra connection got neither a reply nor a close"


@dataclass
class FillResult:
    """What :func:`_fill` saw."""

    fill: Fill
    detail: str


#: What TCP-SRV-15 allows a BUSY to look like, for verdicts.
BUSY_FORMS = "an unsolicited BUSY (request_id 0, operation NOOP) or a BUSY carrying the request's ID and operation"


def _judge_busy(ctx: CheckContext[ServerEnv], data: bytes, request: Header | None) -> None:
    """TCP-SRV-15: ``data`` is a BUSY in one of its two forms (``request``: the one sent, or ``None``)."""
    if is_unsolicited_busy(data) and len(data) == HEADER_SIZE:
        return
    problems = [] if request is None else reply_problems(data, request=request, datagram=False)
    if request is None or problems:
        wrong = "; ".join(p.detail for p in problems) or "no request was sent"
        ctx.fail("TCP-SRV-15", BUSY_FORMS, f"{describe(data)}: {wrong}")


def _attempt(
    ctx: CheckContext[ServerEnv], source: str | None, label: str, *, silent: bool = False
) -> tuple[str, TcpChannel | None]:
    """Connect from ``source`` and send an ECHO (``silent``: nothing, and wait up to the request deadline):
    ``served``, ``rejected`` or ``hung``, and the open channel."""
    data, header = echo_request(b"one more")
    try:
        channel = _connect(ctx, source=source, label=label)
    except OSError as error:
        ctx.log.event(label, f"connect failed: {error.strerror or error!r}")
        return "rejected", None
    if silent:
        ctx.log.event(channel.name, "sends nothing: answered BUSY at once, or closed within the request deadline?")
        read = channel.read_message(_deadline_bound(ctx))
    else:
        channel.send(data, "ECHO over the limit?")
        read = channel.read_message(ctx.timing.limit(0))
    if read.ending is Ending.MESSAGE:
        result = unpack_header(read.data).result
        if result == Result.OK and not silent:
            return "served", channel
        if result == Result.BUSY:
            _judge_busy(ctx, read.data, None if silent else header)
            closed = channel.wait_closed(ctx.timing.limit(0))
            if not closed.closed:
                ctx.fail("TCP-SRV-15", "a close after BUSY", "the connection stayed open after BUSY")
            return "rejected", channel
        ctx.fail("TCP-SRV-7", "BUSY and a close, or a refused connection", describe(read.data))
        return "rejected", channel
    if read.closed:
        return "rejected", channel
    return "hung", channel


def _fill(
    ctx: CheckContext[ServerEnv],
    count: int,
    sources: list[str | None],
    extra_source: str | None,
    *,
    active: bool,
    silent_extra: bool = False,
) -> FillResult:
    """Hold ``count`` connections (``active``: each has completed an ECHO; else silent), then try one more
    (``silent_extra``: one that sends nothing)."""
    held: list[TcpChannel] = []
    try:
        for i in range(count):
            label = f"held#{i + 1}"
            if active:
                outcome, channel = _attempt(ctx, sources[i], label)
                if channel is not None:
                    held.append(channel)
                if outcome != "served":
                    return FillResult(Fill.LOWER, f"connection {i + 1} of the claimed {count} was {outcome}")
            else:
                try:
                    held.append(_connect(ctx, source=sources[i], label=label))
                except OSError as error:
                    return FillResult(Fill.LOWER, f"connection {i + 1} was refused: {error.strerror or error!r}")
        # A loaded target may not have accepted every silent connection yet, and may rightly serve the extra
        # one: retry a few times before concluding (an active connection has certainly been accepted).
        # Silent connections must still be inside the idle timeout when the verdict is taken.
        pause = min(ctx.timing.scaled(0.2), ctx.env.claims.idle_timeout / (2 * SILENT_RETRIES))
        for attempt in range(1 if active else SILENT_RETRIES):
            time.sleep(pause)
            outcome, extra = _attempt(ctx, extra_source, f"extra#{attempt + 1}", silent=silent_extra)
            if extra is not None:
                held.append(extra)
            if outcome != "served":
                break
        if outcome == "rejected":
            return FillResult(Fill.REJECTED, f"connection {count + 1} was rejected")
        if outcome == "hung":
            return FillResult(Fill.HUNG, f"connection {count + 1} got no reply and no close")
        states = [c.peek() for c in held[:count]]  # the extra ones come after the held ones
        if any(s is not Peek.OPEN for s in states):
            return FillResult(Fill.INCONCLUSIVE, f"{sum(s is not Peek.OPEN for s in states)} held connections ended")
        return FillResult(Fill.SERVED, f"connection {count + 1} was served while {count} were held open")
    finally:
        for channel in held:
            channel.close()


@TCP_CHECKS.check(
    "tcp/connection-limit",
    "With the claimed number of connections open, the next is BUSY or refused.",
    requirements=("TCP-SRV-7",),
    destructive=True,
)
def _connection_limit(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    n = claims.max_connections
    sources = _sources(ctx, n + 1, claims.max_connections_per_source)
    result = _fill(ctx, n, sources[:n], sources[n], active=True)
    ctx.note(result.detail)
    if result.fill is Fill.INCONCLUSIVE:
        ctx.skip(result.detail)
    ctx.expect(
        result.fill in (Fill.REJECTED, Fill.LOWER),
        "TCP-SRV-7",
        f"with {n} connections open (the claimed limit), the next one answered BUSY and closed, or refused",
        result.detail,
    )


@TCP_CHECKS.check(
    "tcp/limit-counts-from-accept",
    "Connections that never send a byte count against the limit: the next one is BUSY or refused.",
    requirements=("TCP-SRV-11", "TCP-SRV-7"),
    destructive=True,
)
def _counts_from_accept(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    n = claims.max_connections
    sources = _sources(ctx, n + 1, claims.max_connections_per_source)
    result = _fill(ctx, n, sources[:n], sources[n], active=False)
    ctx.note(f"{n} silent connections: {result.detail}")
    if result.fill is Fill.INCONCLUSIVE:
        ctx.skip(result.detail)
    if result.fill is Fill.SERVED:
        time.sleep(ctx.timing.scaled(0.3))  # let the target see the silent ones close
        active = _fill(ctx, n, sources[:n], sources[n], active=True)
        ctx.note(f"{n} active connections: {active.detail}")
        if active.fill is Fill.SERVED:
            ctx.skip("the target has no connection limit at all (see tcp/connection-limit)")
    ctx.expect(
        result.fill in (Fill.REJECTED, Fill.LOWER),
        "TCP-SRV-11",
        f"{n} connections that never sent a byte count against the limit: the next one is rejected",
        result.detail,
    )


@TCP_CHECKS.check(
    "tcp/per-source-limit",
    "One source cannot take more than the claimed per-source number of connections.",
    requirements=("TCP-SRV-12",),
    destructive=True,
)
def _per_source(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    p, n = claims.max_connections_per_source, claims.max_connections
    if p + 1 >= n:
        ctx.skip(f"the claimed per-source limit ({p}) is not below the global limit ({n}) by two or more")
    sources = ctx.env.loopback_sources(1)
    if sources is None:
        ctx.skip("the target is not on IPv4 loopback, so the suite cannot pick a second source address")
    attacker = sources[0]
    result = _fill(ctx, p, [attacker] * p, attacker, active=True)
    ctx.note(f"{p} connections from {attacker}: {result.detail}")
    if result.fill is Fill.INCONCLUSIVE:
        ctx.skip(result.detail)
    ctx.expect(
        result.fill in (Fill.REJECTED, Fill.LOWER),
        "TCP-SRV-12",
        f"connection {p + 1} from one source rejected (claimed per-source limit {p})",
        result.detail,
    )


@TCP_CHECKS.check(
    "tcp/slot-reclaim",
    "With every slot held by a few other networks, a fresh client from another network is still served.",
    requirements=("TCP-SRV-13",),
    destructive=True,
)
def _slot_reclaim(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    p, n = claims.max_connections_per_source, claims.max_connections
    if math.ceil(n / p) < 2:
        ctx.skip(f"the claimed per-source limit ({p}) lets one source fill the global limit ({n})")
    _fresh_client_at_the_limit(ctx, p, "TCP-SRV-13")


@TCP_CHECKS.check(
    "tcp/slot-reclaim-spread",
    "With every slot held by one connection from each of many networks, a fresh client from another network is "
    "still served.",
    requirements=("TCP-SRV-16",),
    destructive=True,
)
def _slot_reclaim_spread(ctx: CheckContext[ServerEnv]) -> None:
    _fresh_client_at_the_limit(ctx, 1, "TCP-SRV-16")


#: Times, and seconds apart, that filling the slots retries a connection the target turned away while it may still
#: be closing the previous check's connections.
RECLAIM_RETRIES = 5
RECLAIM_PAUSE = 0.2


def _fresh_client_at_the_limit(ctx: CheckContext[ServerEnv], per_network: int, requirement: str) -> None:
    """Fill the claimed global limit with ``per_network`` connections from each of as many networks as that takes
    (one source per /24, each connection proven served), then expect a fresh client from the default source's
    network, which holds none, to be served: a held slot reclaimed for it."""
    n = ctx.env.claims.max_connections
    networks = math.ceil(n / per_network)
    _ensure_descriptors(ctx, n + 1)
    sources = ctx.env.loopback_networks(networks)
    if sources is None:
        ctx.skip("the target is not on IPv4 loopback, so the suite cannot hold slots from other networks")
    held: list[TcpChannel] = []
    retries = RECLAIM_RETRIES
    try:
        for i in range(n):
            while True:
                outcome, channel = _attempt(ctx, sources[i // per_network], f"held#{i + 1}")
                if channel is not None:
                    held.append(channel)
                if outcome == "served" or not retries:
                    break
                # The previous check's connections may still be closing at the target: their slots come back soon.
                retries -= 1
                time.sleep(ctx.timing.scaled(RECLAIM_PAUSE))
            if outcome != "served":
                ctx.skip(f"connection {i + 1} of the claimed {n} was {outcome} (see tcp/connection-limit)")
        ctx.log.event("slots", f"{n} connections held from {networks} networks ({per_network} each at most)")
        outcome, fresh = _attempt(ctx, None, "fresh client")
        if fresh is not None:
            held.append(fresh)
        ended = sum(c.peek() is not Peek.OPEN for c in held[:n])
        ctx.note(f"fresh client from the default source's network: {outcome}; {ended} held connections ended")
        ctx.expect(
            outcome == "served",
            requirement,
            f"with {n} slots held by {networks} other networks, a fresh client served (a held slot reclaimed)",
            f"the fresh client was {outcome}",
        )
    finally:
        for channel in held:
            channel.close()


@TCP_CHECKS.check(
    "tcp/busy-form",
    "With the claimed number of connections open, one more that sends nothing gets an unsolicited BUSY or a close, "
    "within the request deadline.",
    requirements=("TCP-SRV-15", "TCP-SRV-7"),
    destructive=True,
)
def _busy_form(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    n = claims.max_connections
    sources = _sources(ctx, n + 1, claims.max_connections_per_source)
    result = _fill(ctx, n, sources[:n], sources[n], active=True, silent_extra=True)
    ctx.note(result.detail)
    if result.fill is Fill.INCONCLUSIVE:
        ctx.skip(result.detail)
    if result.fill is Fill.SERVED:
        ctx.skip("the target served the extra connection (see tcp/connection-limit)")
    ctx.expect(
        result.fill in (Fill.REJECTED, Fill.LOWER),
        "TCP-SRV-15",
        f"an over-limit connection that sends nothing answered with {BUSY_FORMS.split(' or ')[0]} or closed, "
        f"within {_deadline_bound(ctx):.2f} s of connecting",
        result.detail,
    )


@TCP_CHECKS.check(
    "tcp/final-reply-close",
    f"An ECHO of {FINAL_REPLY_ECHO} bytes the suite never reads, then a header over the limit: TOO_LARGE, and the "
    "connection reset within the send timeout.",
    requirements=("TCP-SRV-10",),
    informational=True,
)
def _final_reply_close(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    echo, _ = echo_request(bytes(min(FINAL_REPLY_ECHO, claims.tcp_max_payload)))
    over = pack_request(Op.ECHO, fresh_id())[:16] + (claims.tcp_max_payload + 1).to_bytes(4, "big")
    bound = ctx.timing.at_most(claims.send_timeout, MAX_SEND_TIMEOUT)
    with _connect(ctx, receive_buffer=FLOOD_RECEIVE_BUFFER, label="final-reply") as channel:
        if channel.kernel_state_open() is None:
            ctx.skip("this platform has no TCP_INFO, so a close cannot be seen without reading")
        start = time.monotonic()
        channel.send(echo + over, "an ECHO, then a header over the limit; the suite reads nothing")
        while time.monotonic() - start < bound and channel.kernel_state_open():
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        open_now = bool(channel.kernel_state_open())
        ctx.log.event(channel.name, "still established" if open_now else "closed by the target")
        with contextlib.suppress(OSError):
            channel.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    if ctx.expect(
        not open_now,
        "TCP-SRV-10",
        f"after its final reply (TOO_LARGE) the connection gone within the send timeout, claimed "
        f"{claims.send_timeout:g} s, at most {MAX_SEND_TIMEOUT:g} s (bound {bound:.2f} s), though the peer read "
        "nothing: a reset, not a close() that leaves the kernel holding the unread replies",
        f"still established {elapsed:.2f} s later",
    ):
        ctx.measure("connection gone after its final reply", elapsed, "s", "the peer reading nothing")


#: Of the claimed request deadline, the share within which the memory-budget check sends the held payloads and
#: waits for the target to take them; and the share by which its probe must go out, or it cannot judge: the held
#: requests must still be open, well inside their deadline, when the probe's header arrives.
FILL_SHARE, PROBE_SHARE = 0.5, 0.75
#: Seconds (before scaling) the memory-budget check waits at most for the target to take the held payloads.
FILL_WAIT = 1.0
#: The small request the memory-budget check expects served past the budget.
SMALL_PAST_BUDGET = b"a small request, past the budget"
#: The most the memory-budget check holds in memory for the held payloads, however large the claimed limit.
HELD_CHUNK = 1 << 20
#: Seconds (before scaling) to read a reply that a held request has already been sent.
HELD_REPLY_WAIT = 0.1
#: Seconds (before scaling) the memory-budget check gives the target to read what its kernel took of the held
#: requests, before the probe.
HELD_SETTLE = 0.05

audited(
    TimingRow(
        "server",
        "tcp/memory-budget",
        "TCP-SRV-14",
        BoundKind.CLAIM,
        "BUSY as soon as a large request's header has arrived: no number",
        f"from sending the header (its payload never sent) until the framework's grace of {GRACE:g} s, times the "
        f"scale; sent within {PROBE_SHARE:.0%} of the claimed request deadline of the held requests that fill the "
        "claimed budget",
        "for the target, by the grace: a target that waits for the payload waits until its request deadline",
    )
)


def _declaring(size: int) -> bytes:
    """A request header announcing ``size`` payload bytes (an ECHO: any server carries it out)."""
    return pack_header(Header(operation=Op.ECHO, request_id=fresh_id(), size=size))


def _network_sources(ctx: CheckContext[ServerEnv], count: int, per_source: int) -> list[str]:
    """Sources for ``count`` connections, at most ``per_source`` from each, each source in a network of its own
    (IPv4 /24) and none in the default source's, which the probe and the small request use."""
    _ensure_descriptors(ctx, count + 2)
    sources = ctx.env.loopback_networks(math.ceil(count / per_source))
    if sources is None:
        ctx.skip("the target is not on IPv4 loopback, so the suite cannot spread the held requests over networks")
    return [sources[i // per_source] for i in range(count)]


@dataclass
class _HeldState:
    """The held requests just before the probe."""

    open: int = 0
    busy: int = 0
    ended: int = 0


def _held_state(ctx: CheckContext[ServerEnv], held: list[TcpChannel]) -> _HeldState:
    """How many held requests are still open and silent, were answered BUSY, or ended otherwise (a glance each)."""
    state = _HeldState()
    for channel in held:
        peek = channel.peek()
        if peek is Peek.OPEN:
            state.open += 1
            continue
        read = channel.read_message(ctx.timing.scaled(HELD_REPLY_WAIT)) if peek is Peek.DATA else None
        if read is not None and read.ending is Ending.MESSAGE and unpack_header(read.data).result == Result.BUSY:
            state.busy += 1
        else:
            state.ended += 1
    return state


@TCP_CHECKS.check(
    "tcp/memory-budget",
    "With requests of the claimed payload limit held one byte short of complete until they fill the claimed memory "
    "budget, a fresh header of that size is answered BUSY before its payload is sent; a small ECHO is still served.",
    requirements=("TCP-SRV-14",),
    destructive=True,
)
def _memory_budget(ctx: CheckContext[ServerEnv]) -> None:
    claims = ctx.env.claims
    budget, size = claims.memory_budget, claims.tcp_max_payload
    if budget is None:
        ctx.skip("no claimed memory budget (--memory-budget): filling an unknown budget would be a guess")
    if size <= MAX_SMALL_PAYLOAD:
        ctx.skip(
            f"the claimed TCP payload limit ({size} bytes) is not above {MAX_SMALL_PAYLOAD}: the target takes no "
            "request large enough to be refused past its budget"
        )
    count = held_to_fill(budget, size)
    if count + 2 > claims.max_connections:
        ctx.skip(
            f"filling the claimed {budget}-byte budget takes {count} requests of {size} bytes held open, and the "
            f"claimed connection limit ({claims.max_connections}) leaves no room for them and the probes"
        )
    sources = _network_sources(ctx, count, claims.max_connections_per_source)
    chunk = memoryview(bytes(min(HELD_CHUNK, size - 1)))  # one buffer, shared by every held request
    deadline = claims.request_deadline
    held: list[TcpChannel] = []
    try:
        started = time.monotonic()
        fill_by = started + min(FILL_SHARE * deadline, ctx.timing.scaled(FILL_WAIT))
        for i, source in enumerate(sources):
            try:
                channel = _connect(ctx, source=source, label=f"held#{i + 1}")
            except OSError as error:
                ctx.skip(f"held connection {i + 1} of {count} was refused: {error.strerror or error!r}")
            held.append(channel)
            header = _declaring(size)
            if i < 3:
                channel.send(header, f"a header declaring {size} payload bytes; all but the last will follow")
            else:
                with contextlib.suppress(OSError):  # a reset shows when the held requests are looked at
                    channel.sock.sendall(header)
        sent = push([c.sock for c in held], chunk, size - 1, fill_by)
        waiting = wait_drained([c.sock for c in held], fill_by) or 0
        unread = f" ({waiting} payload bytes still queued: the target was not reading them)" if waiting else ""
        ctx.log.event(
            "held",
            f"{count} requests declaring {size} bytes from {len(set(sources))} network(s); {sum(sent)} payload bytes "
            f"sent in {time.monotonic() - started:.2f} s{unread}, the last byte of each never",
        )
        if not waiting:
            time.sleep(ctx.timing.scaled(HELD_SETTLE))
        state = _held_state(ctx, held)
        if state.busy:
            ctx.note(f"{state.busy} of the {count} held requests were answered BUSY: the target was past its budget")
        elif state.open * (size - 1) + size <= budget:
            ctx.skip(f"{state.ended} of the {count} held requests ended before the probe: the budget was not full")
        if (took := time.monotonic() - started) > PROBE_SHARE * deadline:
            ctx.skip(
                f"filling the budget took {took:.2f} s, past {PROBE_SHARE:.0%} of the claimed {deadline:g} s request "
                "deadline: the held requests could expire before the probe arrives"
            )
        filled = f"{count} requests of {size} bytes held against a claimed {budget}-byte budget"
        _probe_large(ctx, size, filled, waiting)
        _probe_small(ctx)
    finally:
        for channel in held:
            channel.close()


def _probe_large(ctx: CheckContext[ServerEnv], size: int, filled: str, unread: int) -> None:
    """A fresh connection sends a header declaring ``size`` bytes and nothing more: BUSY, at once.

    ``unread``: payload bytes of the held requests the target had not taken yet. Then only a BUSY can be judged:
    a target that has not read the held requests may not know of them, and may rightly admit the probe.
    """
    header = _declaring(size)
    bound = ctx.timing.limit(0)
    expected = (
        f"with {filled}, a BUSY reply to a fresh header declaring {size} bytes within {bound:.2f} s, its payload "
        "never sent"
    )
    try:
        probe = _connect(ctx, label="probe")
    except OSError as error:
        ctx.fail("TCP-SRV-14", expected, f"the connection was refused: {error.strerror or error!r}")
        return
    with probe:
        probe.send(header, f"a header declaring {size} payload bytes past the budget; the payload is never sent")
        read = probe.read_message(bound)
    busy = read.ending is Ending.MESSAGE and unpack_header(read.data).result == Result.BUSY
    if unread and not busy:
        ctx.skip(
            f"no BUSY, but {unread} payload bytes of the held requests were still waiting for the target to read "
            f"them: it reads too slowly for {filled} to be filled within its request deadline (claim a smaller "
            "budget, or run it with a longer deadline)"
        )
    if read.ending is Ending.TIMEOUT:
        ctx.fail("TCP-SRV-14", expected, f"no reply within {read.elapsed:.2f} s: the target waited for the payload")
        return
    if read.ending is not Ending.MESSAGE:
        ctx.fail("TCP-SRV-14", expected, f"no reply: the connection was {read.ending.value} after {read.elapsed:.2f} s")
        return
    if is_unsolicited_busy(read.data) and len(read.data) == HEADER_SIZE:
        ctx.note("the probe's connection was refused with an unsolicited BUSY (TCP-SRV-15's first form)")
        return
    for problem in reply_problems(read.data, request=unpack_header(header), datagram=False):
        ctx.fail(problem.requirement, "a well-formed reply to the request", problem.detail)
    result = unpack_header(read.data).result
    if ctx.expect(
        result == Result.BUSY, "TCP-SRV-14", expected, f"a {result_name(result)} reply after {read.elapsed:.2f} s"
    ):
        ctx.measure("BUSY to a large header past the budget", read.elapsed, "s", filled)


def _probe_small(ctx: CheckContext[ServerEnv]) -> None:
    """A fresh connection's small ECHO, the held requests still open: served."""
    data, header = echo_request(SMALL_PAST_BUDGET)
    expected = f"a {len(SMALL_PAST_BUDGET)}-byte ECHO on a new connection served past the budget"
    try:
        small = _connect(ctx, label="small")
    except OSError as error:
        ctx.fail("TCP-SRV-14", expected, f"the connection was refused: {error.strerror or error!r}")
        return
    with small:
        small.send(data, "a small ECHO, the held requests still open")
        read = small.read_message(ctx.timing.scaled(REPLY_WAIT))
    if read.ending is not Ending.MESSAGE:
        ctx.fail("TCP-SRV-14", expected, f"no reply ({read.ending.value} after {read.elapsed:.2f} s)")
        return
    if ctx.expect(unpack_header(read.data).result == Result.OK, "TCP-SRV-14", expected, describe(read.data)):
        judge_reply(ctx, read.data, header, datagram=False, result=Result.OK, requirement="SRV-10")
