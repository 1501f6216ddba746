"""The reports of a run: ``report.md``, ``results.json``, ``junit.xml`` and ``report.html``. Framework package."""

from __future__ import annotations

from pathlib import Path

from .html import render_html
from .junit import render_junit
from .markdown import render_markdown
from .model import JsonValue, RunReport, exit_code_for, target_rows
from .results_json import SCHEMA, load_schema, render_json, to_json

__all__ = [
    "SCHEMA",
    "JsonValue",
    "RunReport",
    "exit_code_for",
    "load_schema",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "target_rows",
    "to_json",
    "write_reports",
]


def write_reports(report: RunReport, directory: Path, *, junit_all_logs: bool = False) -> list[Path]:
    """Write every report into ``directory`` (created if missing); return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("report.md", render_markdown(report)),
        ("report.html", render_html(report)),
        ("results.json", render_json(report)),
        ("junit.xml", render_junit(report, all_logs=junit_all_logs)),
    ):
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
