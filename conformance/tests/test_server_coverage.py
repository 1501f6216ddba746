"""Every MUST binding servers is covered by a check or marked not observable in the catalogue."""

from __future__ import annotations

from rrp_conformance.coverage import Coverage, coverage_rows, requirements_for, uncovered_musts
from rrp_conformance.server.suite import GRADED_SIDES, SERVER_CHECKS
from rrp_spec import BY_ID, REQUIREMENTS, Level


def _covered_by() -> dict[str, list[str]]:
    covered: dict[str, list[str]] = {}
    for check in SERVER_CHECKS:
        for rid in check.requirements:
            covered.setdefault(rid, []).append(check.name)
    return covered


def test_every_server_must_is_covered_or_not_observable() -> None:
    rows = coverage_rows(requirements_for(GRADED_SIDES), _covered_by(), [])
    assert not uncovered_musts(rows)
    assert {r.requirement.id for r in rows if r.coverage is Coverage.NOT_OBSERVABLE} >= {"SRV-15", "SRV-17"}


def test_the_newer_requirements_have_checks() -> None:
    covered = _covered_by()
    for rid in ("TCP-SRV-10", "TCP-SRV-11", "TCP-SRV-12", "TCP-SRV-13", "TCP-SRV-14", "UDP-SRV-9"):
        assert covered.get(rid), rid


def test_checks_cite_only_server_side_requirements() -> None:
    for check in SERVER_CHECKS:
        for rid in check.requirements:
            assert BY_ID[rid].side.value in {"server", "both"}, (check.name, rid)


def test_may_requirements_are_listed_but_not_required() -> None:
    rows = coverage_rows(requirements_for(GRADED_SIDES), _covered_by(), [])
    udp_rate = next(r for r in rows if r.requirement.id == "UDP-SRV-10")
    assert udp_rate.requirement.level is Level.MAY
    assert udp_rate.coverage is Coverage.NOT_OBSERVABLE


def test_check_names_are_unique_and_path_like() -> None:
    names = [c.name for c in SERVER_CHECKS]
    assert len(names) == len(set(names))
    assert all(n.split("/", 1)[0] in {"udp", "tcp", "sudp", "tls"} for n in names)


def test_every_must_of_the_catalogue_is_covered_by_one_of_the_two_suites() -> None:
    """The issue's rule for the whole catalogue: the server suite and the client suite together cover every MUST."""
    from rrp_conformance.catalogue import SUITES

    covered = {rid for suite in SUITES.values() for check in suite for rid in check.requirements}
    missing = [r.id for r in REQUIREMENTS if r.level is Level.MUST and r.id not in covered and not r.not_observable]
    assert not missing
