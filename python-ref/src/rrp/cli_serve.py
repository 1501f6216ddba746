"""Placeholder for ``rrp serve`` until the server lands (the server's author replaces this file)."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add a ``serve`` subcommand that says it is not implemented yet."""
    parser = subparsers.add_parser("serve", help="run the reference server (not implemented yet)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Say so and fail."""
    print("rrp serve: not implemented yet", file=sys.stderr)
    return 2
