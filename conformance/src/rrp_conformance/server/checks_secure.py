"""Checks of the secure profiles: RRP/1-S on the target's secure UDP port (with the key the suite is given),
and RRP/1 over TLS on its TLS port.

A secure check that finds the profile absent is SKIPPED by the runner before it starts: give
``--secure-udp HOST:PORT --psk-id N --psk-file FILE`` and ``--tls HOST:PORT``.
"""

from __future__ import annotations

import os
import ssl
import time

from rrp_spec import (
    AMPLIFICATION_FACTOR,
    COUNTER_SIZE,
    HEADER_SIZE,
    Flag,
    Header,
    Op,
    Result,
    pack_header,
    pack_request,
    unpack_header,
)
from rrp_spec.secure_wire import (
    FRESHNESS_WINDOW,
    SECURE_HEADER_SIZE,
    TLS_ALPN,
    ClearHeader,
    Dropped,
    parse_clear_header,
    sequence_at,
)

from ..context import CheckContext
from ..registry import Registry
from .env import SecureTarget, ServerEnv
from .judge import UDP_ATTEMPT_WAIT, UDP_ATTEMPTS, judge_reply
from .net import TcpChannel, UdpChannel, echo_request, fresh_id
from .secure_net import tls_channel

#: The secure-profile checks, in run order.
SECURE_CHECKS: Registry[ServerEnv] = Registry()

#: Seconds a dropped datagram is given to be answered anyway before the check calls it silence.
SILENCE = 0.5
#: How far past the freshness window the stale probes sit: the bound itself plus the clock skew the suite
#: assumes between itself and the target (same machine on loopback; NTP-synchronised hosts otherwise).
ASSUMED_CLOCK_SKEW = 5.0
#: Requests whose replies' sequences are compared.
SEQUENCE_SAMPLE = 20


def _target(ctx: CheckContext[ServerEnv]) -> SecureTarget:
    assert ctx.env.secure is not None, "the runner skips secure checks without a secure target"
    return ctx.env.secure


def _exchange(ctx: CheckContext[ServerEnv], channel: UdpChannel, datagram: bytes, note: str) -> bytes | None:
    """Send the same protected bytes up to the suite's attempts; the first datagram from the target, or ``None``."""
    for attempt in range(UDP_ATTEMPTS):
        channel.send(datagram, note if attempt == 0 else f"retransmission {attempt} (the same sealed bytes)")
        deadline = time.monotonic() + ctx.timing.scaled(UDP_ATTEMPT_WAIT)
        while (left := deadline - time.monotonic()) > 0:
            got = channel.receive(left)
            if got is None:
                break
            if got[1] == channel.target:
                return got[0]
    return None


def _silence(ctx: CheckContext[ServerEnv], channel: UdpChannel, datagram: bytes, note: str) -> bytes | None:
    """Send ``datagram`` once; whatever the target sends back within the quiet period (``None``: silence)."""
    channel.send(datagram, note)
    deadline = time.monotonic() + ctx.timing.scaled(SILENCE)
    while (left := deadline - time.monotonic()) > 0:
        got = channel.receive(left)
        if got is None:
            return None
        if got[1] == channel.target:
            return got[0]
    return None


def _opened(
    ctx: CheckContext[ServerEnv],
    reply: bytes | None,
    sealed_request: bytes,
    request: Header,
    result: Result = Result.OK,
) -> bytes | None:
    """The RRP/1 reply inside ``reply``, judged as the answer to ``request`` carrying ``result``; failures recorded."""
    if reply is None:
        ctx.fail("SUDP-SRV-4", "a protected reply", "no reply")
        return None
    try:
        clear = parse_clear_header(reply)
        inner = _target(ctx).context.open_reply(reply, sealed_request[:SECURE_HEADER_SIZE])
    except Dropped as dropped:
        ctx.fail("SUDP-SRV-4", "a reply that opens as the answer to the request sent", dropped.reason.value)
        return None
    ctx.expect(clear.key_id == _target(ctx).key_id, "SUDP-1", f"key ID {_target(ctx).key_id}", f"{clear.key_id}")
    ctx.expect(
        len(reply) <= AMPLIFICATION_FACTOR * len(sealed_request),
        "SUDP-SRV-4",
        f"at most {AMPLIFICATION_FACTOR} x {len(sealed_request)} bytes",
        f"{len(reply)} bytes",
    )
    judge_reply(ctx, inner, request, datagram=True, result=result, requirement="SUDP-1")
    return inner


@SECURE_CHECKS.check(
    "sudp/echo",
    "A sealed ECHO gets a reply that opens under the key, bound to the request, with the payload back.",
    requirements=("SUDP-1", "SUDP-SRV-4"),
)
def _echo(ctx: CheckContext[ServerEnv]) -> None:
    target = _target(ctx)
    payload = os.urandom(64)
    message, header = echo_request(payload)
    sealed = target.seal(message)
    with UdpChannel(ctx.log, target.address) as channel:
        inner = _opened(ctx, _exchange(ctx, channel, sealed, "sealed ECHO"), sealed, header)
    if inner is not None:
        ctx.expect(inner[HEADER_SIZE:] == payload, "SUDP-1", "the payload back", f"{len(inner) - HEADER_SIZE} bytes")


@SECURE_CHECKS.check(
    "sudp/error-replies-sealed",
    "A request the server must refuse (a reserved flag bit inside) gets its error reply sealed too.",
    requirements=("SUDP-SRV-4",),
)
def _errors_sealed(ctx: CheckContext[ServerEnv]) -> None:
    target = _target(ctx)
    request = Header(flags=0x02, operation=int(Op.NOOP), request_id=fresh_id())
    sealed = target.seal(pack_header(request))
    with UdpChannel(ctx.log, target.address) as channel:
        reply = _exchange(ctx, channel, sealed, "sealed NOOP with reserved flag bit 1 set inside")
    _opened(ctx, reply, sealed, request, Result.MALFORMED)


@SECURE_CHECKS.check(
    "sudp/forgeries",
    "Tampered ciphertext, tag, key ID, sequence or flags, an unknown key and plain RRP/1 all get silence.",
    requirements=("SUDP-SRV-1",),
)
def _forgeries(ctx: CheckContext[ServerEnv]) -> None:
    target = _target(ctx)
    genuine = target.seal(pack_request(Op.NOOP, fresh_id()))

    def flip(index: int, mask: int = 0x01) -> bytes:
        return genuine[:index] + bytes([genuine[index] ^ mask]) + genuine[index + 1 :]

    unknown_key = ClearHeader(0, target.key_id ^ 0x8000_0000, sequence_at(time.time())).pack() + genuine[16:]
    cases = {
        "one ciphertext bit flipped": flip(SECURE_HEADER_SIZE + 3),
        "one tag bit flipped": flip(len(genuine) - 1),
        "the key ID changed": unknown_key,
        "the sequence changed": flip(SECURE_HEADER_SIZE - 1),
        "the REPLY flag set": flip(3, int(Flag.REPLY)),
        "a reserved flag bit set": flip(3, 0x04),
        "a plain RRP/1 ECHO": echo_request(b"plain")[0],
        "garbage with the RRP/1-S magic": b"RS\x01\x00" + os.urandom(60),
    }
    with UdpChannel(ctx.log, target.address) as channel:
        for what, datagram in cases.items():
            answer = _silence(ctx, channel, datagram, what)
            ctx.expect(answer is None, "SUDP-SRV-1", f"silence for {what}", f"a {len(answer or b'')}-byte answer")
        fresh, header = echo_request(b"still served")
        sealed = target.seal(fresh)
        _opened(ctx, _exchange(ctx, channel, sealed, "a genuine ECHO after the forgeries"), sealed, header)


@SECURE_CHECKS.check(
    "sudp/stale",
    f"Sequences {FRESHNESS_WINDOW + ASSUMED_CLOCK_SKEW:g} s in the past or the future get silence.",
    requirements=("SUDP-SRV-2",),
)
def _stale(ctx: CheckContext[ServerEnv]) -> None:
    target = _target(ctx)
    offset = FRESHNESS_WINDOW + ASSUMED_CLOCK_SKEW
    with UdpChannel(ctx.log, target.address) as channel:
        for sign, when in ((-1, "past"), (1, "future")):
            sequence = sequence_at(time.time() + sign * offset)
            datagram = target.context.seal_request(sequence, pack_request(Op.INCREMENT, fresh_id()))
            answer = _silence(ctx, channel, datagram, f"an INCREMENT sealed {offset:g} s in the {when}")
            ctx.expect(answer is None, "SUDP-SRV-2", f"silence for a {when} sequence", f"{len(answer or b'')} bytes")


@SECURE_CHECKS.check(
    "sudp/retransmission",
    "The same sealed INCREMENT twice: the same protected reply byte for byte, carried out once.",
    requirements=("SUDP-SRV-3",),
)
def _retransmission(ctx: CheckContext[ServerEnv]) -> None:
    target = _target(ctx)
    request = pack_request(Op.INCREMENT, fresh_id())
    sealed = target.seal(request)
    with UdpChannel(ctx.log, target.address) as channel:
        first = _exchange(ctx, channel, sealed, "sealed INCREMENT")
        inner = _opened(ctx, first, sealed, unpack_header(request))
        if first is None or inner is None:
            return
        again = _exchange(ctx, channel, sealed, "the same sealed bytes again (a retransmission)")
        ctx.expect(again == first, "SUDP-SRV-3", "the cached protected reply, byte for byte", _compare(first, again))
        following = pack_request(Op.INCREMENT, fresh_id())
        sealed_next = target.seal(following)
        after = _opened(
            ctx,
            _exchange(ctx, channel, sealed_next, "a new sealed INCREMENT"),
            sealed_next,
            unpack_header(following),
        )
    if after is not None and len(inner) >= HEADER_SIZE + COUNTER_SIZE and len(after) >= HEADER_SIZE + COUNTER_SIZE:
        counted = int.from_bytes(after[HEADER_SIZE:], "big") - int.from_bytes(inner[HEADER_SIZE:], "big")
        ctx.expect(counted == 1, "SUDP-SRV-3", "the next counter value (carried out once)", f"{counted} more")


@SECURE_CHECKS.check(
    "sudp/replay",
    "An accepted request replayed from another source, or resealed under its sequence, gets silence.",
    requirements=("SUDP-SRV-3",),
)
def _replay(ctx: CheckContext[ServerEnv]) -> None:
    target = _target(ctx)
    sequence = target.next_sequence()
    message = pack_request(Op.INCREMENT, fresh_id())
    sealed = target.context.seal_request(sequence, message)
    with UdpChannel(ctx.log, target.address) as channel:
        if _exchange(ctx, channel, sealed, "sealed INCREMENT") is None:
            ctx.fail("SUDP-SRV-4", "a protected reply", "no reply")
            return
        resealed = target.context.seal_request(sequence, pack_request(Op.INCREMENT, fresh_id()))
        answer = _silence(ctx, channel, resealed, "another INCREMENT sealed under the accepted sequence")
        ctx.expect(answer is None, "SUDP-SRV-3", "silence for a reused sequence", f"{len(answer or b'')} bytes")
    source = ctx.env.alt_address if ":" not in target.address[0] else None
    if source is None:
        ctx.note("replay from another source not tried: no second IPv4 loopback source for an IPv6 target")
        return
    try:
        other = UdpChannel(ctx.log, target.address, source=source)
    except OSError as error:
        ctx.note(f"replay from {source} not tried: {error.strerror or error}")
        return
    with other:
        answer = _silence(ctx, other, sealed, f"the accepted INCREMENT's bytes replayed from {source}")
    ctx.expect(answer is None, "SUDP-SRV-3", "silence for a replay from another source", f"{len(answer or b'')} bytes")


@SECURE_CHECKS.check(
    "sudp/reply-sequences",
    f"{SEQUENCE_SAMPLE} replies carry strictly increasing sequences of the server's own: no nonce twice.",
    requirements=("SUDP-2", "SUDP-SRV-4"),
)
def _reply_sequences(ctx: CheckContext[ServerEnv]) -> None:
    target = _target(ctx)
    sequences: list[int] = []
    with UdpChannel(ctx.log, target.address) as channel:
        for _ in range(SEQUENCE_SAMPLE):
            message, header = echo_request(os.urandom(8))
            sealed = target.seal(message)
            reply = _exchange(ctx, channel, sealed, "sealed ECHO")
            if _opened(ctx, reply, sealed, header) is None or reply is None:
                return
            sequences.append(parse_clear_header(reply).sequence)
    repeated = len(sequences) - len(set(sequences))
    ctx.expect(repeated == 0, "SUDP-2", "no reply sequence twice", f"{repeated} repeated")
    ctx.expect(
        sequences == sorted(sequences),
        "SUDP-2",
        "strictly increasing reply sequences",
        ", ".join(str(s) for s in sequences[:6]) + ("..." if len(sequences) > 6 else ""),
    )


def _compare(first: bytes, again: bytes | None) -> str:
    if again is None:
        return "no reply to the retransmission"
    if again == first:
        return "identical"
    return f"a different {len(again)}-byte reply"


# --- RRP/1 over TLS ---------------------------------------------------------------------------


@SECURE_CHECKS.check(
    "tls/handshake",
    f'TLS 1.3 with ALPN "{TLS_ALPN}" is accepted, the protocol selected, and an ECHO inside answered.',
    requirements=("TLS-SRV-1",),
)
def _tls_handshake(ctx: CheckContext[ServerEnv]) -> None:
    channel = _tls_or_fail(ctx, [TLS_ALPN], "TLS 1.3 with ALPN rrp/1")
    if channel is None:
        return
    with channel:
        secured = channel.sock
        assert isinstance(secured, ssl.SSLSocket)
        ctx.expect(secured.version() == "TLSv1.3", "TLS-SRV-1", "TLSv1.3", str(secured.version()))
        ctx.expect(
            secured.selected_alpn_protocol() == TLS_ALPN, "TLS-SRV-1", TLS_ALPN, str(secured.selected_alpn_protocol())
        )
        data, header = echo_request(b"over TLS")
        channel.send(data, "ECHO over TLS")
        got = channel.read_message(ctx.timing.limit(ctx.env.claims.request_deadline))
        judge_reply(ctx, got.data or None, header, datagram=False, result=Result.OK, requirement="TLS-SRV-1")


@SECURE_CHECKS.check(
    "tls/old-versions",
    "A client that offers at most TLS 1.2 is refused in the handshake.",
    requirements=("TLS-SRV-1",),
)
def _tls_old(ctx: CheckContext[ServerEnv]) -> None:
    assert ctx.env.tls is not None
    try:
        channel = _tls(ctx, [TLS_ALPN], maximum=ssl.TLSVersion.TLSv1_2)
    except (ssl.SSLError, OSError) as error:
        ctx.log.event("tls", f"handshake refused: {error}")
        return
    with channel:
        version = channel.sock.version() if isinstance(channel.sock, ssl.SSLSocket) else None
        ctx.fail("TLS-SRV-1", "no handshake below TLS 1.3", f"a {version} handshake completed")


@SECURE_CHECKS.check(
    "tls/alpn-other",
    "A client offering only ALPN h2 is closed without an answer to its ECHO.",
    requirements=("TLS-SRV-1",),
)
def _tls_alpn_other(ctx: CheckContext[ServerEnv]) -> None:
    _closed_without_rrp(ctx, ["h2"], "only ALPN h2")


@SECURE_CHECKS.check(
    "tls/alpn-none",
    "A client offering no ALPN at all is closed without an answer to its ECHO.",
    requirements=("TLS-SRV-1",),
)
def _tls_alpn_none(ctx: CheckContext[ServerEnv]) -> None:
    _closed_without_rrp(ctx, [], "no ALPN")


def _closed_without_rrp(ctx: CheckContext[ServerEnv], protocols: list[str], what: str) -> None:
    try:
        channel = _tls(ctx, protocols)
    except (ssl.SSLError, OSError) as error:
        ctx.log.event("tls", f"handshake refused ({what}): {error}")
        return
    with channel:
        data, _ = echo_request(b"no rrp/1 agreed")
        try:
            channel.send(data, f"ECHO after offering {what}")
            got = channel.read_message(ctx.timing.limit(ctx.env.claims.request_deadline))
        except (ssl.SSLError, OSError) as error:  # the TLS session torn down under the suite: closed
            ctx.log.event(channel.name, f"closed by the target: {error}")
            return
    observed = f"{got.ending.value}, {len(got.data)} bytes"
    ctx.expect(not got.data, "TLS-SRV-1", "the connection closed unanswered", observed)


@SECURE_CHECKS.check(
    "tls/plaintext",
    "A plain RRP/1 ECHO on the TLS port gets no RRP/1 reply.",
    requirements=("TLS-SRV-2",),
)
def _tls_plaintext(ctx: CheckContext[ServerEnv]) -> None:
    assert ctx.env.tls is not None
    data, _ = echo_request(b"in clear")
    with TcpChannel(ctx.log, ctx.env.tls.address, timeout=5, label="tls-port") as channel:
        channel.send(data, "plain RRP/1 ECHO on the TLS port")
        got = channel.wait_closed(ctx.timing.limit(ctx.env.claims.request_deadline))
    rrp_reply = len(got.data) >= HEADER_SIZE and got.data[:2] == b"RR"
    ctx.expect(
        not rrp_reply, "TLS-SRV-2", "no RRP/1 reply in clear", f"{len(got.data)} bytes starting {got.data[:4]!r}"
    )


@SECURE_CHECKS.check(
    "tls/handshake-deadline",
    "A connection that never sends its ClientHello, or only half of one, is closed within the request deadline.",
    requirements=("TLS-SRV-3",),
)
def _tls_deadline(ctx: CheckContext[ServerEnv]) -> None:
    assert ctx.env.tls is not None
    limit = ctx.timing.limit(ctx.env.claims.request_deadline)
    for what, sent in (("nothing", b""), ("half a ClientHello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")):
        with TcpChannel(ctx.log, ctx.env.tls.address, timeout=5, label="tls-port") as channel:
            if sent:
                channel.send(sent, what, message_start=False)
            got = channel.wait_closed(limit)
        ctx.expect(got.closed, "TLS-SRV-3", f"closed within {limit:.1f} s after {what}", f"{got.ending.value}")


def _tls_or_fail(ctx: CheckContext[ServerEnv], protocols: list[str], what: str) -> TcpChannel | None:
    try:
        return _tls(ctx, protocols)
    except (TimeoutError, ssl.SSLError, OSError) as error:
        ctx.fail("TLS-SRV-1", f"a completed handshake ({what})", str(error))
        return None


def _tls(ctx: CheckContext[ServerEnv], protocols: list[str], maximum: ssl.TLSVersion | None = None) -> TcpChannel:
    assert ctx.env.tls is not None, "the runner skips TLS checks without a TLS target"
    timeout = ctx.timing.limit(ctx.env.claims.request_deadline)
    return tls_channel(ctx.log, ctx.env.tls, timeout, protocols, maximum=maximum)
