"""Proof that the client suite works: each broken client fails exactly its requirements; correct clients pass all.

Every client is run through ``rrp-conformance client`` exactly as a user would run
one, with small claimed timeouts so that the whole module stays quick; the runs
are independent and go at once, a few at a time.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rrp_conformance.catalogue import SUITES

TEST_CLIENT = Path(__file__).parent / "broken_clients" / "rrp_test_client.py"
#: The ten-line adapter the adapter contract shows: it runs on the default schedule, so it claims that.
EXAMPLE_ADAPTER = Path(__file__).parent.parent / "examples" / "rrp_adapter.py"
RETRY_WORDS = (
    "--timeout {timeout} --attempts {attempts} --initial-timeout {initial_timeout} --max-timeout {max_timeout}"
)
#: What every client here claims: small, so that timing checks take a second, not five.
CLAIMS = ("--attempts", "4", "--initial-timeout", "0.05", "--max-timeout", "0.4", "--timeout", "2")
#: Suite runs at once: each starts many client processes, and the machine may have two cores.
CONCURRENT_RUNS = 3
#: Checks of the secure profiles: this file grades plain RRP/1 clients without --tls-command/--sudp-command.
SECURE_PREFIXES = ("tls/", "sudp/")
#: Requirements only checks of the secure profiles cover.
SECURE_ONLY = {
    r
    for c in SUITES["client"]
    if c.name.startswith(SECURE_PREFIXES)
    for r in c.requirements
    if not any(r in other.requirements for other in SUITES["client"] if not other.name.startswith(SECURE_PREFIXES))
}


def _load_test_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rrp_test_client", TEST_CLIENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


#: Each flaw of the test client, with what the suite must find, as the test client declares it.
FLAWS = _load_test_client().FLAWS
#: Client name -> the requirement IDs the suite must fail it on, and nothing else: the correct clients, then the flaws.
EXPECTED: dict[str, frozenset[str]] = {
    "correct": frozenset(),
    "reference": frozenset(),
    "example-adapter": frozenset(),
    **{name: flaw.fails for name, flaw in FLAWS.items()},
}
#: Where the requirement alone does not say which check must catch the client: the failing checks, by name.
EXPECTED_CHECKS: dict[str, frozenset[str]] = {
    name: flaw.failing_checks for name, flaw in FLAWS.items() if flaw.failing_checks is not None
}


#: udp/request-ids starts the client 64 times (two thirds of a run's time). Each flaw's client draws its IDs as the
#: correct test client does (graded on it, as on the reference and the example adapter), except these flaws,
#: which touch the IDs: the others leave the check out; it would run the correct client's code 64 times again.
ID_CHECK = "udp/request-ids"
ID_FLAWS = {"sequential-ids", "new-id-per-retransmission", "ignores-request-id"}


def _alternate_address_bindable() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.2", 0))
        except OSError:
            return False
    return True


ALTERNATE = _alternate_address_bindable()


@dataclass(frozen=True)
class SuiteRun:
    exit_status: int
    output: str
    #: results.json's ``checks`` and ``coverage`` lists, as parsed.
    checks: list[dict[str, Any]]
    coverage: list[dict[str, Any]]
    #: The whole results.json (empty when the run wrote none).
    document: dict[str, Any]

    @property
    def failed_requirements(self) -> frozenset[str]:
        return frozenset(f["requirement"] for c in self.checks for f in c["failures"])


def _template(name: str, state: Path) -> str:
    python = shlex.quote(sys.executable)
    if name == "example-adapter":
        return f"{python} {shlex.quote(str(EXAMPLE_ADAPTER))} {{url}} {{op}} {{payload_hex}} {{timeout}}"
    if name == "reference":
        return f"{python} -m rrp call {{url}} {{op}} --payload-hex {{payload_hex}} --hex {RETRY_WORDS}"
    flaw = "" if name == "correct" else f" --flaw {name} --state {shlex.quote(str(state))}"
    return f"{python} {shlex.quote(str(TEST_CLIENT))} {{url}} {{op}} {{payload_hex}} {RETRY_WORDS}{flaw}"


def _run_suite(name: str, workdir: Path) -> SuiteRun:
    report_dir = workdir / name
    command = [
        sys.executable,
        "-c",
        "import sys; from rrp_conformance.cli import main; sys.exit(main())",
        "client",
        "--command",
        _template(name, workdir / f"{name}.counter"),
        *(("--timeout", "2") if name == "example-adapter" else CLAIMS),
        *(("--exclude", ID_CHECK) if name in FLAWS and name not in ID_FLAWS else ()),
        "--report-dir",
        str(report_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    results_file = report_dir / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return SuiteRun(
        done.returncode, done.stdout + done.stderr, results.get("checks", []), results.get("coverage", []), results
    )


@pytest.fixture(scope="module")
def suite_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    workdir = tmp_path_factory.mktemp("client-suite")
    with ThreadPoolExecutor(max_workers=CONCURRENT_RUNS) as pool:
        return dict(zip(EXPECTED, pool.map(lambda name: _run_suite(name, workdir), EXPECTED), strict=True))


def test_every_client_report_validates_against_the_published_schema(
    suite_runs: dict[str, SuiteRun], validate_results: Callable[[dict[str, Any]], None]
) -> None:
    for run in suite_runs.values():
        assert run.document, run.output
        validate_results(run.document)
        assert run.document["target"]["claims"]["udp_attempts"] >= 1


@pytest.mark.parametrize("name", list(EXPECTED))
def test_client_fails_exactly_its_requirements(name: str, suite_runs: dict[str, SuiteRun]) -> None:
    run = suite_runs[name]
    expected = EXPECTED[name]
    if "UDP-CLI-1" in expected and not ALTERNATE:
        pytest.skip("127.0.0.2 cannot be bound here, so the other-address check cannot run")
    assert run.checks, run.output
    assert run.failed_requirements == expected, run.output
    assert run.exit_status == (1 if expected else 0), run.output
    if name in EXPECTED_CHECKS and ALTERNATE:
        assert {c["name"] for c in run.checks if c["failures"]} == EXPECTED_CHECKS[name], run.output
    for check in run.checks:
        failed = {f["requirement"] for f in check["failures"]}
        if failed:
            assert check["outcome"] == "FAIL", run.output
        elif check["name"] == ID_CHECK and name in FLAWS and name not in ID_FLAWS:
            assert check["outcome"] == "SKIPPED" and check["skip_reason"].startswith("not selected")
        elif check["name"] == "udp/reply-from-other-address" and not ALTERNATE:
            assert check["outcome"] == "SKIPPED"
        elif check["name"].startswith(SECURE_PREFIXES):
            # Graded with --tls-command/--sudp-command in test_secure_client_proof.py; not asked for here.
            assert check["outcome"] == "SKIPPED"
        else:
            assert check["outcome"] == "PASS", (
                f"{check['name']}: {check['outcome']} {check['skip_reason']}\n{run.output}"
            )


def test_every_client_requirement_is_covered(suite_runs: dict[str, SuiteRun]) -> None:
    uncovered = {row["requirement"] for row in suite_runs["correct"].coverage if row["coverage"] == "not covered"}
    # UDP-CLI-5 (a SHOULD): whether a client uses the default schedule *unless configured* cannot be seen through
    # a template that configures it; the suite grades the claimed schedule instead (UDP-CLI-4).
    # The secure profiles' requirements are covered by the secure runs (test_secure_client_proof.py).
    assert uncovered <= {"UDP-CLI-5"} | SECURE_ONLY
