"""The order in which a server judges a request, and what it does about each broken rule.

The descriptions below are the site's prose; the requirement, action and result
code in every row are what :func:`rrp_spec.check_request` does with a header that
breaks that one rule, so the table follows the spec's judge rather than restating it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rrp_spec import (
    APPLICATION_RANGE_START,
    DEFAULT_TCP_MAX_PAYLOAD,
    DEFAULT_UDP_MAX_PAYLOAD,
    HEADER_SIZE,
    RESERVED_FLAG_BITS,
    VERSION,
    Action,
    Flag,
    Header,
    Op,
    ProtocolViolation,
    Transport,
    check_request,
    decode_request_datagram,
    pack_header,
)

from .markdown import PageContext, requirement_link, table

_VALID = Header(operation=Op.NOOP, request_id=1)
_LIMITS = {Transport.UDP: DEFAULT_UDP_MAX_PAYLOAD, Transport.TCP: DEFAULT_TCP_MAX_PAYLOAD}


@dataclass(frozen=True, slots=True)
class Probe:
    """A request that breaks one rule: how to build it over each transport."""

    #: The rule, as the table states it.
    rule: str
    #: The offending header.
    header: Header
    #: Extra (positive) or missing (negative) payload bytes in the UDP datagram.
    datagram_surplus: int = 0
    #: False for rules that exist on one transport only.
    tcp: bool = True


def _with(**changes: Any) -> Header:
    return dataclasses.replace(_VALID, **changes)


#: The rules in the order a server applies them: framing before content.
PROBES: tuple[Probe, ...] = (
    Probe("magic is not `RR`", _with(magic=b"XX")),
    Probe("the REPLY flag is set", _with(flags=int(Flag.REPLY))),
    Probe(f"version is not {VERSION}", _with(version=VERSION + 1)),
    Probe(f"the datagram's length is not {HEADER_SIZE} + `size`", _with(size=1), datagram_surplus=-1, tcp=False),
    Probe("`size` is above the server's payload limit", _with(size=DEFAULT_TCP_MAX_PAYLOAD + 1)),
    Probe("a reserved flag bit is set", _with(flags=RESERVED_FLAG_BITS & -RESERVED_FLAG_BITS)),
    Probe("`result` is not 0", _with(result=1)),
    Probe("`request_id` is 0", _with(request_id=0)),
    Probe("the operation is reserved", _with(operation=APPLICATION_RANGE_START - 1)),
    Probe("INCREMENT carries a payload", _with(operation=Op.INCREMENT, size=1)),
)


def _judge(run: Callable[[], object]) -> ProtocolViolation:
    try:
        run()
    except ProtocolViolation as violation:
        return violation
    raise AssertionError("the probe broke no rule: rrp_spec.check_request and the docs' probes disagree")


def _outcome(violation: ProtocolViolation, ctx: PageContext) -> str:
    if violation.action is Action.REPLY and violation.result is not None:
        what = f"reply `{violation.result.name}`" + (", then close" if violation.close_after else "")
    elif violation.action is Action.DROP:
        what = "drop silently"
    else:
        what = "close, no reply"
    return f"{what} ({requirement_link(violation.requirement, ctx)})"


def _udp(probe: Probe) -> ProtocolViolation:
    header = probe.header
    size = min(header.size, DEFAULT_UDP_MAX_PAYLOAD + 1)
    header = dataclasses.replace(header, size=size)
    datagram = pack_header(header) + bytes(max(size + probe.datagram_surplus, 0))
    return _judge(lambda: decode_request_datagram(datagram, _LIMITS[Transport.UDP]))


def _tcp(probe: Probe) -> ProtocolViolation:
    return _judge(lambda: check_request(probe.header, transport=Transport.TCP, max_payload=_LIMITS[Transport.TCP]))


def precedence_table(ctx: PageContext) -> str:
    """One row per rule, in the order they are applied, with the UDP and TCP outcome."""
    short = _judge(lambda: decode_request_datagram(bytes(HEADER_SIZE - 1)))
    waiting = f"keep reading, within the whole-request deadline ({requirement_link('TCP-SRV-5', ctx)})"
    rows = [["1", f"fewer than {HEADER_SIZE} bytes have arrived", _outcome(short, ctx), waiting]]
    for number, probe in enumerate(PROBES, start=2):
        tcp = _outcome(_tcp(probe), ctx) if probe.tcp else "(no such rule: TCP frames by `size`)"
        rows.append([str(number), probe.rule, _outcome(_udp(probe), ctx), tcp])
    return table(["Order", "The request is rejected when...", "UDP server", "TCP server"], rows)
