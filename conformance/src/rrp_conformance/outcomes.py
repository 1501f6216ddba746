"""What a check can conclude, after Autobahn|Testsuite: the outcome of one check and the exit status of a run.

A check records *failures*, each naming the requirement it broke; the requirement's
level decides the outcome (a broken MUST is a FAIL, a broken SHOULD is NON-STRICT,
which ``--strict`` turns into a FAIL). Framework module, shared by the server and
client suites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from rrp_spec import Level, requirement

from .wirelog import WireEvent


class Outcome(StrEnum):
    """The verdict of one check."""

    #: Every observation matched the spec.
    PASS = "PASS"
    #: A MUST was broken (or a SHOULD, under ``--strict``).
    FAIL = "FAIL"
    #: Only SHOULDs were broken; a FAIL under ``--strict``.
    NON_STRICT = "NON-STRICT"
    #: The check could not run; the result says why.
    SKIPPED = "SKIPPED"
    #: The check measures rather than judges (a deadline, an amplification factor); nothing was broken.
    INFO = "INFO"


class ExitCode(IntEnum):
    """Exit statuses of ``rrp-conformance``; scripts may rely on this table."""

    #: No MUST failed (expected failures excepted); NON-STRICT results do not count unless ``--strict``.
    OK = 0
    #: At least one check FAILed that was not marked ``--expect-fail``.
    FAILED = 1
    #: The command line was wrong (argparse's own status).
    USAGE = 2
    #: A transport the run was asked to grade did not pass its first sanity probe (a wrong port, a server
    #: that is down or answers nothing, or something that is not an RRP server), and no MUST failed on
    #: the other: its checks were not run, so the run cannot say OK.
    UNREACHABLE = 3
    #: The suite itself crashed (a bug in rrp-conformance): no verdict, and never 0 or 1. 70 is
    #: sysexits.h's EX_SOFTWARE, far from the verdicts so no script mistakes it for one.
    INTERNAL_ERROR = 70
    #: The run was stopped by Ctrl-C (SIGINT); the reports written are partial and say so (128 + SIGINT).
    INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class Failure:
    """One broken requirement: what the spec asks for and what the target did."""

    #: The requirement ID, from the catalogue.
    requirement: str
    #: What a conforming target does, in one sentence.
    expected: str
    #: What this target did.
    observed: str

    @property
    def level(self) -> Level:
        """The level (MUST/SHOULD/MAY) of the broken requirement."""
        return requirement(self.requirement).level


@dataclass(frozen=True, slots=True)
class Measurement:
    """A number a check observed, reported as INFO (e.g. the observed whole-request deadline)."""

    name: str
    value: float
    unit: str
    #: What the number means, in a few words.
    note: str = ""

    def render(self) -> str:
        """``name = value unit (note)``."""
        note = f" ({self.note})" if self.note else ""
        return f"{self.name} = {self.value:.4g} {self.unit}{note}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Everything known about one check after it ran."""

    #: The check's unique name, e.g. ``udp/vector/reserved-flag-bit-1``.
    name: str
    #: One line saying what the check does.
    title: str
    #: Report grouping, e.g. ``header``, ``udp``, ``tcp``.
    area: str
    #: ``udp``, ``tcp`` or ``any``.
    transport: str
    #: The requirement IDs the check covers.
    requirements: tuple[str, ...]
    outcome: Outcome
    failures: tuple[Failure, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    #: Why the check did not run (SKIPPED only).
    skip_reason: str = ""
    #: Free-form remarks the check made (shown in reports).
    notes: tuple[str, ...] = ()
    #: True when the user marked this check or one of its requirements with ``--expect-fail``.
    expected_failure: bool = False
    duration: float = 0.0
    wire_log: tuple[WireEvent, ...] = field(default=())

    @property
    def counts_as_failure(self) -> bool:
        """True when this result makes the run's exit status non-zero."""
        return self.outcome is Outcome.FAIL and not self.expected_failure

    @property
    def primary_requirement(self) -> str:
        """The first requirement the check covers (used to name it in JUnit)."""
        return self.requirements[0] if self.requirements else ""


def decide_outcome(failures: tuple[Failure, ...], *, strict: bool, informational: bool) -> Outcome:
    """The outcome implied by the failures a check recorded."""
    if any(f.level is Level.MUST for f in failures):
        return Outcome.FAIL
    if failures:
        return Outcome.FAIL if strict else Outcome.NON_STRICT
    return Outcome.INFO if informational else Outcome.PASS
