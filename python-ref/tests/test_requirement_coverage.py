"""Every requirement of the catalogue is exercised by at least one test of the reference implementation.

A test "exercises" a requirement when its ID appears in the test function itself: its
docstring, its assertions' messages or its parametrize decorators. The IDs come from the
catalogue, so a new requirement without a reference test fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from rrp_spec.requirements import BY_ID, ID_PATTERN, REQUIREMENTS

TESTS = Path(__file__).parent


def _test_functions() -> Iterator[tuple[str, str]]:
    """(``file::name``, source with decorators) of every test function in this folder."""
    for path in sorted(TESTS.glob("test_*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                parts = [ast.get_source_segment(source, part) or "" for part in (*node.decorator_list, node)]
                yield f"{path.name}::{node.name}", "\n".join(parts)


def _cited() -> dict[str, list[str]]:
    cited: dict[str, list[str]] = {}
    for name, source in _test_functions():
        for rid in set(ID_PATTERN.findall(source)):
            cited.setdefault(rid, []).append(name)
    return cited


def test_every_requirement_has_a_reference_test() -> None:
    cited = _cited()
    untested = [r.id for r in REQUIREMENTS if r.id not in cited]
    assert not untested, f"no python-ref test cites {', '.join(untested)}"


def test_every_cited_id_is_in_the_catalogue() -> None:
    unknown = {rid: names for rid, names in _cited().items() if rid not in BY_ID}
    assert not unknown, f"tests cite requirement IDs the catalogue does not have: {unknown}"
