"""The conformance page and the catalogue's coverage column, read from the conformance suite itself.

The suite (``rrp_conformance``) is a separate package. When it cannot be imported,
the generators say so on the page instead of inventing content, and the
catalogue leaves its coverage column out.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cli_usage import usage_sections
from .markdown import PageContext, cell, requirement_link, table
from .source_docs import documented_names

#: The repository's root in a source checkout (this file is docs/src/rrp_docs/conformance_pages.py).
REPO_ROOT = Path(__file__).resolve().parents[3]
#: Where ``make docs`` has ``rrp-conformance reference`` write the reference implementation's latest reports.
REFERENCE_REPORT_DIR = REPO_ROOT / "build" / "reference-conformance"
#: The machine-readable results of that run.
REFERENCE_RESULTS = REFERENCE_REPORT_DIR / "results.json"
#: Its ``report.md``, published with the site.
REFERENCE_REPORT_MD = REFERENCE_REPORT_DIR / "report.md"
#: The name ``report.md`` is published under in the site's downloads (``.txt``: mkdocs renders ``.md`` as pages).
REFERENCE_REPORT_NAME = "reference-report.md.txt"
#: The name the JSON Schema of results.json is published under in the site's downloads.
RESULTS_SCHEMA_NAME = "rrp-conformance-results.schema.json"


def results_schema_text() -> str:
    """The JSON Schema of the suite's ``results.json``, as the suite's package ships it."""
    try:
        from rrp_conformance.reports import load_schema
    except ImportError as error:
        raise _not_importable(error) from error
    return json.dumps(load_schema(), indent=2) + "\n"


@dataclass(frozen=True, slots=True)
class CheckInfo:
    """What the site shows of one conformance check."""

    suite: str
    name: str
    title: str
    area: str
    transport: str
    requirements: tuple[str, ...]


class SuiteUnavailable(Exception):
    """The conformance suite cannot be imported; the message says why."""


def _not_importable(error: ImportError) -> SuiteUnavailable:
    return SuiteUnavailable(f"rrp_conformance cannot be imported ({error})")


def load_checks() -> list[CheckInfo]:
    """Every check of every suite, in run order; :class:`SuiteUnavailable` when the suite cannot be imported."""
    try:
        from rrp_conformance.catalogue import SUITES
    except ImportError as error:
        raise _not_importable(error) from error
    return [
        CheckInfo(suite, c.name, c.title, c.area, c.transport, tuple(c.requirements))
        for suite, registry in SUITES.items()
        for c in registry
    ]


def checks_by_requirement() -> dict[str, list[str]] | None:
    """``suite: check`` names per requirement ID; ``None`` when the suite cannot be imported."""
    try:
        checks = load_checks()
    except SuiteUnavailable:
        return None
    by_requirement: dict[str, list[str]] = {}
    for check in checks:
        for rid in check.requirements:
            by_requirement.setdefault(rid, []).append(f"{check.suite}: {check.name}")
    return by_requirement


def _unavailable(error: SuiteUnavailable) -> str:
    return (
        '!!! warning "Not generated in this build"\n'
        f"    The conformance suite could not be loaded when this site was built: {html.escape(str(error))}."
    )


def checks_by_area(ctx: PageContext) -> str:
    """Every check, grouped by suite and area: name, what it does, the requirements it covers."""
    try:
        checks = load_checks()
    except SuiteUnavailable as error:
        return _unavailable(error)
    sections = []
    for suite in dict.fromkeys(c.suite for c in checks):
        in_suite = [c for c in checks if c.suite == suite]
        areas = list(dict.fromkeys(c.area for c in in_suite))
        sections.append(f"### The {suite} suite: {len(in_suite)} checks {{#checks-{suite}}}")
        for area in areas:
            rows = [
                [
                    f"<code>{html.escape(c.name)}</code>",
                    c.transport,
                    cell(c.title),
                    ", ".join(requirement_link(r, ctx) for r in c.requirements),
                ]
                for c in in_suite
                if c.area == area
            ]
            sections.append(
                f"#### {suite} / {area}\n\n" + table(["Check", "Transport", "What it does", "Covers"], rows)
            )
    return "\n\n".join(sections)


def cli_usage() -> str:
    """``rrp-conformance --help`` and each subcommand's help, from the suite's own parser."""
    try:
        from rrp_conformance.cli import build_parser
    except ImportError as error:
        return _unavailable(_not_importable(error))
    return usage_sections(build_parser())


def outcome_table() -> str:
    """The verdicts a check can reach and the command's exit statuses, from the suite's enums."""
    try:
        from rrp_conformance.outcomes import ExitCode, Outcome
    except ImportError as error:
        return _unavailable(_not_importable(error))
    outcome_docs = documented_names(Outcome)
    exit_docs = documented_names(ExitCode)
    verdicts = table(["Verdict", "Meaning"], [[f"`{o.value}`", cell(outcome_docs.get(o.name, ""))] for o in Outcome])
    statuses = table(
        ["Exit status", "Name", "Meaning"],
        [[str(int(e)), f"`{e.name}`", cell(exit_docs.get(e.name, ""))] for e in ExitCode],
    )
    return f"{verdicts}\n\nThe command's exit status:\n\n{statuses}"


def _results(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _target_rows(target: dict[str, Any]) -> list[tuple[str, str]]:
    """The target as the suite's own reports label it (names and numbers in results.json, labels here)."""
    try:
        from rrp_conformance.reports import target_rows
    except ImportError:
        return [(str(k), json.dumps(v)) for k, v in target.items()]
    return target_rows(target)


def reference_report(ctx: PageContext, results_path: Path | None = None) -> str:
    """The reference implementation's latest conformance results, summarised; a note when there are none."""
    results_path = results_path or REFERENCE_RESULTS
    results = _results(results_path)
    if results is None:
        return (
            '!!! note "No report in this build"\n'
            f"    This site was built without grading the reference implementation: `{results_path.name}` was not "
            "found. `make docs` runs `rrp-conformance reference` first and includes its results here."
        )
    if results_path == REFERENCE_RESULTS and REFERENCE_REPORT_MD.is_file():
        link = ctx.link_to(f"downloads/{REFERENCE_REPORT_NAME}")
        full = f"The whole `report.md` of this run: [{REFERENCE_REPORT_NAME}]({link})."
    else:
        full = ""
    target = results.get("target", {})
    counts = results.get("counts", {})
    lines = [
        f"Suite `{results.get('suite')}`, started {results.get('started')}, "
        f"{results.get('duration_s', 0):.1f} s, exit status {results.get('exit_status')}. {full}",
        "",
        table(["Target setting", "Value"], [[cell(k), cell(v)] for k, v in _target_rows(target)]),
        "",
        table(["Verdict", "Checks"], [[f"`{k}`", str(v)] for k, v in counts.items()]),
        "",
    ]
    rows = []
    # Failures first, then the rest in run order: what a reader of the report needs to see.
    first = {"FAIL": 0, "NON-STRICT": 1}
    for check in sorted(results.get("checks", []), key=lambda c: first.get(c["outcome"], 2)):
        reqs = ", ".join(requirement_link(r, ctx) for r in check.get("requirements", []))
        detail = "; ".join(
            f"{f['requirement']}: expected {f['expected']}, observed {f['observed']}" for f in check.get("failures", [])
        ) or check.get("skip_reason", "")
        rows.append([f"<code>{html.escape(check['name'])}</code>", f"`{check['outcome']}`", reqs, cell(detail)])
    lines.append(table(["Check", "Verdict", "Requirements", "Details"], rows))
    return "\n".join(lines)
