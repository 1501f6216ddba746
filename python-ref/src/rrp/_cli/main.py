"""The ``rrp`` command: ``rrp serve`` and ``rrp call``.

Each subcommand lives in its own module (:mod:`rrp._cli.serve`, :mod:`rrp._cli.call`);
this one only wires them together. The exit statuses, one table for every
subcommand, are in :mod:`rrp._cli.exit_status`.
"""

from __future__ import annotations

import argparse
import sys

from rrp_spec.versions import version_line

from . import call as cli_call
from . import serve as cli_serve
from .exit_status import ExitCode

__all__ = ["ExitCode", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``rrp`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="rrp", description="RRP/1 reference server and client.")
    parser.add_argument("--version", action="version", version=version_line("rrp", "rrp"))
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
