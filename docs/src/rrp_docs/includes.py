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


def section(markdown: str, heading: str) -> str:
    """The body under the heading whose text is ``heading``, up to the next heading of its level or above.

    The heading itself is left out: the including page gives the part its own. ``KeyError`` when no
    heading outside code fences has that text.
    """
    lines = markdown.splitlines()
    fenced = False
    start, depth = None, 0
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        found = None if fenced else _HEADING.match(line)
        if found is None:
            continue
        if start is None and line[len(found.group(1)) + 1 :].strip() == heading:
            start, depth = number + 1, len(found.group(1))
        elif start is not None and len(found.group(1)) <= depth:
            return "\n".join(lines[start:number]).strip("\n")
    if start is None:
        raise KeyError(f"no heading {heading!r}")
    return "\n".join(lines[start:]).strip("\n")


def include(path: str, levels: int, heading: str | None = None) -> str:
    """The Markdown file at ``path`` (relative to the repository root), its headings shifted ``levels`` deeper;
    only the part under ``heading`` when one is given (see :func:`section`)."""
    text = _repository_file(path).read_text()
    return shift_headings(text if heading is None else section(text, heading), levels)


_REGION_START = "# [guide:{}]"
_REGION_END = "# [/guide:{}]"


def code_region(path: str, region: str) -> str:
    """The lines of the source file at ``path`` between ``# [guide:REGION]`` and ``# [/guide:REGION]``, as a
    fenced code block: the guide shows code the tests run, never a copy of it. ``KeyError`` for a missing region."""
    source = _repository_file(path)
    lines = source.read_text().splitlines()
    start, end = _REGION_START.format(region), _REGION_END.format(region)
    try:
        first = lines.index(start) + 1
        last = lines.index(end, first)
    except ValueError:
        raise KeyError(f"{path} has no region {region!r} (marked {start} ... {end})") from None
    body = "\n".join(lines[first:last]).strip("\n")
    language = {".py": "python", ".c": "c"}.get(source.suffix, "text")
    return f"```{language}\n{body}\n```"


def regions(path: str) -> list[str]:
    """The names of every region marked in the source file at ``path``."""
    prefix = _REGION_START.format("")[:-1]
    return [
        line.strip()[len(prefix) : -1]
        for line in _repository_file(path).read_text().splitlines()
        if line.strip().startswith(prefix)
    ]


def _repository_file(path: str) -> Path:
    source = (REPO_ROOT / path).resolve()
    if REPO_ROOT not in source.parents:
        raise ValueError(f"{path} is outside the repository")
    return source
