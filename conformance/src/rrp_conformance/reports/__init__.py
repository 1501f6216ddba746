"""The three reports of a run: ``report.md``, ``results.json`` and ``junit.xml``. Framework package."""

from __future__ import annotations

from pathlib import Path

from .junit import render_junit
from .markdown import render_markdown
from .model import RunReport, exit_code_for
from .results_json import SCHEMA, render_json, to_json

__all__ = [
    "SCHEMA",
    "RunReport",
    "exit_code_for",
    "render_json",
    "render_junit",
    "render_markdown",
    "to_json",
    "write_reports",
]


def write_reports(report: RunReport, directory: Path) -> list[Path]:
    """Write the three reports into ``directory`` (created if missing); return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("report.md", render_markdown(report)),
        ("results.json", render_json(report)),
        ("junit.xml", render_junit(report)),
    ):
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
