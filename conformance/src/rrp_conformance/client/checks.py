"""The client suite's checks: each one a hostile server, one or more runs of the client, and a verdict.

Every call asks for an ECHO of a fresh random payload, so the payload the client
prints says which reply it accepted: the genuine one, or a forgery carrying
:data:`~.forged.FORGED_PAYLOAD`. Where a check can fail in more than one way, each
way names its own requirement: a client that *accepts* a forged reply breaks
CLI-3 (or UDP-CLI-1 for a reply from another address), one that *aborts* on it
instead of waiting for the genuine reply breaks UDP-CLI-2.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from rrp_spec import HEADER_SIZE, UNSOLICITED_BUSY, Transport, unpack_header

from ..context import CheckContext
from ..registry import Registry
from ..timing_audit import GRACE, BoundKind, TimingRow, audited
from .calls import CALL_OPERATION, TcpCall, UdpCall, call_over_tcp, call_over_udp, call_unaccepting_tcp
from .environment import ClientEnv
from .forged import FORGED_PAYLOAD, Forgery, genuine_reply, impostor_reply, malformed_replies, wrong_id_replies
from .hostile_tcp import TcpExchange
from .hostile_udp import AlternateAddressUnavailable, Datagram, ReplySource, Send
from .request_ids import judge_request_ids
from .requests import request_problems
from .runner import ClientRun
from .schedule import interval_bounds

#: The client suite's checks, in the order they run.
CLIENT_CHECKS: Registry[ClientEnv] = Registry()

#: Seconds between a forged reply and the genuine one that follows it: the forgery is read first.
FORGERY_LEAD = 0.01
#: Seconds between the bytes of a reply sent one byte at a time.
BYTE_GAP = 0.01
#: Of a reply cut off mid-way, the share of its payload that is sent before the suite closes.
CUT_OFF_SHARE = 0.5

Ctx = CheckContext[ClientEnv]


# --- shared verdicts ------------------------------------------------------------------------------
def _judge_request(ctx: Ctx, data: bytes | None, payload: bytes, *, datagram: bool) -> None:
    if data is None:
        ctx.fail("CLI-2", "one whole request", "the client sent no whole request")
        return
    for p in request_problems(data, datagram=datagram, operation=CALL_OPERATION, payload=payload):
        ctx.fail(p.requirement, p.expected, p.observed)


def _printed(run: ClientRun) -> str:
    if run.exit_code is None:
        return f"the client was still running ({run.stopped_because})"
    if run.reply_hex == FORGED_PAYLOAD.hex():
        return f"the client exited {run.exit_code} and printed the forged reply's payload"
    return f"the client exited {run.exit_code} and printed {run.reply_hex[:80]!r}"


def _judge_ignored_forgery(ctx: Ctx, call: UdpCall, *, accepting_breaks: str, forgery: str) -> None:
    """After forgeries then the genuine reply: the client must print the genuine payload and exit 0."""
    if call.accepted_genuine:
        return
    if call.run.succeeded and call.run.reply_hex != call.payload.hex():
        ctx.fail(accepting_breaks, f"{forgery} ignored and the genuine reply accepted", _printed(call.run))
    else:
        ctx.fail(
            "UDP-CLI-2",
            f"{forgery} ignored without failing, and the genuine reply {FORGERY_LEAD:g} s later accepted",
            _printed(call.run),
        )


def _replies(*forgeries: Forgery, request: bytes, source: ReplySource = ReplySource.SERVER) -> list[Send]:
    sends = [Send(f.data, 0.0, source, f.note) for f in forgeries]
    sends.append(Send(genuine_reply(request), FORGERY_LEAD if forgeries else 0.0, ReplySource.SERVER, "genuine reply"))
    return sends


def _needs_plain_exchange(ctx: Ctx, transport: Transport) -> None:
    """Skip when the client already failed a plain exchange over ``transport``: every verdict would repeat it."""
    reason = ctx.env.broken_transports.get(transport)
    if reason is not None:
        ctx.skip(reason)


def _record_plain_exchange(ctx: Ctx, transport: Transport, accepted: bool, run: ClientRun) -> None:
    if not accepted:
        ctx.env.broken_transports[transport] = (
            f"the client failed a plain ECHO over {transport} ({transport}/request-well-formed): {_printed(run)}"
        )


def _is_request(datagram: Datagram) -> bool:
    return len(datagram.data) >= HEADER_SIZE


# --- UDP --------------------------------------------------------------------------------------------
@CLIENT_CHECKS.check(
    "udp/request-well-formed",
    "the request is well formed (every field, REPLY clear, result 0, size matches) and the reply is accepted",
    requirements=("CLI-2", "MSG-1", "MSG-2", "MSG-3", "MSG-4", "CLI-3"),
)
def udp_request_well_formed(ctx: Ctx) -> None:
    call = call_over_udp(
        ctx, lambda _, d: [Send(genuine_reply(d.data), note="genuine reply")] if _is_request(d) else []
    )
    _record_plain_exchange(ctx, Transport.UDP, call.accepted_genuine, call.run)
    _judge_request(ctx, call.arrivals[0].data if call.arrivals else None, call.payload, datagram=True)
    ctx.expect(
        call.accepted_genuine,
        "CLI-3",
        f"the genuine reply accepted: exit 0 and its payload printed as hex ({call.payload.hex()})",
        _printed(call.run),
    )


@CLIENT_CHECKS.check(
    "udp/reply-from-other-address",
    "a reply from another loopback address (right port and request ID) is ignored, the genuine one accepted",
    requirements=("UDP-CLI-1", "UDP-CLI-2"),
)
def udp_reply_from_other_address(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.UDP)

    def behaviour(_: int, d: Datagram) -> list[Send]:
        if not _is_request(d):
            return []
        impostor = impostor_reply(d.data, f"{ctx.env.alternate_host}, same port")
        return _replies(impostor, request=d.data, source=ReplySource.OTHER_ADDRESS)

    try:
        call = call_over_udp(ctx, behaviour, alternate=True)
    except AlternateAddressUnavailable as exc:
        ctx.skip(str(exc))
    _judge_ignored_forgery(ctx, call, accepting_breaks="UDP-CLI-1", forgery="a reply from another address")


@CLIENT_CHECKS.check(
    "udp/reply-from-other-port",
    "a reply from the server's address but another port (right request ID) is ignored, the genuine one accepted",
    requirements=("UDP-CLI-1", "UDP-CLI-2"),
)
def udp_reply_from_other_port(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.UDP)

    def behaviour(_: int, d: Datagram) -> list[Send]:
        if not _is_request(d):
            return []
        impostor = impostor_reply(d.data, f"{ctx.env.host}, another port")
        return _replies(impostor, request=d.data, source=ReplySource.OTHER_PORT)

    call = call_over_udp(ctx, behaviour)
    _judge_ignored_forgery(ctx, call, accepting_breaks="UDP-CLI-1", forgery="a reply from another port")


@CLIENT_CHECKS.check(
    "udp/reply-with-wrong-id",
    "replies with another request ID (off by one; top bit flipped) are ignored, the genuine one accepted",
    requirements=("CLI-3", "UDP-CLI-2"),
)
def udp_reply_with_wrong_id(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.UDP)
    call = call_over_udp(
        ctx, lambda _, d: _replies(*wrong_id_replies(d.data), request=d.data) if _is_request(d) else []
    )
    _judge_ignored_forgery(ctx, call, accepting_breaks="CLI-3", forgery="replies with another request ID")


@CLIENT_CHECKS.check(
    "udp/malformed-replies",
    "malformed replies with the right request ID (bad magic, version, flags, operation, size; truncated) are ignored",
    requirements=("CLI-3", "UDP-CLI-2"),
)
def udp_malformed_replies(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.UDP)
    call = call_over_udp(
        ctx, lambda _, d: _replies(*malformed_replies(d.data), request=d.data) if _is_request(d) else []
    )
    _judge_ignored_forgery(ctx, call, accepting_breaks="CLI-3", forgery="malformed replies")


@CLIENT_CHECKS.check(
    "udp/duplicate-reply",
    "the genuine reply sent twice does no harm",
    requirements=("UDP-CLI-2",),
)
def udp_duplicate_reply(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.UDP)

    def behaviour(_: int, d: Datagram) -> list[Send]:
        if not _is_request(d):
            return []
        reply = genuine_reply(d.data)
        return [Send(reply, note="genuine reply"), Send(reply, note="the same reply again")]

    call = call_over_udp(ctx, behaviour)
    ctx.expect(call.accepted_genuine, "UDP-CLI-2", "the reply accepted once, the duplicate ignored", _printed(call.run))


@CLIENT_CHECKS.check(
    "udp/retransmission",
    "with its first requests dropped, the client retransmits the same bytes on the claimed backoff schedule",
    requirements=("UDP-CLI-3", "UDP-CLI-4", "UDP-CLI-6"),
)
def udp_retransmission(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.UDP)
    policy = ctx.env.claims.retry
    if policy.max_attempts < 2:
        ctx.skip("the client claims a single attempt: there is no retransmission to judge")
    answer_at = policy.max_attempts - 1  # drop every attempt but the last, so every timeout is measured
    if policy.max_attempts < 3:
        ctx.note("with fewer than 3 claimed attempts there is one timeout to measure: backoff itself is not observable")

    def behaviour(index: int, d: Datagram) -> list[Send]:
        if index < answer_at or not _is_request(d):
            return []
        return [Send(genuine_reply(d.data), note=f"genuine reply, to attempt {index + 1}")]

    call = call_over_udp(ctx, behaviour)
    arrivals = call.arrivals
    if not arrivals:
        ctx.fail("UDP-CLI-6", f"{policy.max_attempts} attempts", "the client sent nothing")
        return
    first = arrivals[0].data
    for n, later in enumerate(arrivals[1:], 2):
        if later.data != first:
            what = "a different request_id" if _ids_differ(first, later.data) else "different bytes"
            ctx.fail("UDP-CLI-3", "every retransmission byte for byte the first request", f"attempt {n} has {what}")
            break
    for n in range(1, len(arrivals)):
        measured = arrivals[n].at - arrivals[n - 1].at
        bounds = interval_bounds(policy, n, ctx.timing)
        ctx.measure(
            f"timeout of attempt {n}", measured, "s", f"claimed [{bounds.claimed_low:.3g}, {bounds.claimed_high:.3g})"
        )
        ctx.expect(
            bounds.admits(measured),
            "UDP-CLI-4",
            f"attempt {n} times out after [{bounds.claimed_low:.3g}, {bounds.claimed_high:.3g}) s "
            f"(tolerated: {bounds.low:.3g} to {bounds.high:.3g} s)",
            f"attempt {n + 1} arrived {measured:.3f} s after attempt {n}",
        )
    if len(arrivals) < policy.max_attempts:
        ctx.fail(
            "UDP-CLI-6",
            f"{policy.max_attempts} attempts (as claimed) before giving up; the last one is answered",
            f"{len(arrivals)} attempts, then {_printed(call.run)}",
        )
    elif not call.accepted_genuine:
        ctx.fail(
            "UDP-CLI-6",
            f"the reply to attempt {policy.max_attempts} accepted (it came within that attempt's timeout)",
            _printed(call.run),
        )


def _ids_differ(a: bytes, b: bytes) -> bool:
    if len(a) < HEADER_SIZE or len(b) < HEADER_SIZE:
        return False
    return unpack_header(a).request_id != unpack_header(b).request_id


@CLIENT_CHECKS.check(
    "udp/gives-up",
    "against a server that never answers, the client makes exactly the claimed attempts, then fails in time",
    requirements=("UDP-CLI-6",),
)
def udp_gives_up(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.UDP)
    policy = ctx.env.claims.retry
    one_too_many = threading.Event()

    def behaviour(index: int, _: Datagram) -> list[Send]:
        if index >= policy.max_attempts:
            one_too_many.set()
        return []

    call = call_over_udp(ctx, behaviour, stop=one_too_many, stop_reason="it made more attempts than it claims")
    attempts = len(call.arrivals)
    run = call.run
    if attempts > policy.max_attempts:
        ctx.fail("UDP-CLI-6", f"give up after {policy.max_attempts} attempts", f"attempt {attempts} arrived")
        return
    ctx.expect(
        attempts == policy.max_attempts,
        "UDP-CLI-6",
        f"{policy.max_attempts} attempts, as claimed, before giving up",
        f"{attempts} attempts, then {_printed(run)}",
    )
    if run.exit_code is None:
        ctx.fail("UDP-CLI-6", "give up once the last attempt times out", _printed(run))
        return
    ctx.expect(run.exit_code != 0, "UDP-CLI-6", "a non-zero exit (an error) after giving up", "exit 0")
    if call.arrivals:
        span = run.ended - call.arrivals[0].at
        limit = ctx.timing.limit(policy.worst_case_span())
        ctx.measure(
            "gave up after", span, "s", f"from the first attempt; claimed at most {policy.worst_case_span():.3g}"
        )
        ctx.expect(
            span <= limit,
            "UDP-CLI-6",
            f"give up within the claimed schedule's worst case, {policy.worst_case_span():.3g} s "
            f"(tolerated {limit:.3g})",
            f"exited {span:.3f} s after its first attempt",
        )
    said = (run.stderr.strip() or run.stdout.strip()).splitlines()
    ctx.note(f"the client's error: {said[0][:200]!r}" if said else "the client printed no error message")


@CLIENT_CHECKS.check(
    "udp/request-ids",
    "request IDs over many runs are all distinct, non-zero, spread over the whole space and use every bit",
    requirements=("CLI-1",),
)
def udp_request_ids(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.UDP)
    env = ctx.env

    def one_run(_: int) -> UdpCall:
        return call_over_udp(
            ctx, lambda _, d: [Send(genuine_reply(d.data), note="genuine reply")] if _is_request(d) else []
        )

    with ThreadPoolExecutor(max_workers=env.parallel_runs) as pool:
        calls = list(pool.map(one_run, range(env.id_samples)))
    ids = [unpack_header(c.arrivals[0].data).request_id for c in calls if c.arrivals and _is_request(c.arrivals[0])]
    if len(ids) < env.id_samples:
        ctx.note(f"only {len(ids)} of {env.id_samples} runs sent a request; the IDs of those are judged")
    try:
        verdict = judge_request_ids(ids)
    except ValueError as exc:
        ctx.skip(str(exc))
    ctx.note(f"false-alarm bound of the test for {len(ids)} runs: {verdict.false_alarm_bound:.1e}")
    for finding in verdict.findings:
        ctx.fail("CLI-1", "request IDs drawn uniformly from all 64 bits, fresh for every request", finding)


# --- TCP --------------------------------------------------------------------------------------------
def _tcp_request(call: TcpCall) -> bytes | None:
    return call.exchanges[0].request if call.exchanges else None


@CLIENT_CHECKS.check(
    "tcp/request-well-formed",
    "the request is well formed (every field, REPLY clear, result 0) and the reply is accepted",
    requirements=("CLI-2", "MSG-1", "MSG-2", "MSG-3", "MSG-5", "CLI-3"),
)
def tcp_request_well_formed(ctx: Ctx) -> None:
    call = call_over_tcp(ctx, lambda x: x.send(genuine_reply(_request(x)), "genuine reply"))
    _record_plain_exchange(ctx, Transport.TCP, call.accepted_genuine, call.run)
    _judge_request(ctx, _tcp_request(call), call.payload, datagram=False)
    extra = b"".join(x.extra for x in call.exchanges)
    ctx.expect(
        not extra,
        "MSG-5",
        "nothing on the connection but the one request",
        f"{sum(x.extra_length for x in call.exchanges)} more bytes: {extra[:32].hex()}",
    )
    ctx.expect(
        call.accepted_genuine,
        "CLI-3",
        f"the genuine reply accepted: exit 0 and its payload printed as hex ({call.payload.hex()})",
        _printed(call.run),
    )


def _request(exchange: TcpExchange) -> bytes:
    assert exchange.request is not None, "behaviours run only after a whole request arrived"
    return exchange.request


@CLIENT_CHECKS.check(
    "tcp/reply-one-byte-at-a-time",
    "a reply delivered one byte per segment is reassembled",
    requirements=("TCP-CLI-1",),
)
def tcp_reply_one_byte_at_a_time(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.TCP)

    def behaviour(exchange: TcpExchange) -> None:
        reply = genuine_reply(_request(exchange))
        # The whole reply takes at most a quarter of the client's deadline, so only reassembly is judged.
        gap = min(BYTE_GAP, ctx.env.claims.call_timeout / (4 * len(reply)))
        exchange.send_bytewise(reply, gap, f"genuine reply, one byte every {gap * 1000:.3g} ms")

    call = call_over_tcp(ctx, behaviour)
    ctx.expect(
        call.accepted_genuine,
        "TCP-CLI-1",
        f"the whole reply reassembled: exit 0 and its payload printed ({call.payload.hex()})",
        _printed(call.run),
    )


@CLIENT_CHECKS.check(
    "tcp/reply-with-wrong-id",
    "a reply with another request ID, followed by the genuine one, is an error: the client gives up the connection",
    requirements=("TCP-CLI-3",),
)
def tcp_reply_with_wrong_id(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.TCP)

    def behaviour(exchange: TcpExchange) -> None:
        request = _request(exchange)
        forgery = wrong_id_replies(request)[0]
        exchange.send(forgery.data + genuine_reply(request), f"{forgery.note}, then the genuine reply")

    call = call_over_tcp(ctx, behaviour)
    run = call.run
    ctx.expect(
        run.exit_code not in (0, None),
        "TCP-CLI-3",
        "a non-zero exit: a mismatched reply is an error, and the connection is abandoned",
        _printed(run),
    )


@CLIENT_CHECKS.check(
    "tcp/close-mid-reply",
    "the server closing half-way through a reply gives a prompt error, not a hang or a truncated answer",
    requirements=("TCP-CLI-4",),
)
def tcp_close_mid_reply(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.TCP)

    def behaviour(exchange: TcpExchange) -> None:
        reply = genuine_reply(_request(exchange))
        cut = HEADER_SIZE + int((len(reply) - HEADER_SIZE) * CUT_OFF_SHARE)
        exchange.send(reply[:cut], f"the first {cut} of {len(reply)} reply bytes")
        exchange.close("suite closed the connection mid-reply")

    call = call_over_tcp(ctx, behaviour)
    run = call.run
    ctx.expect(
        run.exit_code not in (0, None),
        "TCP-CLI-4",
        "a non-zero exit once the connection closes",
        _printed(run),
    )
    request_at = call.exchanges[0].request_at if call.exchanges else None
    if request_at is not None and run.exit_code is not None:
        ctx.measure("error reported after", run.ended - request_at, "s", "from the request's arrival")


@CLIENT_CHECKS.check(
    "tcp/silent-server",
    "a server that accepts and reads the request but never answers is abandoned at the client's deadline",
    requirements=("TCP-CLI-2",),
)
def tcp_silent_server(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.TCP)
    call = call_over_tcp(ctx, lambda _: None)
    run = call.run
    deadline = ctx.env.claims.call_timeout
    limit = ctx.timing.limit(deadline)
    request_at = call.exchanges[0].request_at if call.exchanges else None
    if request_at is None:
        ctx.skip(f"the client sent no whole request ({_printed(run)})")
    waited = run.ended - request_at
    if run.exit_code is not None:
        ctx.measure("gave up after", waited, "s", f"from the request's arrival; its deadline is {deadline:.3g} s")
    ctx.expect(
        run.exit_code not in (0, None) and waited <= limit,
        "TCP-CLI-2",
        f"a non-zero exit at its deadline of {deadline:.3g} s (tolerated {limit:.3g} s)",
        _printed(run) if run.exit_code in (0, None) else f"exited {run.exit_code} after {waited:.3f} s",
    )


@CLIENT_CHECKS.check(
    "tcp/connect-timeout",
    "a connection the server never accepts (its accept queue is full) is abandoned at the client's deadline",
    requirements=("TCP-CLI-2",),
)
def tcp_connect_timeout(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.TCP)
    run = call_unaccepting_tcp(ctx)
    deadline = ctx.env.claims.call_timeout
    if run.exit_code is not None:
        ctx.measure("gave up after", run.duration, "s", f"process start-up included; its deadline is {deadline:.3g} s")
    ctx.expect(
        run.exit_code not in (0, None),
        "TCP-CLI-2",
        f"a non-zero exit once its connect deadline of {deadline:.3g} s passes",
        _printed(run),
    )
    if run.exit_code not in (0, None) and run.duration < deadline / 2:
        ctx.note("the client gave up well before its deadline: the connection may have been refused, not left pending")


@CLIENT_CHECKS.check(
    "tcp/unsolicited-busy",
    "an unsolicited BUSY (request_id 0) answering the request is taken as BUSY at once, not ignored until the deadline",
    requirements=("TCP-CLI-5",),
)
def tcp_unsolicited_busy(ctx: Ctx) -> None:
    _needs_plain_exchange(ctx, Transport.TCP)
    deadline = ctx.env.claims.call_timeout
    prompt = ctx.timing.limit(0)
    if deadline <= prompt:
        ctx.skip(f"the claimed deadline ({deadline:g} s) is too short to tell a prompt answer from a timeout")
    call = call_over_tcp(ctx, lambda x: x.send(UNSOLICITED_BUSY, "an unsolicited BUSY; the connection stays open"))
    run = call.run
    request_at = call.exchanges[0].request_at if call.exchanges else None
    if request_at is None:
        ctx.skip(f"the client sent no whole request ({_printed(run)})")
    waited = run.ended - request_at
    ctx.expect(
        run.exit_code not in (0, None) and waited <= prompt,
        "TCP-CLI-5",
        f"a non-zero exit within {prompt:.3g} s: the server refused the connection (its deadline is {deadline:.3g} s)",
        _printed(run) if run.exit_code in (0, None) else f"exited {run.exit_code} after {waited:.3f} s",
    )


audited(
    TimingRow(
        "client",
        "udp/gives-up",
        "UDP-CLI-6",
        BoundKind.CLAIM,
        "give up after the claimed number of attempts (the count is exact; the time follows from the schedule)",
        f"from the first attempt until the schedule's worst case + {GRACE:g} s, times the scale",
        f"for the client by {GRACE:g} s x scale; the attempts are counted exactly",
    )
)
for _name in ("tcp/silent-server", "tcp/connect-timeout"):
    audited(
        TimingRow(
            "client",
            _name,
            "TCP-CLI-2",
            BoundKind.CLAIM,
            "a bound on the connect and on the wait for each reply, of the client's choosing: no number",
            f"until the claimed deadline + {GRACE:g} s, times the scale"
            + (" (process start-up included)" if _name == "tcp/connect-timeout" else ", from the request's arrival"),
            f"for the client by {GRACE:g} s x scale; there is no spec bound for it to stretch",
        )
    )
audited(
    TimingRow(
        "client",
        "tcp/unsolicited-busy",
        "TCP-CLI-5",
        BoundKind.MAXIMUM,
        "the unsolicited BUSY ends the call: no wait beyond it",
        f"from the request's arrival until {GRACE:g} s, times the scale, which must be under the client's deadline",
        f"for the client by {GRACE:g} s x scale; a client that ignores the BUSY waits its whole deadline",
    )
)
