"""One call of the client under test against one hostile server: start the server, run the client, stop both."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from rrp_spec import Op, Transport

from ..context import CheckContext
from .environment import ClientEnv
from .hostile_tcp import HostileTcpServer, TcpBehaviour, TcpExchange, UnacceptingTcpServer
from .hostile_udp import Datagram, HostileUdpServer, UdpBehaviour
from .runner import ClientRun, run_client
from .template import CallParameters

#: Bytes of the random payload each call echoes: enough to tell the genuine reply from any other.
PAYLOAD_SIZE = 16
#: The operation every call asks for: ECHO, so that the printed payload shows which reply was accepted.
CALL_OPERATION = Op.ECHO


def fresh_payload() -> bytes:
    """A payload no other call of the run uses."""
    return secrets.token_bytes(PAYLOAD_SIZE)


@dataclass(frozen=True, slots=True)
class UdpCall:
    """What happened in one UDP call."""

    run: ClientRun
    arrivals: tuple[Datagram, ...]
    payload: bytes

    @property
    def accepted_genuine(self) -> bool:
        """The client exited 0 and printed the payload the genuine reply carried."""
        return self.run.succeeded and self.run.reply_hex == self.payload.hex()


@dataclass(frozen=True, slots=True)
class TcpCall:
    """What happened in one TCP call."""

    run: ClientRun
    exchanges: tuple[TcpExchange, ...]
    payload: bytes

    @property
    def accepted_genuine(self) -> bool:
        """The client exited 0 and printed the payload the genuine reply carried."""
        return self.run.succeeded and self.run.reply_hex == self.payload.hex()


def _parameters(env: ClientEnv, transport: Transport, port: int, payload: bytes) -> CallParameters:
    udp = transport is Transport.UDP
    timeout = env.claims.udp_call_timeout if udp else env.claims.call_timeout
    return CallParameters(transport, env.host, port, CALL_OPERATION, payload, timeout, env.claims.retry)


def hard_limit(ctx: CheckContext[ClientEnv], transport: Transport) -> float:
    """How long a call may run before the suite stops the client: its claimed deadline, graced, plus start-up."""
    env = ctx.env
    timeout = env.claims.udp_call_timeout if transport is Transport.UDP else env.claims.call_timeout
    return ctx.timing.limit(timeout) + ctx.timing.scaled(env.start_allowance)


def _log_run(ctx: CheckContext[ClientEnv], run: ClientRun) -> None:
    ctx.log.event("client", run.summary())
    if run.output_held_open:
        ctx.log.remark("client", "a process the client started outside its process group kept its output open")


def call_over_udp(
    ctx: CheckContext[ClientEnv],
    behaviour: UdpBehaviour,
    *,
    alternate: bool = False,
    stop: threading.Event | None = None,
    stop_reason: str = "the check had seen enough",
) -> UdpCall:
    """Run the client once against a hostile UDP server with ``behaviour``.

    ``alternate`` also binds the alternate loopback address (raises
    :class:`~.hostile_udp.AlternateAddressUnavailable` when it cannot be bound).
    """
    env = ctx.env
    payload = fresh_payload()
    server = HostileUdpServer(
        behaviour, ctx.log, host=env.host, alternate_host=env.alternate_host if alternate else None
    )
    with server:
        argv = env.template.render(_parameters(env, Transport.UDP, server.port, payload).fields())
        ctx.log.event("client", "run: " + " ".join(argv))
        run = run_client(argv, hard_limit=hard_limit(ctx, Transport.UDP), stop=stop, stop_reason=stop_reason)
        _log_run(ctx, run)
    return UdpCall(run, server.arrivals, payload)


def call_over_tcp(ctx: CheckContext[ClientEnv], behaviour: TcpBehaviour) -> TcpCall:
    """Run the client once against a hostile TCP server with ``behaviour``."""
    env = ctx.env
    payload = fresh_payload()
    with HostileTcpServer(behaviour, ctx.log, host=env.host) as server:
        argv = env.template.render(_parameters(env, Transport.TCP, server.port, payload).fields())
        ctx.log.event("client", "run: " + " ".join(argv))
        run = run_client(argv, hard_limit=hard_limit(ctx, Transport.TCP))
        _log_run(ctx, run)
    return TcpCall(run, server.exchanges, payload)


def call_unaccepting_tcp(ctx: CheckContext[ClientEnv]) -> ClientRun:
    """Run the client once against a TCP listener that never accepts its connection."""
    env = ctx.env
    with UnacceptingTcpServer(ctx.log, host=env.host) as server:
        argv = env.template.render(_parameters(env, Transport.TCP, server.port, fresh_payload()).fields())
        ctx.log.event("client", "run: " + " ".join(argv))
        run = run_client(argv, hard_limit=hard_limit(ctx, Transport.TCP))
        _log_run(ctx, run)
    return run
