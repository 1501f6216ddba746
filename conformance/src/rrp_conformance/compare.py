"""``rrp-conformance compare A/results.json B/results.json ...``: several implementations side by side.

Autobahn|Testsuite's most used view: one row per check, one column per implementation,
each cell the outcome, as text on stdout and, with ``--html FILE``, as one
self-contained page whose cells link to each run's own ``report.html`` when it lies
beside its ``results.json``. Runs are read from their ``results.json`` only.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO

from .outcomes import ExitCode, Outcome
from .reports.html import check_anchor
from .reports.model import target_rows
from .reports.results_json import SCHEMA
from .suite import UsageError

#: Schemas whose check lists this command reads (their ``checks`` entries agree on every field it uses).
READABLE_SCHEMAS = (SCHEMA, "rrp-conformance/1")
#: A cell for a check that a run does not have (another suite version, or another suite).
ABSENT = "-"


@dataclass(frozen=True, slots=True)
class Run:
    """One implementation's results, as read."""

    label: str
    path: Path
    suite: str
    #: check name -> outcome (with `` (expected)`` for a marked known failure)
    outcomes: dict[str, str]
    #: check names in the run's order
    order: list[str]
    exit_status: int
    target: list[tuple[str, str]]


def _read(path: Path, label: str) -> Run:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(f"{path} is not JSON: {error}") from None
    if not isinstance(doc, dict) or doc.get("schema") not in READABLE_SCHEMAS:
        found = doc.get("schema") if isinstance(doc, dict) else None
        raise UsageError(f"{path} is not an rrp-conformance results.json (schema {found!r}, expected {SCHEMA!r})")
    outcomes: dict[str, str] = {}
    for check in doc.get("checks", []):
        expected = check.get("expected_failure") and check["outcome"] in (Outcome.FAIL, Outcome.NON_STRICT)
        outcomes[check["name"]] = check["outcome"] + (" (expected)" if expected else "")
    target = doc.get("target", {})
    rows = target_rows(target) if doc["schema"] == SCHEMA else [(str(k), str(v)) for k, v in target.items()]
    return Run(label, path, doc.get("suite", "?"), outcomes, list(outcomes), int(doc.get("exit_status", -1)), rows)


def _labels(paths: Sequence[Path], given: Sequence[str]) -> list[str]:
    """``--label`` values, else each file's directory name (made unique with a number)."""
    if given and len(given) != len(paths):
        raise UsageError(f"{len(given)} --label values for {len(paths)} results files: give one per file or none")
    labels = list(given) or [p.resolve().parent.name or str(p) for p in paths]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique


def load_runs(paths: Sequence[Path], labels: Sequence[str] = ()) -> list[Run]:
    """Every results file, read and labelled; :class:`UsageError` for one that is missing or not a results file."""
    runs = [_read(path, label) for path, label in zip(paths, _labels(paths, labels), strict=True)]
    suites = {r.suite for r in runs}
    if len(suites) > 1:
        raise UsageError(
            f"the results files grade different suites ({', '.join(sorted(suites))}): compare like with like"
        )
    return runs


def check_rows(runs: Sequence[Run], *, differences_only: bool = False) -> list[tuple[str, list[str]]]:
    """(check name, one cell per run) in first-seen order; with ``differences_only``, rows whose cells differ."""
    names = list(dict.fromkeys(name for run in runs for name in run.order))
    rows = [(name, [run.outcomes.get(name, ABSENT) for run in runs]) for name in names]
    return [row for row in rows if len(set(row[1])) > 1] if differences_only else rows


def _outcome_of(cell: str) -> str:
    """``NON-STRICT (expected)`` -> ``NON-STRICT``."""
    return cell.split(" ")[0]


def render_text(runs: Sequence[Run], *, differences_only: bool = False) -> str:
    """The comparison as a plain-text table, with each run's totals and exit status under it."""
    rows = check_rows(runs, differences_only=differences_only)
    footer = [
        (outcome.value, [str(sum(1 for o in r.outcomes.values() if _outcome_of(o) == outcome)) for r in runs])
        for outcome in Outcome
    ]
    footer.append(("exit status", [str(r.exit_status) for r in runs]))
    table = [("check", [r.label for r in runs]), *rows, *footer]
    first = max(len(name) for name, _ in table)
    widths = [max(len(cells[i]) for _, cells in table) for i in range(len(runs))]

    def line(name: str, cells: list[str]) -> str:
        return "  ".join([name.ljust(first), *(c.ljust(w) for c, w in zip(cells, widths, strict=True))]).rstrip()

    rule = "-" * (first + sum(w + 2 for w in widths))
    lines = [line(*table[0]), rule, *(line(n, c) for n, c in rows), rule, *(line(n, c) for n, c in footer)]
    if differences_only and not rows:
        lines.insert(2, "(every check has the same outcome in every run)")
    return "\n".join(lines) + "\n"


def _link(run: Run, name: str, output: Path) -> str | None:
    """A link from ``output`` to the check in the run's report.html, when that file exists."""
    report = run.path.parent / "report.html"
    if not report.is_file():
        return None
    relative = os.path.relpath(report.resolve(), output.resolve().parent)
    return f"{Path(relative).as_posix()}#{check_anchor(name)}"


def render_html(runs: Sequence[Run], output: Path, *, differences_only: bool = False) -> str:
    """The comparison as one self-contained page (the same style as report.html)."""
    css = files("rrp_conformance.reports").joinpath("report.css").read_text()
    e = html.escape
    head = "".join(f"<th>{e(run.label)}</th>" for run in runs)
    body = []
    for name, cells in check_rows(runs, differences_only=differences_only):
        tds = []
        for run, cell in zip(runs, cells, strict=True):
            outcome = _outcome_of(cell)
            badge = f'<span class="o o-{e(outcome)}">{e(cell)}</span>' if cell != ABSENT else ABSENT
            link = _link(run, name, output) if cell != ABSENT else None
            tds.append(f'<td><a href="{e(link)}">{badge}</a></td>' if link else f"<td>{badge}</td>")
        body.append(f"<tr><td><code>{e(name)}</code></td>{''.join(tds)}</tr>")
    targets = "".join(
        f"<h3>{e(run.label)}</h3><p class='muted'>{e(str(run.path))}, exit status {run.exit_status}</p>"
        "<table>" + "".join(f"<tr><th>{e(k)}</th><td><code>{e(v)}</code></td></tr>" for k, v in run.target) + "</table>"
        for run in runs
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>RRP conformance: {len(runs)} implementations compared</title>
<style>{css}</style>
</head><body>
<h1>RRP conformance: {len(runs)} implementations side by side</h1>
<div class="wrap"><table><tr><th>check</th>{head}</tr>{"".join(body)}</table></div>
<h2>The runs</h2>
{targets}
</body></html>
"""


def add_parser(subparsers: Any) -> None:
    """Register ``compare``."""
    parser = subparsers.add_parser(
        "compare",
        help="show several runs' results.json side by side",
        description="Show the outcome of every check for several implementations side by side, read from the "
        "results.json each run wrote (a text table on stdout; --html writes a page too).",
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS_JSON", help="results.json files")
    parser.add_argument(
        "--label",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="a column name per file, in order (default: each file's directory name)",
    )
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write the comparison as one HTML page")
    parser.add_argument("--differences", action="store_true", help="only the checks whose outcomes differ")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser, stream: TextIO | None = None) -> int:
    """Compare the files; exit 0 (the comparison is the output, not a verdict)."""
    runs = load_runs(args.results, args.label)
    out = sys.stdout if stream is None else stream
    out.write(render_text(runs, differences_only=args.differences))
    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(render_html(runs, args.html, differences_only=args.differences))
        print(f"comparison: {args.html}", file=out)
    return int(ExitCode.OK)
