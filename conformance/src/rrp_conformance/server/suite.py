"""The server suite: its checks in run order, its sanity probes, and one call that grades a server."""

from __future__ import annotations

from functools import partial
from typing import TextIO

from rrp_spec import Side

from ..context import Timing
from ..coverage import requirements_for
from ..registry import Registry
from ..reports import JsonValue, RunReport
from ..runner import Probe
from ..suite import ASSUMPTION_POLICY, SuiteOptions, run_suite
from .checks_dispatch import DISPATCH_CHECKS
from .checks_secure import SECURE_CHECKS
from .checks_tcp import TCP_CHECKS
from .checks_udp import UDP_CHECKS
from .checks_vectors import VECTOR_CHECKS
from .env import ASSUMED_FROM, Address, ServerEnv

#: The requirement a target breaks when it stops answering after a check.
DEATH_REQUIREMENT = "SRV-16"
#: The sides whose requirements the server suite grades.
GRADED_SIDES = (Side.SERVER, Side.BOTH)


#: Every server check, in run order: vectors, semantics, UDP, then TCP (destructive ones last).
SERVER_CHECKS: Registry[ServerEnv] = Registry.joined(
    VECTOR_CHECKS, DISPATCH_CHECKS, UDP_CHECKS, SECURE_CHECKS, TCP_CHECKS
)


def _with_port(address: Address) -> dict[str, JsonValue]:
    return {"host": address[0], "port": address[1]}


def _address(address: Address | None) -> JsonValue:
    return None if address is None else _with_port(address)


def describe_target(env: ServerEnv) -> dict[str, JsonValue]:
    """The target as results.json states it: addresses and claims as names and numbers."""
    claims = env.claims
    secure = env.secure
    tls = env.tls
    return {
        "udp": _address(env.udp),
        "tcp": _address(env.tcp),
        "secure_udp": None if secure is None else {**_with_port(secure.address), "key_id": secure.key_id},
        "tls": None if tls is None else {**_with_port(tls.address), "server_name": tls.server_name or tls.address[0]},
        "alt_address": env.alt_address,
        "unclaimed_settings": ASSUMPTION_POLICY,
        "assumed": [f"{name}: {why}" for name, why in ASSUMED_FROM.items() if name not in claims.claimed],
        "claims": {
            "request_deadline_s": claims.request_deadline,
            "idle_timeout_s": claims.idle_timeout,
            "send_timeout_s": claims.send_timeout,
            "udp_max_payload_bytes": claims.udp_max_payload,
            "tcp_max_payload_bytes": claims.tcp_max_payload,
            "max_connections": claims.max_connections,
            "max_connections_per_source": claims.max_connections_per_source,
        },
    }


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
    target = describe_target(env)
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
