"""Terminal output: one line per check as it finishes, and the summary table at the end. Framework module."""

from __future__ import annotations

from typing import Any, TextIO

from .outcomes import CheckResult, Outcome
from .registry import Check
from .reports.model import RunReport

_NOT_SELECTED = "not selected"


class TerminalProgress:
    """Prints each check's outcome as it finishes; failures get their expected-vs-observed lines."""

    def __init__(self, stream: TextIO, *, verbose: bool = False) -> None:
        self._stream = stream
        self._verbose = verbose
        #: Skip reasons already announced once, up front: their checks get no line of their own.
        self._announced: set[str] = set()

    def transport_unusable(self, transport: str, reason: str, skip_reason: str, checks: int) -> None:
        """One line up front for a transport that will not be graded, instead of one per skipped check."""
        self._announced.add(skip_reason)
        print(f"{transport.upper()} NOT GRADED: {reason} ({checks} checks skipped)", file=self._stream, flush=True)

    def started(self, index: int, total: int, check: Check[Any]) -> None:
        """Nothing by default; with ``-v``, announce long checks before they run."""
        if self._verbose:
            print(f"[{index:>3}/{total}] ...        {check.name}", file=self._stream, flush=True)

    def finished(self, index: int, total: int, result: CheckResult) -> None:
        """One line per check (checks left out by --select/--exclude only with ``-v``)."""
        quiet = result.skip_reason.startswith(_NOT_SELECTED) or result.skip_reason in self._announced
        if quiet and not self._verbose:
            return
        marker = " (expected)" if result.expected_failure and result.outcome is Outcome.FAIL else ""
        line = (
            f"[{index:>3}/{total}] {result.outcome.value:<10} {result.duration:6.2f}s  {result.name}"
            f"  [{', '.join(result.requirements)}]{marker}"
        )
        print(line, file=self._stream, flush=True)
        for failure in result.failures:
            print(
                f"           {failure.requirement} ({failure.level.value}): expected {failure.expected}; "
                f"observed {failure.observed}",
                file=self._stream,
            )
        if (result.outcome is Outcome.SKIPPED or self._verbose) and result.skip_reason:
            print(f"           skipped: {result.skip_reason}", file=self._stream)
        for measurement in result.measurements:
            print(f"           {measurement.render()}", file=self._stream)


def print_summary(report: RunReport, stream: TextIO) -> None:
    """The summary table by area, then the verdict line."""
    outcomes = list(Outcome)
    width = max([len("area"), len("total"), *(len(a) for a in report.areas())])
    header = f"{'area':<{width}}  " + "  ".join(f"{o.value:>10}" for o in outcomes)
    print("", header, "-" * len(header), sep="\n", file=stream)
    for area in report.areas():
        counts = report.counts(tuple(r for r in report.results if r.area == area))
        print(f"{area:<{width}}  " + "  ".join(f"{counts[o]:>10}" for o in outcomes), file=stream)
    total = report.counts()
    print("-" * len(header), file=stream)
    print(f"{'total':<{width}}  " + "  ".join(f"{total[o]:>10}" for o in outcomes), file=stream)
    failed = sorted({f.requirement for r in report.results if r.counts_as_failure for f in r.failures})
    expected = sorted({r.name for r in report.results if r.expected_failure and r.outcome is Outcome.FAIL})
    print("", file=stream)
    for transport, why in report.unreachable.items():
        print(f"UNREACHABLE over {transport}: {why}", file=stream)
    if report.interrupted:
        print("INTERRUPTED: the run was stopped by Ctrl-C; the reports are partial", file=stream)
    if failed:
        print(f"FAILED requirements: {', '.join(failed)}", file=stream)
    if expected:
        print(f"expected failures (not counted): {', '.join(expected)}", file=stream)
    print(f"exit status {int(report.exit_code)} ({report.exit_code.name}); {report.duration:.1f} s", file=stream)
