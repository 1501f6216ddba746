"""No import loop anywhere in the repository: every package's import graph, read from source, is acyclic.

The graph is built with :mod:`ast`, not by importing, so that it sees every import the
code states: imports under ``if TYPE_CHECKING:`` and inside functions count like any
other (a loop hidden from the interpreter is still a loop in the design). An edge goes to
the module named (``from pkg import mod`` to ``pkg.mod`` when that is a module), not to
the parent packages the interpreter also runs, so that a package whose ``__init__``
re-exports its modules is not a loop by itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

#: The repository's root (this file is python-ref/tests/test_import_graph.py).
ROOT = Path(__file__).resolve().parents[2]


def _modules() -> dict[str, Path]:
    """Every module of every package in the repository, by dotted name (``*/src/<package>/...``)."""
    modules: dict[str, Path] = {}
    for source in sorted(ROOT.glob("*/src")):
        for path in sorted(source.rglob("*.py")):
            parts = list(path.relative_to(source).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The repository modules ``name`` (at ``path``) imports, wherever in the file the import is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {target for target in found if target in modules and target != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop of ``graph`` as a path that starts and ends on the same module, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (loop := visit(target)) is not None:
                return loop
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (loop := visit(node)) is not None:
            return loop
    return None


def test_the_repository_has_no_import_loop() -> None:
    """Every package's modules import each other without a loop, TYPE_CHECKING imports included."""
    graph = _graph()
    assert {"rrp", "rrp_spec", "rrp_robustness"} <= {name.partition(".")[0] for name in graph}
    loop = _cycle(graph)
    assert loop is None, "import loop: " + " -> ".join(loop or [])


@pytest.mark.parametrize(
    ("sources", "loop"),
    [
        ({"a": "", "a/b": "if TYPE_CHECKING:\n    from .c import C", "a/c": "from .b import B"}, True),
        ({"a": "", "a/b": "from .c import x", "a/c": "def f():\n    from .b import y"}, True),
        ({"a": "from .b import B", "a/b": "from .c import C", "a/c": "import json"}, False),
    ],
)
def test_the_loop_finder_sees_type_checking_and_function_level_imports(
    tmp_path: Path, sources: dict[str, str], loop: bool
) -> None:
    """The checker itself: a loop through a TYPE_CHECKING or a function-level import is found; a chain is not."""
    files = {}
    for name, text in sources.items():
        path = tmp_path / (f"{name}/__init__.py" if name == "a" else f"{name}.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files[name.replace("/", ".")] = path
    graph = {name: _imports(name, path, files) for name, path in files.items()}
    assert (_cycle(graph) is not None) == loop
