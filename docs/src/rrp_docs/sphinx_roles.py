"""A Griffe extension that renders Sphinx cross-reference roles as inline code for mkdocstrings.

The packages' docstrings cite each other Sphinx-style (``:class:`~rrp_spec.codes.Op```),
which mkdocstrings would print verbatim. This turns each role into the name it
refers to, in backticks; ``~`` keeps only the last component, as Sphinx does.
"""

from __future__ import annotations

import re
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


class SphinxRoles(griffe.Extension):
    """Rewrites each object's docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Replace the roles in ``obj``'s docstring."""
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
