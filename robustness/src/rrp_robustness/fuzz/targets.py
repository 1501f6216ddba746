"""The registry of fuzz targets: name, the function that judges one input, and its seeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import core_targets, corpus, spec_targets


@dataclass(frozen=True, slots=True)
class FuzzTarget:
    """One fuzz target."""

    #: Name on the command line, in file names and in reports.
    name: str
    #: What is fuzzed, in one line.
    description: str
    #: Judges one input; raises only when the code under test broke its contract.
    check: Callable[[bytes], None]
    #: The seed corpus.
    seeds: Callable[[], list[bytes]]


#: Every target, in the order ``make fuzz`` runs them.
TARGETS: dict[str, FuzzTarget] = {
    t.name: t
    for t in (
        FuzzTarget(
            "udp-datagram",
            "rrp_spec.decode_request_datagram on one datagram",
            spec_targets.udp_datagram,
            corpus.udp_datagram_seeds,
        ),
        FuzzTarget(
            "tcp-stream",
            "rrp_spec.unpack_header + check_request over a pipelined stream",
            spec_targets.tcp_stream,
            corpus.tcp_stream_seeds,
        ),
        FuzzTarget(
            "reply",
            "rrp_spec.reply_problems against an independent CLI-3 oracle",
            spec_targets.reply,
            corpus.reply_seeds,
        ),
        FuzzTarget(
            "tcp-core",
            "rrp.TcpConnection: writes, ends of stream and time, judged against the spec's framing",
            core_targets.tcp_core,
            corpus.tcp_core_seeds,
        ),
        FuzzTarget(
            "udp-core",
            "rrp.UdpServerCore: datagrams, retransmissions, spoofed sources and time",
            core_targets.udp_core,
            corpus.udp_core_seeds,
        ),
    )
}
