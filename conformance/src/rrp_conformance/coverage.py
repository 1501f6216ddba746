"""Requirement coverage: which checks cover each requirement a suite grades, and how the target fared on it.

Framework module. A suite grades the requirements binding its side (the server
suite: ``server`` and ``both``); each is either covered by at least one check, or
marked ``not_observable`` in the catalogue with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rrp_spec import REQUIREMENTS, Level, Requirement, Side

from .outcomes import CheckResult, Outcome


class Coverage(StrEnum):
    """How a requirement is graded."""

    COVERED = "covered"
    NOT_OBSERVABLE = "not observable"
    NOT_COVERED = "not covered"


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One requirement in the coverage table."""

    requirement: Requirement
    coverage: Coverage
    #: Names of the checks that cover it.
    checks: tuple[str, ...]
    #: The worst outcome among those checks in this run, ``None`` when none ran.
    verdict: Outcome | None


def requirements_for(sides: Iterable[Side]) -> tuple[Requirement, ...]:
    """The catalogue's requirements binding any of ``sides``, in catalogue order."""
    wanted = set(sides)
    return tuple(r for r in REQUIREMENTS if r.side in wanted)


def coverage_rows(
    graded: Sequence[Requirement], covered_by: dict[str, list[str]], results: Sequence[CheckResult]
) -> list[CoverageRow]:
    """The coverage table: ``covered_by`` maps a requirement ID to the checks that cite it."""
    outcome_of = {r.name: r.outcome for r in results}
    failed_by: dict[str, list[Outcome]] = {}
    for result in results:
        for failure in result.failures:
            failed_by.setdefault(failure.requirement, []).append(result.outcome)
    rows = []
    for req in graded:
        names = tuple(covered_by.get(req.id, ()))
        if names:
            coverage = Coverage.COVERED
        elif req.not_observable:
            coverage = Coverage.NOT_OBSERVABLE
        else:
            coverage = Coverage.NOT_COVERED
        verdict = _verdict(failed_by.get(req.id, []), [outcome_of[n] for n in names if n in outcome_of])
        rows.append(CoverageRow(req, coverage, names, verdict))
    return rows


def _verdict(failed: list[Outcome], ran: list[Outcome]) -> Outcome | None:
    """FAIL/NON-STRICT when a failure cites the requirement; else PASS when a covering check judged the target."""
    if failed:
        return Outcome.FAIL if Outcome.FAIL in failed else Outcome.NON_STRICT
    if any(o is not Outcome.SKIPPED for o in ran):
        return Outcome.PASS
    return Outcome.SKIPPED if ran else None


def uncovered_musts(rows: Sequence[CoverageRow]) -> list[str]:
    """IDs of MUSTs with neither a check nor a not-observable reason (a test keeps this empty)."""
    return [r.requirement.id for r in rows if r.requirement.level is Level.MUST and r.coverage is Coverage.NOT_COVERED]
