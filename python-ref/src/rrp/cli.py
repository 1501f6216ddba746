"""The ``rrp`` command: ``rrp serve`` and ``rrp call``.

Each subcommand lives in its own module (:mod:`rrp.cli_serve`, :mod:`rrp.cli_call`);
this one only wires them together and owns the exit codes, so scripts can rely on
one table.
"""

from __future__ import annotations

import argparse
import sys
from enum import IntEnum

from . import cli_call, cli_serve


class ExitCode(IntEnum):
    """Exit statuses of the ``rrp`` command."""

    #: The call got an OK reply, or the server shut down cleanly.
    OK = 0
    #: The server answered with an error result.
    ERROR_RESULT = 1
    #: The command line was wrong (argparse's own status for usage errors).
    USAGE = 2
    #: No acceptable reply arrived before the client gave up.
    TIMEOUT = 3
    #: The connection failed: refused, reset, closed mid-reply, or a mismatched reply over TCP.
    CONNECTION = 4


def build_parser() -> argparse.ArgumentParser:
    """The ``rrp`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="rrp", description="RRP/1 reference server and client.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_serve.add_parser(subparsers)
    cli_call.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``rrp`` command; returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    status: int = args.run(args, parser)
    return status
