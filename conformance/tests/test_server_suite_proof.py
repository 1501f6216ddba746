"""Proof that the server checks work: the suite fails each broken toy server on exactly the requirement it breaks.

Every toy server runs in its own process (``broken_servers/toy_server.py``), so the
suite and the servers do not share a GIL; the suite runs against several at once.
The correct toy passes everything, the dedup-window check included; each broken one
gets a full run of the transport it breaks (both transports when it breaks both).
What each breakage must fail is declared once, beside the breakage (``toy_server.Breakage``):
a new member there is a new case here.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from junitparser import JUnitXml

from rrp_conformance.cli import main
from rrp_conformance.outcomes import ExitCode, Outcome
from rrp_conformance.registry import Selection
from rrp_conformance.reports import RunReport, render_junit, to_json
from rrp_conformance.server.env import ServerClaims, ServerEnv
from rrp_conformance.server.suite import grade_server
from rrp_conformance.suite import SuiteOptions

TOY_PATH = Path(__file__).parent / "broken_servers" / "toy_server.py"
#: The root conftest's ``start_listening`` (tests cannot import conftest.py): what a started toy listens on.
Listening = dict[str, tuple[str, int]]
StartListening = Callable[..., AbstractContextManager[Listening]]


def _load_toy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rrp_toy_server", TOY_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


toy = _load_toy()
SETTINGS = toy.Settings()


def claims_for(breakage: Any) -> ServerClaims:
    """What the suite is told about a toy: its settings, except where its proof says it claims otherwise."""
    settings = toy.settings_for(breakage)
    claimed = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name in _CLAIMABLE}
    overrides = {} if breakage is None else dict(breakage.proof.claims)
    return ServerClaims(**{**claimed, **overrides})


_CLAIMABLE = {f.name for f in dataclasses.fields(ServerClaims)} - {"claimed"}
CLAIMS = claims_for(None)


@dataclass(frozen=True)
class Case:
    """One toy server (correct, or with one breakage) and what the suite must find on it."""

    breakage: Any  # toy.Breakage | None (the toy is loaded from its path, so mypy cannot see the type)
    #: Both transports on ::1: the suite must grade an IPv6 target as it grades an IPv4 one.
    ipv6: bool = False

    @property
    def proof(self) -> Any:  # toy.Proof
        """The breakage's declared proof; for the correct toy, nothing fails."""
        proof = toy.CORRECT if self.breakage is None else self.breakage.proof
        return dataclasses.replace(proof, wildcard=False) if self.ipv6 else proof

    @property
    def name(self) -> str:
        """The test ID, and the key of the case's report."""
        return (self.breakage.flag if self.breakage else "correct") + ("-ipv6" if self.ipv6 else "")


#: The correct toy, every breakage the toy declares, and the IPv6 runs.
CASES = [
    Case(None),
    *(Case(b) for b in toy.Breakage),
    Case(None, ipv6=True),
    Case(toy.Breakage.ANSWERS_REPLIES, ipv6=True),
]
#: Checks that need IPv4 loopback (several source addresses, or 127.0.0.2 as a second address).
IPV4_ONLY_SKIP = ("not on IPv4 loopback", "not a second address of the target's family")
#: The suite's own flag, for the machine the tests share with other engineers' (and with each other).
TIMEOUT_SCALE = 2.0
#: Suites run at once; each toy server is its own process.
PARALLEL = 4


@contextmanager
def toy_server(start: StartListening, breakage: Any, *, wildcard: bool, ipv6: bool = False) -> Iterator[Listening]:
    """Start a toy server process (the root conftest's ``start_listening``); yield its udp and tcp addresses."""
    host = "::1" if ipv6 else "127.0.0.1"
    command = [sys.executable, str(TOY_PATH), "--udp-host", "0.0.0.0" if wildcard else host]
    if breakage:
        command += ["--breakage", breakage.flag]
    with start(command) as where:
        # A toy on the wildcard address prints 0.0.0.0: the suite sends to the loopback address instead.
        yield {kind: (host, port) for kind, (_, port) in where.items()}


def grade(start: StartListening, c: Case, *, strict: bool = False, select: tuple[str, ...] | None = None) -> RunReport:
    """Run the suite against the case's toy server (``select``: instead of the checks its proof runs)."""
    proof = c.proof
    with toy_server(start, c.breakage, wildcard=proof.wildcard, ipv6=c.ipv6) as where:
        env = ServerEnv(where["udp"], where["tcp"], claims_for(c.breakage))
        selection = Selection(proof.runs if select is None else select, proof.leaves_out)
        options = SuiteOptions(strict=strict, selection=selection, timeout_scale=TIMEOUT_SCALE, report_dir=None)
        return grade_server(env, options, stream=io.StringIO())


def _grade_if_it_starts(start: StartListening, c: Case) -> RunReport | None:
    """``grade``, or ``None`` when an IPv6 toy cannot start (no ::1: its test is skipped by its marker)."""
    try:
        return grade(start, c)
    except (AssertionError, ValueError):
        if c.ipv6:
            return None
        raise


@pytest.fixture(scope="module")
def reports(start_listening: StartListening) -> dict[str, RunReport | None]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        graded = list(pool.map(lambda c: _grade_if_it_starts(start_listening, c), CASES))
    return {c.name: r for c, r in zip(CASES, graded, strict=True)}


def _report(reports: dict[str, RunReport | None], name: str) -> RunReport:
    report = reports[name]
    assert report is not None, f"the {name} toy server did not start"
    return report


def _requirements(report: RunReport, outcome: Outcome) -> set[str]:
    return {f.requirement for r in report.results if r.outcome is outcome for f in r.failures}


def _explain(report: RunReport) -> str:
    lines = []
    for r in report.results:
        skipped = r.outcome is Outcome.SKIPPED and not r.skip_reason.startswith("not selected")
        if r.outcome in (Outcome.FAIL, Outcome.NON_STRICT) or skipped:
            lines.append(f"{r.name}: {r.outcome.value} {r.skip_reason}")
            lines += [f"    {f.requirement}: expected {f.expected}; observed {f.observed}" for f in r.failures]
    return "\n".join(lines)


@pytest.mark.parametrize(
    "c", [pytest.param(c, id=c.name, marks=[pytest.mark.needs_ipv6_loopback] if c.ipv6 else []) for c in CASES]
)
def test_suite_fails_exactly_the_broken_requirement(c: Case, reports: dict[str, RunReport | None]) -> None:
    report = _report(reports, c.name)
    assert _requirements(report, Outcome.FAIL) == c.proof.fails, _explain(report)
    assert _requirements(report, Outcome.NON_STRICT) == c.proof.non_strict, _explain(report)
    suite_errors = [r.name for r in report.results if "could not complete" in r.skip_reason]
    assert not suite_errors, _explain(report)
    assert (report.exit_code == 0) == (not c.proof.fails)


def test_every_proof_report_validates_against_the_published_schema_and_junit_layout(
    reports: dict[str, RunReport | None],
    validate_results: Callable[[dict[str, Any]], None],
    read_junit: Callable[[str], JUnitXml],
) -> None:
    """The reports of real runs with real failures, not only hand-made ones, are what the schemas say."""
    graded = [report for report in reports.values() if report is not None]
    assert graded
    for report in graded:
        validate_results(to_json(report))
        read_junit(render_junit(report))


def test_correct_toy_server_skips_nothing_it_was_asked_to_run(reports: dict[str, RunReport | None]) -> None:
    results = _report(reports, "correct").results
    asked = [r for r in results if not r.skip_reason.startswith("not selected")]  # the secure checks have a toy
    skipped = [(r.name, r.skip_reason) for r in asked if r.outcome is Outcome.SKIPPED]
    assert not skipped


@pytest.mark.needs_ipv6_loopback
def test_over_ipv6_only_the_checks_that_need_ipv4_loopback_skip(reports: dict[str, RunReport | None]) -> None:
    report = _report(reports, "correct-ipv6")
    asked = [r for r in report.results if not r.skip_reason.startswith("not selected")]
    skipped = {r.name: r.skip_reason for r in asked if r.outcome is Outcome.SKIPPED}
    assert all(any(why in reason for why in IPV4_ONLY_SKIP) for reason in skipped.values()), skipped
    ran = [r for r in asked if r.outcome is not Outcome.SKIPPED]
    # The reasons say why; the count only keeps "every check skips over IPv6" from passing.
    assert 4 * len(skipped) < len(ran) and {r.transport for r in ran} == {"udp", "tcp"}


def test_every_broken_requirement_is_proven_by_some_toy() -> None:
    """A MUST the suite checks but no broken server can fail would be an unproven check."""
    proven = set().union(*(c.proof.fails | c.proof.non_strict for c in CASES))
    assert {"TCP-SRV-5", "TCP-SRV-10", "TCP-SRV-11", "TCP-SRV-12", "SRV-14", "UDP-SRV-6", "UDP-SRV-5"} <= proven


def test_strict_turns_a_broken_should_into_a_fail(start_listening: StartListening) -> None:
    strict = grade(
        start_listening, Case(toy.Breakage.NO_PER_SOURCE_LIMIT), strict=True, select=("tcp/per-source-limit",)
    )
    assert _requirements(strict, Outcome.FAIL) == {"TCP-SRV-12"}
    assert strict.exit_code == 1


def test_the_dead_target_is_reported_once_as_the_cause(reports: dict[str, RunReport | None]) -> None:
    results = _report(reports, "crashes-on-empty").results
    failed = [r for r in results if r.outcome is Outcome.FAIL]
    assert [r.name for r in failed] == ["udp/vector/udp-short-0"]
    later = [
        r for r in results if r.transport == "udp" and r.name != failed[0].name and "not selected" not in r.skip_reason
    ]
    after = later[[r.name for r in results].index(failed[0].name) :]
    assert after and all(r.outcome is Outcome.SKIPPED and "udp-short-0" in r.skip_reason for r in after)


def test_expect_fail_reports_a_known_failure_without_failing_the_run(
    start_listening: StartListening, tmp_path: Path
) -> None:
    with toy_server(start_listening, toy.Breakage.NO_IDLE_TIMEOUT, wildcard=False) as where:
        argv = ["server", "--tcp", f"127.0.0.1:{where['tcp'][1]}", "--idle-timeout", str(SETTINGS.idle_timeout)]
        argv += ["--timeout-scale", str(TIMEOUT_SCALE)]
        argv += ["--select", "tcp/idle-timeout", "--expect-fail", "TCP-SRV-6", "--report-dir", str(tmp_path)]
        assert main(argv) == ExitCode.OK
    report = (tmp_path / "report.md").read_text()
    assert "FAIL (expected failure): `tcp/idle-timeout`" in report


def test_a_target_not_on_a_wildcard_address_skips_the_reply_source_check(reports: dict[str, RunReport | None]) -> None:
    result = next(r for r in _report(reports, "amplifying-operation").results if r.name == "udp/reply-source-address")
    assert result.outcome is Outcome.SKIPPED and "wildcard" in result.skip_reason


@pytest.mark.skipif(importlib.util.find_spec("rrp") is None, reason="the reference server (rrp) is not installed")
def test_the_memory_budget_check_passes_the_reference(tmp_path: Path) -> None:
    """The toy without a global budget fails tcp/memory-budget (its proof above); the reference passes it, graded
    with the budget its run claims (the setting it was started with), not skipped."""
    argv = ["reference", "--select", "tcp/memory-budget", "--timeout-scale", str(TIMEOUT_SCALE)]
    assert main([*argv, "--report-dir", str(tmp_path)]) == ExitCode.OK
    checks = {c["name"]: c for c in json.loads((tmp_path / "results.json").read_text())["checks"]}
    assert checks["tcp/memory-budget"]["outcome"] == "PASS", checks["tcp/memory-budget"]


@pytest.mark.parametrize(
    ("budget", "why"),
    [(None, "--memory-budget"), (SETTINGS.max_connections * SETTINGS.tcp_max_payload, "connection limit")],
    ids=["unclaimed", "more-than-the-connections-hold"],
)
def test_the_memory_budget_check_skips_a_budget_it_cannot_fill_saying_why(
    start_listening: StartListening, budget: int | None, why: str
) -> None:
    with toy_server(start_listening, None, wildcard=False) as where:
        env = ServerEnv(where["udp"], where["tcp"], dataclasses.replace(CLAIMS, memory_budget=budget))
        options = SuiteOptions(
            selection=Selection(("tcp/memory-budget",)), timeout_scale=TIMEOUT_SCALE, report_dir=None
        )
        report = grade_server(env, options, stream=io.StringIO())
    result = next(r for r in report.results if r.name == "tcp/memory-budget")
    assert result.outcome is Outcome.SKIPPED and why in result.skip_reason


def test_a_target_whose_budget_refuses_one_of_the_held_requests_is_judged_past_its_budget(
    start_listening: StartListening,
) -> None:
    """Claimed one request above what the toy holds, the last held request is answered BUSY: the target said it
    was past its budget, so the check judges the probe rather than skipping."""
    claims = dataclasses.replace(CLAIMS, memory_budget=SETTINGS.memory_budget + SETTINGS.tcp_max_payload)
    with toy_server(start_listening, None, wildcard=False) as where:
        options = SuiteOptions(
            selection=Selection(("tcp/memory-budget",)), timeout_scale=TIMEOUT_SCALE, report_dir=None
        )
        report = grade_server(ServerEnv(where["udp"], where["tcp"], claims), options, stream=io.StringIO())
    result = next(r for r in report.results if r.name == "tcp/memory-budget")
    assert result.outcome is Outcome.PASS, _explain(report)
    assert any("held requests were answered BUSY" in note for note in result.notes), result.notes


def test_a_server_that_serves_one_connection_until_its_socket_is_empty_is_caught_by_the_fast_neighbour_alone(
    reports: dict[str, RunReport | None],
) -> None:
    """TCP-SRV-8 has two halves: the slowloris check passes this toy (no slow peer holds its loop), so without the
    fast-neighbour check the suite would miss it."""
    results = {r.name: r for r in _report(reports, "greedy-connection").results}
    assert results["tcp/fast-neighbour"].outcome is Outcome.FAIL, _explain(_report(reports, "greedy-connection"))
    assert results["tcp/slowloris"].outcome is Outcome.INFO
    correct = {r.name: r for r in _report(reports, "correct").results}
    assert correct["tcp/fast-neighbour"].outcome is Outcome.INFO
    assert {m.name for m in correct["tcp/fast-neighbour"].measurements} >= {
        "B's round trip under a fast neighbour, p99",
        "A's requests answered per second",
    }
