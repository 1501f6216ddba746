"""Including another package's own Markdown in a page, so that it is written once, where its code is."""

from __future__ import annotations

import re
from pathlib import Path

#: The repository's root in a source checkout (this file is docs/src/rrp_docs/includes.py).
REPO_ROOT = Path(__file__).resolve().parents[3]
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6}) ")


def shift_headings(markdown: str, levels: int) -> str:
    """``markdown`` with every ATX heading outside code fences moved ``levels`` deeper (at most ``######``)."""
    lines = []
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (heading := _HEADING.match(line)):
            depth = min(len(heading.group(1)) + levels, 6)
            line = "#" * depth + line[len(heading.group(1)) :]
        lines.append(line)
    return "\n".join(lines)


def include(path: str, levels: int) -> str:
    """The Markdown file at ``path`` (relative to the repository root), its headings shifted ``levels`` deeper."""
    source = (REPO_ROOT / path).resolve()
    if REPO_ROOT not in source.parents:
        raise ValueError(f"{path} is outside the repository")
    return shift_headings(source.read_text(), levels)
