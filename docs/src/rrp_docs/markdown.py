"""Small Markdown and HTML builders shared by the generators."""

from __future__ import annotations

import html
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rrp_spec import BY_ID

#: The page, relative to the docs directory, that holds one anchor per requirement.
REQUIREMENTS_PAGE = "requirements.md"
#: The normative specification page.
SPECIFICATION_PAGE = "specification.md"


@dataclass(frozen=True, slots=True)
class PageContext:
    """Where the Markdown being generated will live, so that links can be made relative."""

    #: The page's path relative to the docs directory, e.g. ``security.md``.
    src_uri: str

    def link_to(self, page: str, anchor: str = "") -> str:
        """A relative Markdown link target to ``page#anchor`` from this page."""
        fragment = f"#{anchor}" if anchor else ""
        if page == self.src_uri:
            return fragment or posixpath.basename(page)
        return posixpath.relpath(page, posixpath.dirname(self.src_uri) or ".") + fragment


def requirement_anchor(rid: str) -> str:
    """The anchor of requirement ``rid`` on the requirements page: ``UDP-SRV-5`` -> ``udp-srv-5``."""
    return rid.lower()


def requirement_link(rid: str, ctx: PageContext) -> str:
    """A Markdown link to requirement ``rid``, titled with its sentence; ``KeyError`` for an unknown ID."""
    if rid not in BY_ID:
        raise KeyError(f"no requirement {rid!r} in the RRP/1 catalogue")
    title = BY_ID[rid].text.replace('"', "\N{RIGHT DOUBLE QUOTATION MARK}")  # a straight quote would end the title
    return f'[{rid}]({ctx.link_to(REQUIREMENTS_PAGE, requirement_anchor(rid))} "{title}")'


def cell(text: str) -> str:
    """Text made safe for one cell of a Markdown pipe table."""
    return text.replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown pipe table; cells are inserted as given (callers escape with :func:`cell`)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: str) -> str:
    """Inline code that survives inside a table cell."""
    return "<code>" + html.escape(text) + "</code>"


def hex_int(value: int, width: int) -> str:
    """``value`` as ``0x`` followed by ``width`` hex digits."""
    return f"0x{value:0{width}x}"
