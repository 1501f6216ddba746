"""The ``rrp`` command's usage, as its own argparse parser prints it."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

#: Columns argparse wraps help at, so the output does not depend on the building terminal.
HELP_WIDTH = 100


@contextmanager
def _fixed_width() -> Iterator[None]:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_WIDTH)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def usage_sections(parser: argparse.ArgumentParser) -> str:
    """Markdown: the top-level help, then one section per subcommand with its full help."""
    with _fixed_width():
        blocks = [f"```text\n$ {parser.prog} --help\n{parser.format_help().rstrip()}\n```"]
        for name, sub in _subcommands(parser).items():
            blocks.append(
                f"### `{parser.prog} {name}`\n\n```text\n$ {sub.prog} --help\n{sub.format_help().rstrip()}\n```"
            )
    return "\n\n".join(blocks)
