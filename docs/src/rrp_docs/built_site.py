"""Building the site strictly, and reading a built site back: element ids and tables, page by page.

The tests use this to check the HTML that readers get against the spec, and the
build runner is the same command ``make docs`` runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

#: Seconds a build may take before it is considered hung.
BUILD_TIMEOUT = 300


#: The site's Markdown sources, a page each (this package is installed editable from docs/src).
PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"


def page_names() -> tuple[str, ...]:
    """Every page of the site, by the name of its Markdown source (``index`` for the home page)."""
    return tuple(sorted(source.stem for source in PAGES_DIR.glob("*.md")))


def build_site(config: Path, site_dir: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of ``config`` into ``site_dir``; the caller checks ``returncode`` and ``stderr``."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site_dir)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )


class PageStructure(HTMLParser):
    """Every element id of a page, and every table as rows of cell texts (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect ids; open tables, rows and cells."""
        self.ids += [value for name, value in attrs if name == "id" and value]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        """Close cells and rows."""
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        """Text inside a cell."""
        if self._cell is not None:
            self._cell.append(data)

    def table_with_header(self, *columns: str) -> list[dict[str, str]]:
        """The body rows of the first table whose header row holds ``columns``, each as header -> cell text."""
        for rows in self.tables:
            if rows and all(c in rows[0] for c in columns):
                return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
        raise LookupError(f"no table with columns {columns}")

    def rows_of_tables_with(self, column: str) -> list[list[str]]:
        """The body rows of every table that has ``column``, in page order."""
        return [row for rows in self.tables if rows and column in rows[0] for row in rows[1:]]


class BuiltSite:
    """A built site on disk, read page by page."""

    def __init__(self, root: Path) -> None:
        #: The site directory.
        self.root = root

    def path(self, page: str) -> Path:
        """The file of ``page`` (``""`` for the home page): the site is built with non-directory URLs."""
        return self.root / (f"{page}.html" if page else "index.html")

    def html(self, page: str) -> str:
        """The HTML of ``page`` (``""`` for the home page)."""
        return self.path(page).read_text()

    def page(self, page: str) -> PageStructure:
        """The ids and tables of ``page``."""
        parser = PageStructure()
        parser.feed(self.html(page))
        return parser
