"""Header and dispatch: every invalid request vector of rrp_spec's ``rrp-v1.json``, over each transport it applies to.

Each vector becomes one check per transport that sends its exact bytes and expects
its exact action: a silent drop (UDP), a close without a reply (TCP), or a bare
error reply with the vector's result code (over TCP followed by a close when the
vector says so, or else by a working connection: TCP-SRV-9).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rrp_spec import HEADER_SIZE, Result, unpack_header, vectors

from ..context import CheckContext
from ..registry import Registry
from .env import ServerEnv
from .judge import REPLY_WAIT, judge_reply, tcp_first_exchange, udp_exchange
from .net import Ending, TcpChannel, TcpRead, UdpChannel, describe, echo_request

#: Seconds (before scaling) of silence after the probe's reply that make a drop a drop.
QUIET = 0.2
#: Results after which a TCP server keeps the connection (TCP-SRV-9).
_FRAMING_INTACT = {Result.MALFORMED, Result.UNKNOWN_OPERATION, Result.INTERNAL_ERROR}


def _expectation(expect: dict[str, Any]) -> str:
    if expect["action"] == "reply":
        return f"a bare {expect['result']} reply" + (", then a close" if expect.get("then") == "close" else "")
    return {"drop": "no reply (a silent drop)", "close": "a close without a reply"}[expect["action"]]


def _udp_vector(vector: dict[str, Any]) -> Callable[[CheckContext[ServerEnv]], None]:
    data = bytes.fromhex(vector["hex"])
    expect = vector["expect"]
    requirement = vector["requirements"][0]

    def run(ctx: CheckContext[ServerEnv]) -> None:
        env = ctx.env
        assert env.udp is not None
        with UdpChannel(ctx.log, env.udp, env.amplification) as channel:
            if expect["action"] == "drop":
                channel.send(data, note=f"vector {vector['name']}")
                # A probe right behind the vector: once its reply is in, a reply to the vector would be too.
                probe, probe_header = echo_request(os.urandom(4))
                udp_exchange(ctx, channel, probe, note="probe: the vector's reply, if any, comes before this one")
                channel.drain(ctx.timing.scaled(QUIET))
                got = [d for d, _ in channel.received if _not_probe(d, probe_header.request_id)]
                ctx.expect(
                    not got,
                    requirement,
                    _expectation(expect),
                    f"{len(got)} reply datagram(s): {describe(got[0]) if got else ''}",
                )
                return
            reply = udp_exchange(ctx, channel, data, note=f"vector {vector['name']}")
            judge_reply(
                ctx,
                reply,
                unpack_header(data),
                datagram=True,
                result=Result[expect["result"]],
                requirement=requirement,
            )

    return run


def _not_probe(data: bytes, probe_id: int) -> bool:
    return len(data) < HEADER_SIZE or unpack_header(data).request_id != probe_id


def _tcp_vector(vector: dict[str, Any]) -> Callable[[CheckContext[ServerEnv]], None]:
    data = bytes.fromhex(vector["hex"])
    expect = vector["expect"]
    requirement = vector["requirements"][0]

    def run(ctx: CheckContext[ServerEnv]) -> None:
        env = ctx.env
        assert env.tcp is not None
        header = unpack_header(data)
        too_large = expect["action"] == "reply" and Result[expect["result"]] is Result.TOO_LARGE
        if too_large and header.size <= env.claims.tcp_max_payload:
            ctx.skip(f"size {header.size} is within the claimed TCP payload limit {env.claims.tcp_max_payload}")
        wait = ctx.timing.scaled(REPLY_WAIT)
        if expect["action"] == "close":
            with TcpChannel(ctx.log, env.tcp, timeout=wait) as channel:
                channel.send(data, note=f"vector {vector['name']}")
                got = _closed_for_good(ctx, channel)
            ctx.expect(
                got.closed and not got.data,
                requirement,
                _expectation(expect),
                f"{len(got.data)} bytes back ({describe(got.data)})" if got.data else "the connection stayed open",
            )
            return
        result = Result[expect["result"]]
        channel, read = tcp_first_exchange(ctx, data, f"vector {vector['name']}")
        with channel:
            reply = read.data if read.ending is Ending.MESSAGE else None
            if reply is None and read.data:
                ctx.fail(requirement, _expectation(expect), f"an incomplete message, then {read.ending.value}")
                return
            replied = judge_reply(ctx, reply, header, datagram=False, result=result, requirement=requirement)
            if replied is None or replied.result != result:
                return
            if expect.get("then") == "close":
                got = _closed_for_good(ctx, channel)
                ctx.expect(
                    got.closed and not got.data,
                    requirement,
                    "the connection closed right after the error reply",
                    f"{len(got.data)} more bytes" if got.data else f"the connection was {got.ending.value}",
                )
            elif result in _FRAMING_INTACT:
                follow_up, follow_header = echo_request(b"after the error")
                channel.send(follow_up, note="the connection must still work (TCP-SRV-9)")
                after = channel.read_message(wait)
                ok = after.ending is Ending.MESSAGE and after.data[HEADER_SIZE:] == b"after the error"
                ctx.expect(
                    ok and unpack_header(after.data).request_id == follow_header.request_id,
                    "TCP-SRV-9",
                    "the payload of the rejected request discarded and the next request on the connection answered",
                    describe(after.data) if after.data else f"no reply ({after.ending.value})",
                )

    return run


def _closed_for_good(ctx: CheckContext[ServerEnv], channel: TcpChannel) -> TcpRead:
    """Send an ECHO behind the vector and wait for the close: a server that kept the connection answers it.

    Without the ECHO, a server that ignored the vector and kept reading would look closed once its idle
    timeout fired.
    """
    follow_up, _ = echo_request(b"must not be answered")
    channel.send(follow_up, "an ECHO behind it: the connection must already be closing")
    return channel.wait_closed(ctx.timing.limit(0))


#: One check per invalid request vector and transport, in the vectors' order.
VECTOR_CHECKS: Registry[ServerEnv] = Registry()


def _declare_vector_checks() -> None:
    for vector in vectors.load():
        if vector["direction"] != "request" or "action" not in vector["expect"]:
            continue
        transports = ("udp", "tcp") if vector["transport"] == "any" else (vector["transport"],)
        for transport in transports:
            requirements = list(vector["requirements"])
            if vector["expect"]["action"] == "reply":
                requirements += ["SRV-12", "SRV-13"]
            if transport == "tcp" and Result[vector["expect"].get("result", "OK")] in _FRAMING_INTACT:
                requirements.append("TCP-SRV-9")
            factory = _udp_vector if transport == "udp" else _tcp_vector
            VECTOR_CHECKS.check(
                f"{transport}/vector/{vector['name']}",
                f"Vector {vector['name']!r} ({vector['description']}): expect {_expectation(vector['expect'])}.",
                area="header",
                requirements=dict.fromkeys(requirements),
            )(factory(vector))


_declare_vector_checks()
