"""The ``rrp-conformance`` command: one subcommand per suite.

Each suite's command-line module provides ``add_parser(subparsers)``, which
registers a subcommand whose ``run(args, parser) -> int`` does the work; add a suite
by adding its module to :data:`SUBCOMMANDS`. Exit statuses are
:class:`~rrp_conformance.outcomes.ExitCode`.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from rrp_spec.versions import version_line

from . import compare
from .client import cli as client_cli
from .outcomes import ExitCode
from .server import cli as server_cli
from .server import reference_cli
from .suite import UsageError

#: Modules that each add one subcommand.
SUBCOMMANDS = (server_cli, reference_cli, client_cli, compare)


def build_parser() -> argparse.ArgumentParser:
    """The ``rrp-conformance`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="rrp-conformance",
        description="Grade an RRP/1 implementation against the spec, requirement by requirement.",
        epilog="exit status: 0 no MUST failed; 1 a MUST failed; 2 usage error; 3 a transport was not graded "
        f"(unreachable, or not an RRP server); {ExitCode.INTERNAL_ERROR} the suite itself crashed (a bug in "
        f"rrp-conformance, not a verdict); {ExitCode.INTERRUPTED} interrupted (Ctrl-C)",
    )
    parser.add_argument("--version", action="version", version=version_line("rrp-conformance", "rrp-conformance"))
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``rrp-conformance``; returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        status: int = args.run(args, parser)
    except UsageError as error:
        print(f"rrp-conformance: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except Exception:
        # Never 1 ("a MUST failed") nor 0: a crash of the suite says nothing about the target.
        traceback.print_exc()
        print(
            f"rrp-conformance: internal error (exit status {ExitCode.INTERNAL_ERROR}): this is a bug in the suite, "
            f"not a verdict on the target; please report it with the traceback above "
            f"({version_line('rrp-conformance', 'rrp-conformance')})",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL_ERROR
    return status
