"""The result of one whole run: what every report is rendered from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..coverage import CoverageRow
from ..outcomes import CheckResult, ExitCode, Outcome


@dataclass(frozen=True, slots=True)
class RunReport:
    """Everything a report shows about one run of a suite."""

    #: ``server`` or ``client``.
    suite: str
    #: What was graded and the settings it claims, as display strings (``udp``: ``127.0.0.1:7000``, ...).
    target: Mapping[str, str]
    #: ISO 8601 UTC time the run started.
    started: str
    #: Seconds the run took.
    duration: float
    strict: bool
    timeout_scale: float
    results: tuple[CheckResult, ...]
    coverage: tuple[CoverageRow, ...]
    #: Transport -> why it did not answer the first sanity probe.
    unreachable: Mapping[str, str]
    exit_code: ExitCode
    #: Check name -> its frame numbers in the run's pcapng (checks that sent and received nothing are absent).
    frames: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    #: The pcapng's file name beside the reports, when one was written.
    capture: str = ""

    def counts(self, results: tuple[CheckResult, ...] | None = None) -> dict[Outcome, int]:
        """How many checks ended in each outcome."""
        counts = dict.fromkeys(Outcome, 0)
        for result in self.results if results is None else results:
            counts[result.outcome] += 1
        return counts

    def packets(self, name: str) -> str:
        """Where check ``name``'s packets are in the capture (``frames 12-18 of capture.pcapng``), or ``""``."""
        frames = self.frames.get(name)
        if not self.capture or not frames:
            return ""
        runs: list[list[int]] = []
        for frame in frames:
            if runs and frame == runs[-1][-1] + 1:
                runs[-1].append(frame)
            else:
                runs.append([frame])
        spans = ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
        return f"frame{'s' if len(frames) > 1 else ''} {spans} of {self.capture}"

    def areas(self) -> list[str]:
        """Report areas in first-run order."""
        return list(dict.fromkeys(r.area for r in self.results))


def exit_code_for(results: tuple[CheckResult, ...], unreachable: Mapping[str, str], transports: int) -> ExitCode:
    """0 unless a MUST failed (expected failures aside) or a transport asked for did not answer at all.

    A failure on a reachable transport outranks an unreachable one; an unreachable transport is
    never OK, or a mistyped port would pass with every check of its transport skipped.
    """
    if transports and len(unreachable) == transports:
        return ExitCode.UNREACHABLE
    if any(r.counts_as_failure for r in results):
        return ExitCode.FAILED
    if unreachable:
        return ExitCode.UNREACHABLE
    return ExitCode.OK
