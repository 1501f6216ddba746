"""Reading the ``#:`` documentation comments of the spec's constants and enum members.

The spec documents each constant and enum member with a Sphinx-style ``#:``
comment on the lines above it. Those comments are not available at run time, so
the site reads them from the source, in definition order.
"""

from __future__ import annotations

import ast
import inspect
import re
from types import ModuleType

_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]+)?=(?!=)")
_DOC_COMMENT = re.compile(r"^\s*#:\s?(.*)$")


def documented_names(source_of: type | ModuleType) -> dict[str, str]:
    """Every name assigned in ``source_of``'s source that has a ``#:`` comment, with the comment, in order.

    Only assignments at the first indentation level of the class or module count,
    so that locals inside methods are never picked up.
    """
    lines = inspect.getsource(source_of).splitlines()
    docs: dict[str, str] = {}
    pending: list[str] = []
    indent: int | None = None
    for line in lines:
        comment = _DOC_COMMENT.match(line)
        if comment:
            pending.append(comment.group(1).strip())
            continue
        assignment = _ASSIGNMENT.match(line)
        if assignment and pending:
            line_indent = len(line) - len(line.lstrip())
            if indent is None:
                indent = line_indent
            if line_indent == indent:
                docs[assignment.group(1)] = " ".join(pending)
        if line.strip():
            pending = []
    return docs


def assignment_source(module: ModuleType, name: str) -> str:
    """The source text of the module-level statement that assigns ``name`` in ``module``, exactly as written."""
    source = inspect.getsource(module)
    for node in ast.parse(source).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            segment = ast.get_source_segment(source, node)
            if segment is not None:
                return segment
    raise LookupError(f"{module.__name__} assigns no {name}")
