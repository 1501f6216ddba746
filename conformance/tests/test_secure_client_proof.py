"""Proof that the client suite's secure checks work: a correct secure client passes them, each flaw fails its own.

The test client (``broken_clients/secure_test_client.py``) is written from the spec, not from the reference;
the reference client (``rrp call``) is graded too.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CLIENT = Path(__file__).parent / "broken_clients" / "secure_test_client.py"
RETRY = "--attempts {attempts} --initial-timeout {initial_timeout} --max-timeout {max_timeout} --timeout {timeout}"
CLAIMS = ("--attempts", "4", "--initial-timeout", "0.2", "--max-timeout", "0.4", "--timeout", "3")
CONCURRENT_RUNS = 3


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rrp_secure_test_client", CLIENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


FLAWS: dict[str, Any] = _load().FLAWS


def _commands(name: str) -> tuple[str, str]:
    python = shlex.quote(sys.executable)
    if name == "reference":
        call = f"{python} -m rrp call {{url}} {{op}} --payload-hex {{payload_hex}} --hex {RETRY}"
        return f"{call} --ca {{ca}}", f"{call} --key-file {{key_file}} --key-id {{key_id}}"
    flaw = "" if name == "correct" else f" --flaw {name}"
    base = f"{python} {shlex.quote(str(CLIENT))} {{url}} {{op}} {{payload_hex}} {RETRY}{flaw}"
    return f"{base} --ca {{ca}}", f"{base} --key-file {{key_file}} --key-id {{key_id}}"


def _run(name: str, workdir: Path) -> tuple[int, str, list[dict[str, Any]]]:
    tls, sudp = _commands(name)
    report_dir = workdir / name
    command = [sys.executable, "-c", "import sys; from rrp_conformance.cli import main; sys.exit(main())"]
    command += ["client", "--command", tls, "--tls-command", tls, "--sudp-command", sudp, *CLAIMS]
    command += ["--select", "tls/", "--select", "sudp/", "--report-dir", str(report_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    results = report_dir / "results.json"
    checks = json.loads(results.read_text())["checks"] if results.exists() else []
    return done.returncode, done.stdout + done.stderr, checks


NAMES = ["correct", "reference", *FLAWS]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, list[dict[str, Any]]]]:
    workdir = tmp_path_factory.mktemp("secure-clients")
    with ThreadPoolExecutor(CONCURRENT_RUNS) as pool:
        return dict(zip(NAMES, pool.map(lambda name: _run(name, workdir), NAMES), strict=True))


@pytest.mark.parametrize("name", ["correct", "reference"])
def test_a_correct_secure_client_passes_every_secure_check(name: str, runs: dict[str, Any]) -> None:
    status, output, checks = runs[name]
    graded = [c for c in checks if c["name"].startswith(("tls/", "sudp/"))]
    assert len(graded) == 12 and all(c["outcome"] == "PASS" for c in graded), output
    assert status == 0, output


@pytest.mark.parametrize("name", list(FLAWS))
def test_each_flaw_fails_exactly_its_checks(name: str, runs: dict[str, Any]) -> None:
    status, output, checks = runs[name]
    flaw = FLAWS[name]
    failed = {c["name"] for c in checks if c["outcome"] == "FAIL"}
    requirements = {f["requirement"] for c in checks for f in c["failures"]}
    assert failed == flaw.failing_checks, output
    assert requirements == flaw.fails, output
    assert status == 1, output


def test_the_secure_runs_cover_every_secure_client_requirement(runs: dict[str, Any]) -> None:
    _, output, checks = runs["correct"]
    covered = {r for c in checks if c["outcome"] == "PASS" for r in c["requirements"]}
    assert {"TLS-CLI-1", "SUDP-1", "SUDP-2", "SUDP-CLI-1", "SUDP-CLI-2"} <= covered, output
