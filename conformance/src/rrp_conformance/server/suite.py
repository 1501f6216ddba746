"""The server suite: its checks in run order, its sanity probes, and one call that grades a server."""

from __future__ import annotations

from functools import partial
from typing import TextIO

from rrp_spec import Side

from ..context import Timing
from ..coverage import requirements_for
from ..registry import Registry
from ..reports import RunReport
from ..runner import Probe
from ..suite import SuiteOptions, run_suite
from .checks_dispatch import DISPATCH_CHECKS
from .checks_secure import SECURE_CHECKS
from .checks_tcp import TCP_CHECKS
from .checks_udp import UDP_CHECKS
from .checks_vectors import VECTOR_CHECKS
from .env import ServerEnv, show

#: The requirement a target breaks when it stops answering after a check.
DEATH_REQUIREMENT = "SRV-16"
#: The sides whose requirements the server suite grades.
GRADED_SIDES = (Side.SERVER, Side.BOTH)


#: Every server check, in run order: vectors, semantics, UDP, then TCP (destructive ones last).
SERVER_CHECKS: Registry[ServerEnv] = Registry.joined(
    VECTOR_CHECKS, DISPATCH_CHECKS, UDP_CHECKS, SECURE_CHECKS, TCP_CHECKS
)


def grade_server(env: ServerEnv, options: SuiteOptions, stream: TextIO | None = None) -> RunReport:
    """Run the server suite against ``env`` and write its reports."""
    from .judge import REPLY_WAIT, UDP_ATTEMPT_WAIT, UDP_ATTEMPTS, probe_tcp, probe_udp
    from .secure_net import probe_secure_udp, probe_tls

    timing = Timing(scale=options.timeout_scale)
    probes: dict[str, Probe] = {}
    unavailable: dict[str, str] = {}
    if env.udp is not None:
        probes["udp"] = partial(probe_udp, env, timing)
    else:
        unavailable["udp"] = "no UDP address given (--udp)"
    if env.tcp is not None:
        probes["tcp"] = partial(probe_tcp, env, timing)
    else:
        unavailable["tcp"] = "no TCP address given (--tcp)"
    if env.secure is not None:
        secure = env.secure
        probes["sudp"] = lambda: probe_secure_udp(secure, timing.scaled(UDP_ATTEMPT_WAIT), UDP_ATTEMPTS)
    else:
        unavailable["sudp"] = "RRP/1-S not graded (--secure-udp HOST:PORT --psk-id N --psk-file FILE)"
    if env.tls is not None:
        tls = env.tls
        probes["tls"] = lambda: probe_tls(tls, timing.scaled(REPLY_WAIT))
    else:
        unavailable["tls"] = "RRP/1 over TLS not graded (--tls HOST:PORT)"
    claims = env.claims
    target = {
        "udp": show(env.udp) if env.udp else "not graded",
        "tcp": show(env.tcp) if env.tcp else "not graded",
        "secure udp": f"{show(env.secure.address)} (key ID {env.secure.key_id})" if env.secure else "not graded",
        "tls": show(env.tls.address) if env.tls else "not graded",
        "alt address": env.alt_address,
        "request deadline (s)": f"{claims.request_deadline:g}",
        "idle timeout (s)": f"{claims.idle_timeout:g}",
        "send timeout (s)": f"{claims.send_timeout:g}",
        "UDP max payload": str(claims.udp_max_payload),
        "TCP max payload": str(claims.tcp_max_payload),
        "max connections": str(claims.max_connections),
        "max connections per source": str(claims.max_connections_per_source),
    }
    return run_suite(
        suite="server",
        checks=list(SERVER_CHECKS),
        env=env,
        options=options,
        probes=probes,
        unavailable=unavailable,
        target=target,
        graded=requirements_for(GRADED_SIDES),
        death_requirement=DEATH_REQUIREMENT,
        stream=stream,
    )
