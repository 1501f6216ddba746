"""The command line every benchmark server shares: ``--udp HOST:PORT --tcp HOST:PORT``.

Servers announce each bound socket on standard output as ``listening udp HOST:PORT`` /
``listening tcp HOST:PORT``, the lines the reference ``rrp serve`` prints, so the runner reads
every server's ports the same way.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import dataclass

from rrp_spec.addresses import format_address, parse_address


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A numeric host and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return format_address((self.host, self.port))


def parse_endpoint(text: str) -> Endpoint:
    """``HOST:PORT`` or ``[V6HOST]:PORT`` with a numeric loopback host; raises ``ValueError`` otherwise."""
    host, port = parse_address(text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: benchmarks take a numeric loopback address, not the name {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"{host} is not a loopback address: benchmark servers listen on loopback only")
    return Endpoint(host, port)


def _endpoint_arg(text: str) -> Endpoint:
    try:
        return parse_endpoint(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_listen_args(prog: str, description: str, argv: list[str] | None = None) -> tuple[Endpoint, Endpoint]:
    """Parse ``--udp`` and ``--tcp`` (both default to ``127.0.0.1:0``, a free port)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--udp", type=_endpoint_arg, default=Endpoint("127.0.0.1", 0), metavar="HOST:PORT")
    parser.add_argument("--tcp", type=_endpoint_arg, default=Endpoint("127.0.0.1", 0), metavar="HOST:PORT")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return args.udp, args.tcp


def announce(transport: str, sockname: tuple[str, int] | tuple[str, int, int, int]) -> None:
    """Print the ``listening`` line for a bound socket and flush it at once."""
    print(f"listening {transport} {Endpoint(sockname[0], sockname[1])}", flush=True)
