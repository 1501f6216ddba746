"""The client suite's checks of the secure profiles: hostile TLS servers and hostile RRP/1-S servers.

A TLS client must finish the handshake only with a server whose certificate chains to the CA it was given
(``{ca}``) and names the host, offering TLS 1.3 and ALPN rrp/1 (TLS-CLI-1); an RRP/1-S client must accept
only a reply that opens under its key as the answer to the request it sent (SUDP-CLI-1), and retransmit
the same sealed bytes (SUDP-CLI-2). They run when ``--tls-command`` and ``--sudp-command`` are given.
"""

from __future__ import annotations

import itertools
import ssl
import time
from typing import TYPE_CHECKING

from rrp_spec import HEADER_SIZE, Transport, unpack_header
from rrp_spec.secure_wire import SECURE_HEADER_SIZE, ClearHeader, Dropped, parse_clear_header, sequence_at

from ..context import CheckContext

if TYPE_CHECKING:
    from rrp_spec.secure import SecureContext
from ..registry import Registry
from .calls import CALL_OPERATION, fresh_payload, hard_limit
from .environment import ClientEnv
from .forged import FORGED_PAYLOAD, genuine_reply
from .hostile_tls import HostileTlsServer, TlsExchange
from .hostile_udp import Datagram, HostileUdpServer, Send, UdpBehaviour
from .runner import ClientRun, run_client
from .secure_material import KEY_ID, SERVER_NAME, Certificate, SecureMaterial
from .template import CallParameters

#: The client suite's secure-profile checks, in run order.
SECURE_CLIENT_CHECKS: Registry[ClientEnv] = Registry()

#: Seconds between a forged protected reply and the genuine one that follows it.
FORGERY_LEAD = 0.01

Ctx = CheckContext[ClientEnv]


def _material(ctx: Ctx) -> SecureMaterial:
    assert ctx.env.secure is not None, "the runner skips secure checks without their material"
    return ctx.env.secure


def _printed(run: ClientRun) -> str:
    if run.exit_code is None:
        return f"the client was still running ({run.stopped_because})"
    if run.reply_hex == FORGED_PAYLOAD.hex():
        return f"the client exited {run.exit_code} and printed the forged reply's payload"
    return f"the client exited {run.exit_code} and printed {run.reply_hex[:80]!r}"


# --- TLS --------------------------------------------------------------------------------------------


def call_over_tls(ctx: Ctx, context: ssl.SSLContext) -> tuple[ClientRun, list[TlsExchange], bytes]:
    """Run the TLS command once against a hostile TLS server with ``context``."""
    env = ctx.env
    assert env.tls_template is not None
    payload = fresh_payload()
    with HostileTlsServer(context, ctx.log, host=env.host) as server:
        parameters = CallParameters(
            Transport.TCP,
            SERVER_NAME,
            server.port,
            CALL_OPERATION,
            payload,
            env.claims.call_timeout,
            env.claims.retry,
            profile="tls",
            ca=str(_material(ctx).ca_file),
        )
        argv = env.tls_template.render(parameters.fields())
        ctx.log.event("client", "run: " + " ".join(argv))
        run = run_client(argv, hard_limit=hard_limit(ctx, Transport.TCP))
        ctx.log.event("client", run.summary())
        exchanges = list(server.exchanges)
    return run, exchanges, payload


@SECURE_CLIENT_CHECKS.check(
    "tls/verified-server",
    "With the trusted CA's certificate for the host, the client completes TLS 1.3 with ALPN rrp/1 and is answered",
    requirements=("TLS-CLI-1",),
)
def tls_verified_server(ctx: Ctx) -> None:
    context = _material(ctx).server_context(Certificate.GOOD)
    run, exchanges, payload = call_over_tls(ctx, context)
    done = [e for e in exchanges if e.handshake]
    ctx.expect(bool(done), "TLS-CLI-1", "a completed handshake", "; ".join(e.refused for e in exchanges) or "none")
    for exchange in done:
        ctx.expect(exchange.version == "TLSv1.3", "TLS-CLI-1", "TLSv1.3", str(exchange.version))
        ctx.expect(exchange.alpn == "rrp/1", "TLS-CLI-1", "ALPN rrp/1 offered and selected", str(exchange.alpn))
    accepted = run.succeeded and run.reply_hex == payload.hex()
    ctx.expect(accepted, "TLS-CLI-1", f"exit 0 and the payload {payload.hex()} printed", _printed(run))


def _refuses(ctx: Ctx, context: ssl.SSLContext, what: str) -> None:
    run, exchanges, payload = call_over_tls(ctx, context)
    sent_request = any(e.request for e in exchanges)
    ctx.expect(not sent_request, "TLS-CLI-1", f"no request sent to a server with {what}", "the client sent one")
    ctx.expect(
        run.exit_code not in (0, None) and run.reply_hex != payload.hex(),
        "TLS-CLI-1",
        f"the connection refused (non-zero exit) for {what}",
        _printed(run),
    )
    if run.exit_code not in (0, None) and not run.stderr.strip():
        ctx.note("the client refused but said nothing on stderr about why")


@SECURE_CLIENT_CHECKS.check(
    "tls/wrong-host",
    "A certificate from the trusted CA for another host name is refused",
    requirements=("TLS-CLI-1",),
)
def tls_wrong_host(ctx: Ctx) -> None:
    _refuses(ctx, _material(ctx).server_context(Certificate.WRONG_HOST), Certificate.WRONG_HOST.value)


@SECURE_CLIENT_CHECKS.check(
    "tls/expired",
    "An expired certificate for the host from the trusted CA is refused",
    requirements=("TLS-CLI-1",),
)
def tls_expired(ctx: Ctx) -> None:
    _refuses(ctx, _material(ctx).server_context(Certificate.EXPIRED), Certificate.EXPIRED.value)


@SECURE_CLIENT_CHECKS.check(
    "tls/self-signed",
    "A self-signed certificate for the host is refused",
    requirements=("TLS-CLI-1",),
)
def tls_self_signed(ctx: Ctx) -> None:
    _refuses(ctx, _material(ctx).server_context(Certificate.SELF_SIGNED), Certificate.SELF_SIGNED.value)


@SECURE_CLIENT_CHECKS.check(
    "tls/other-ca",
    "A certificate for the host from a CA the client was not given is refused",
    requirements=("TLS-CLI-1",),
)
def tls_other_ca(ctx: Ctx) -> None:
    _refuses(ctx, _material(ctx).server_context(Certificate.OTHER_CA), Certificate.OTHER_CA.value)


@SECURE_CLIENT_CHECKS.check(
    "tls/old-version",
    "A server that speaks at most TLS 1.2 (with a good certificate) is refused",
    requirements=("TLS-CLI-1",),
)
def tls_old_version(ctx: Ctx) -> None:
    context = _material(ctx).server_context(Certificate.GOOD, maximum=ssl.TLSVersion.TLSv1_2)
    _refuses(ctx, context, "a server limited to TLS 1.2")


# --- RRP/1-S ----------------------------------------------------------------------------------------


def _key(ctx: Ctx, secret: bytes | None = None) -> SecureContext:
    from rrp_spec.secure import SecureContext  # the cryptography package: needed only when these checks run

    return SecureContext.from_secret(secret or _material(ctx).secret, KEY_ID)


def call_over_sudp(ctx: Ctx, behaviour: UdpBehaviour) -> tuple[ClientRun, tuple[Datagram, ...], bytes]:
    """Run the RRP/1-S command once against a hostile UDP server with ``behaviour``."""
    env = ctx.env
    assert env.sudp_template is not None
    payload = fresh_payload()
    with HostileUdpServer(behaviour, ctx.log, host=env.host) as server:
        parameters = CallParameters(
            Transport.UDP,
            env.host,
            server.port,
            CALL_OPERATION,
            payload,
            env.claims.udp_call_timeout,
            env.claims.retry,
            profile="sudp",
            key_file=str(_material(ctx).key_file),
            key_id=str(KEY_ID),
        )
        argv = env.sudp_template.render(parameters.fields())
        ctx.log.event("client", "run: " + " ".join(argv))
        run = run_client(argv, hard_limit=hard_limit(ctx, Transport.UDP))
        ctx.log.event("client", run.summary())
    return run, server.arrivals, payload


def _opened(ctx: Ctx, datagram: bytes) -> bytes | None:
    """The RRP/1 request inside a protected request, or ``None`` (logged) when it does not open."""
    try:
        return _key(ctx).open_request(datagram)
    except Dropped as dropped:
        ctx.log.event("sudp", f"a datagram that does not open as a request under key {KEY_ID}: {dropped}")
        return None


def _genuine(ctx: Ctx, datagram: bytes, request: bytes) -> bytes:
    reply = genuine_reply(request)
    return _key(ctx).seal_reply(datagram[:SECURE_HEADER_SIZE], sequence_at(time.time()), reply)


def _judge_forged_then_genuine(ctx: Ctx, forge: str) -> None:
    """The server sends one forged protected reply of kind ``forge``, then the genuine one."""

    def behaviour(_: int, d: Datagram) -> list[Send]:
        request = _opened(ctx, d.data)
        if request is None or len(request) < HEADER_SIZE:
            return []
        forged_inner = genuine_reply(request)[: HEADER_SIZE - 4] + len(FORGED_PAYLOAD).to_bytes(4, "big")
        forged_inner += FORGED_PAYLOAD
        clear = d.data[:SECURE_HEADER_SIZE]
        if forge == "other-request":
            other = ClearHeader(0, KEY_ID, parse_clear_header(d.data).sequence + 1).pack()
            forged = _key(ctx).seal_reply(other, sequence_at(time.time()), forged_inner)
        elif forge == "other-secret":
            stranger = _key(ctx, bytes(b ^ 0x5A for b in _material(ctx).secret))
            forged = stranger.seal_reply(clear, sequence_at(time.time()), forged_inner)
        else:  # a plain RRP/1 reply, unprotected
            forged = forged_inner
        return [
            Send(forged, 0.0, note=f"forged reply ({forge})"),
            Send(_genuine(ctx, d.data, request), FORGERY_LEAD, note="genuine protected reply"),
        ]

    run, _, payload = call_over_sudp(ctx, behaviour)
    if run.succeeded and run.reply_hex == payload.hex():
        return
    if run.reply_hex == FORGED_PAYLOAD.hex():
        ctx.fail("SUDP-CLI-1", "the forged reply ignored", _printed(run))
    else:
        ctx.fail("SUDP-CLI-1", "the forged reply ignored and the genuine one accepted", _printed(run))


@SECURE_CLIENT_CHECKS.check(
    "sudp/sealed-request",
    "The request opens under the client's key and the genuine protected reply is accepted",
    requirements=("SUDP-1", "SUDP-CLI-1"),
)
def sudp_sealed_request(ctx: Ctx) -> None:
    opened: list[bytes] = []

    def behaviour(_: int, d: Datagram) -> list[Send]:
        request = _opened(ctx, d.data)
        if request is None or len(request) < HEADER_SIZE:
            return []
        opened.append(request)
        return [Send(_genuine(ctx, d.data, request), note="genuine protected reply")]

    run, arrivals, payload = call_over_sudp(ctx, behaviour)
    ctx.expect(bool(opened), "SUDP-1", "a request that opens under the key", f"{len(arrivals)} datagrams, none opened")
    if opened:
        header = unpack_header(opened[0])
        ctx.expect(header.operation == CALL_OPERATION, "SUDP-1", "the ECHO asked for", f"operation {header.operation}")
        ctx.expect(opened[0][HEADER_SIZE:] == payload, "SUDP-1", "the payload inside", "another payload")
    accepted = run.succeeded and run.reply_hex == payload.hex()
    ctx.expect(accepted, "SUDP-CLI-1", f"exit 0 and the payload {payload.hex()} printed", _printed(run))


@SECURE_CLIENT_CHECKS.check(
    "sudp/reply-for-other-request",
    "A reply bound to another request (its sequence + 1) is ignored; the genuine one is accepted",
    requirements=("SUDP-CLI-1",),
)
def sudp_reply_for_other_request(ctx: Ctx) -> None:
    _judge_forged_then_genuine(ctx, "other-request")


@SECURE_CLIENT_CHECKS.check(
    "sudp/reply-under-other-secret",
    "A reply sealed under another secret with the same key ID is ignored; the genuine one is accepted",
    requirements=("SUDP-CLI-1",),
)
def sudp_reply_under_other_secret(ctx: Ctx) -> None:
    _judge_forged_then_genuine(ctx, "other-secret")


@SECURE_CLIENT_CHECKS.check(
    "sudp/plain-reply",
    "A plain, unprotected RRP/1 reply with the right request ID is ignored; the genuine one is accepted",
    requirements=("SUDP-CLI-1",),
)
def sudp_plain_reply(ctx: Ctx) -> None:
    _judge_forged_then_genuine(ctx, "plain")


@SECURE_CLIENT_CHECKS.check(
    "sudp/retransmission",
    "When the first attempt goes unanswered, the retransmission is the same sealed bytes",
    requirements=("SUDP-CLI-2",),
)
def sudp_retransmission(ctx: Ctx) -> None:
    def behaviour(index: int, d: Datagram) -> list[Send]:
        request = _opened(ctx, d.data)
        if index == 0 or request is None or len(request) < HEADER_SIZE:
            return []
        return [Send(_genuine(ctx, d.data, request), note="genuine protected reply to the retransmission")]

    _, arrivals, _ = call_over_sudp(ctx, behaviour)
    if len(arrivals) < 2:
        ctx.fail("SUDP-CLI-2", "a retransmission after the unanswered first attempt", f"{len(arrivals)} datagram(s)")
        return
    ctx.expect(
        arrivals[1].data == arrivals[0].data,
        "SUDP-CLI-2",
        "the same sealed bytes again",
        "resealed (another sequence or ciphertext)",
    )


#: Calls whose request sequences are compared.
SEQUENCE_CALLS = 3


@SECURE_CLIENT_CHECKS.check(
    "sudp/rising-sequences",
    f"Across {SEQUENCE_CALLS} calls (each a new run of the client), every request's sequence is above the last one",
    requirements=("SUDP-2",),
)
def sudp_rising_sequences(ctx: Ctx) -> None:
    sequences: list[int] = []

    def behaviour(_: int, d: Datagram) -> list[Send]:
        request = _opened(ctx, d.data)
        if request is None or len(request) < HEADER_SIZE:
            return []
        sequences.append(parse_clear_header(d.data).sequence)
        return [Send(_genuine(ctx, d.data, request), note="genuine protected reply")]

    for _ in range(SEQUENCE_CALLS):
        run, _, payload = call_over_sudp(ctx, behaviour)
        if not (run.succeeded and run.reply_hex == payload.hex()):
            ctx.skip(f"the client did not complete a plain RRP/1-S call: {_printed(run)}")
    rising = all(later > earlier for earlier, later in itertools.pairwise(sequences))
    shown = ", ".join(str(s) for s in sequences)
    ctx.expect(rising, "SUDP-2", "strictly rising sequences, run after run", shown)
