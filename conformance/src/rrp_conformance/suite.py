"""The pipeline every suite shares: common command-line options, run, reports, summary, exit status.

Framework module. A suite (``server``, ``client``) builds its checks, its
environment and its sanity probes, then calls :func:`run_suite`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from rrp_spec import Requirement

from .capture import CAPTURE_NAME, build_capture
from .context import EnvT, Timing
from .coverage import coverage_rows
from .progress import TerminalProgress, print_summary
from .registry import Check, Selection
from .reports import JsonValue, RunReport, exit_code_for, write_reports
from .runner import Probe, RunOptions, run_checks

#: Where the server suite's reports go unless ``--report-dir`` says otherwise.
DEFAULT_REPORT_DIR = Path("build/conformance")
#: Where the client suite's go: apart, so that grading a server and a client keeps both reports.
CLIENT_REPORT_DIR = Path("build/conformance-client")


#: What both suites assume of a setting the target does not claim; printed at the top of every report.
ASSUMPTION_POLICY = (
    "a setting the target does not claim is assumed to be the value the spec sets for it where it sets one "
    "(a server's maximum, so that no conforming server can fail for it; a client's recommended retry schedule), "
    "and the reference implementation's default where the spec sets none (claim yours if a check fails on it)"
)


class UsageError(Exception):
    """The command line asks for something impossible; the message is one sentence for stderr (exit 2)."""


@dataclass(frozen=True, slots=True)
class SuiteOptions:
    """The options every suite takes."""

    strict: bool = False
    selection: Selection = field(default_factory=Selection)
    timeout_scale: float = 1.0
    report_dir: Path | None = DEFAULT_REPORT_DIR
    verbose: bool = False
    #: Put every check's wire log into junit.xml, not only those of checks that did not pass.
    junit_all_logs: bool = False
    #: Print the checks a run would execute, and run nothing.
    list_only: bool = False


def positive_float(text: str) -> float:
    """argparse type: a number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not above zero")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not above zero")
    return value


def add_common_arguments(parser: argparse.ArgumentParser, report_dir: Path = DEFAULT_REPORT_DIR) -> None:
    """``--strict``, ``--select``, ``--exclude``, ``--expect-fail``, ``--timeout-scale``, ``--report-dir``, ``-v``.

    ``report_dir`` is the suite's default report directory.
    """
    group = parser.add_argument_group("running and reporting")
    group.add_argument("--strict", action="store_true", help="count a broken SHOULD (NON-STRICT) as a FAIL")
    for flag, what in (
        ("--select", "run only these checks"),
        ("--exclude", "leave these checks out"),
        ("--expect-fail", "known failures: reported, but not counted in the exit status"),
    ):
        group.add_argument(
            flag,
            nargs="+",
            action="extend",
            default=[],
            metavar="ID",
            help=f"{what}; each ID is a requirement ID (SRV-3), a check name, a glob or a name prefix (udp/vector)",
        )
    group.add_argument(
        "--timeout-scale",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="multiply every timing bound by X (for slow machines or targets; default 1)",
    )
    group.add_argument(
        "--report-dir",
        type=Path,
        default=report_dir,
        metavar="DIR",
        help=f"write report.md, results.json and junit.xml here (default {report_dir}/)",
    )
    group.add_argument(
        "--junit-all-logs",
        action="store_true",
        help="put every check's wire log into junit.xml (by default only checks that did not pass carry one)",
    )
    group.add_argument(
        "--list",
        action="store_true",
        help="print the checks a run would execute (after --select/--exclude) and exit, without touching the network",
    )
    group.add_argument("-v", "--verbose", action="store_true", help="print every check, skipped ones included")


def options_from_args(args: argparse.Namespace) -> SuiteOptions:
    """The :class:`SuiteOptions` of parsed arguments."""
    return SuiteOptions(
        strict=args.strict,
        selection=Selection(tuple(args.select), tuple(args.exclude), tuple(args.expect_fail)),
        timeout_scale=args.timeout_scale,
        report_dir=args.report_dir,
        verbose=args.verbose,
        junit_all_logs=args.junit_all_logs,
        list_only=args.list,
    )


def list_checks(suite: str, checks: Sequence[Check[EnvT]], selection: Selection, stream: TextIO | None = None) -> int:
    """``--list``: one line per check the selection keeps (name, transport, requirements, title); returns 0.

    Raises :class:`UsageError` when a pattern names nothing, exactly as a run would.
    """
    out = sys.stdout if stream is None else stream
    unknown = selection.unknown_patterns(checks)
    if unknown:
        raise UsageError(f"{', '.join(unknown)}: neither a requirement ID nor the name of a {suite} check")
    kept = [c for c in checks if selection.wants(c)]
    width = max((len(c.name) for c in kept), default=0)
    for check in kept:
        marker = " (expected to fail)" if selection.expects_failure(check) else ""
        print(
            f"{check.name:<{width}}  {check.transport:<4} {','.join(check.requirements)}  {check.title}{marker}",
            file=out,
        )
    print(f"{len(kept)} of {len(checks)} {suite} checks", file=out)
    return 0


def run_suite(
    *,
    suite: str,
    checks: Sequence[Check[EnvT]],
    env: EnvT,
    options: SuiteOptions,
    probes: Mapping[str, Probe],
    unavailable: Mapping[str, str],
    target: Mapping[str, JsonValue],
    graded: Sequence[Requirement],
    death_requirement: str | None,
    stream: TextIO | None = None,
) -> RunReport:
    """Run ``checks``, write the reports, print progress and the summary; return the report.

    Raises :class:`UsageError` when a ``--select``/``--exclude``/``--expect-fail`` pattern names nothing.
    """
    out = sys.stdout if stream is None else stream
    unknown = options.selection.unknown_patterns(checks)
    if unknown:
        raise UsageError(f"{', '.join(unknown)}: neither a requirement ID nor the name of a {suite} check")
    started = datetime.now(UTC)
    run_options = RunOptions(
        strict=options.strict,
        selection=options.selection,
        timing=Timing(scale=options.timeout_scale),
        verbose=options.verbose,
    )
    outcome = run_checks(
        checks,
        env,
        run_options,
        probes=probes,
        unavailable=unavailable,
        death_requirement=death_requirement,
        progress=TerminalProgress(out, verbose=options.verbose),
    )
    covered_by: dict[str, list[str]] = {}
    for check in checks:
        for rid in check.requirements:
            covered_by.setdefault(rid, []).append(check.name)
    report = RunReport(
        suite=suite,
        target=target,
        started=started.isoformat(timespec="seconds"),
        duration=(datetime.now(UTC) - started).total_seconds(),
        strict=options.strict,
        timeout_scale=options.timeout_scale,
        results=outcome.results,
        coverage=tuple(coverage_rows(graded, covered_by, outcome.results)),
        unreachable=outcome.unreachable,
        exit_code=exit_code_for(outcome.results, outcome.unreachable, len(probes), interrupted=outcome.interrupted),
        interrupted=outcome.interrupted,
    )
    if options.report_dir is not None:
        capture = build_capture(report.results)
        report = replace(report, frames=capture.frames, capture=CAPTURE_NAME)
        options.report_dir.mkdir(parents=True, exist_ok=True)
        capture.write(options.report_dir / CAPTURE_NAME)
    print_summary(report, out)
    if options.report_dir is not None:
        paths = [
            *write_reports(report, options.report_dir, junit_all_logs=options.junit_all_logs),
            options.report_dir / CAPTURE_NAME,
        ]
        print(f"reports: {', '.join(str(p) for p in paths)}", file=out)
    return report
