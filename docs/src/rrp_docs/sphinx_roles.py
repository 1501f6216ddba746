"""A Griffe extension that reads the packages' docstrings the way Sphinx would, for mkdocstrings.

* Sphinx cross-reference roles (``:class:`~rrp_spec.codes.Op```), which mkdocstrings
  would print verbatim, become the name they refer to in backticks; ``~`` keeps only
  the last component, as Sphinx does.
* ``#:`` comments above an attribute (every constant, enum member and dataclass field
  in this repository is documented that way) become the attribute's docstring;
  Griffe itself only reads string literals below an attribute.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:mod|class|func|meth|attr|data|exc|obj|const|term):`(~?)([^`]+)`")


def plain_roles(text: str) -> str:
    """``text`` with every Sphinx role replaced by its target in backticks."""

    def render(match: re.Match[str]) -> str:
        target = match.group(2)
        if "<" in target and target.endswith(">"):  # explicit title: :class:`title <target>`
            return f"`{target.split('<', 1)[0].strip()}`"
        return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"

    return _ROLE.sub(render, text)


@functools.cache
def _source_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def doc_comment_above(lines: list[str], lineno: int) -> str | None:
    """The ``#:`` comment lines directly above 1-based line ``lineno``, joined; ``None`` when there are none."""
    comments: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        comments.insert(0, lines[index].lstrip()[2:].strip())
        index -= 1
    return " ".join(comments) or None


class SphinxRoles(griffe.Extension):
    """Rewrites each object's docstring as it is loaded."""

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        """Give an attribute without a docstring the ``#:`` comment above it."""
        if attr.docstring is not None or attr.lineno is None or not isinstance(attr.filepath, Path):
            return
        comment = doc_comment_above(_source_lines(attr.filepath), attr.lineno)
        if comment is not None:
            attr.docstring = griffe.Docstring(plain_roles(comment), lineno=attr.lineno, parent=attr)

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Replace the roles in ``obj``'s docstring."""
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
