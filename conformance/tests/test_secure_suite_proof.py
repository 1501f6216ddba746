"""Proof that the secure checks work: a correct toy passes every one, each broken toy fails its requirement.

The toy (``broken_servers/toy_secure_server.py``) is an RRP/1-S and RRP/1-over-TLS server written from the
spec, not from the reference; its certificate comes from a throwaway CA made by trustme for each run.
"""

from __future__ import annotations

import importlib.util
import io
import secrets
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trustme

from rrp_conformance.outcomes import Outcome
from rrp_conformance.registry import Selection
from rrp_conformance.reports import RunReport
from rrp_conformance.server.env import SecureTarget, ServerClaims, ServerEnv, TlsTarget
from rrp_conformance.server.suite import grade_server
from rrp_conformance.suite import SuiteOptions

TOY_PATH = Path(__file__).parent / "broken_servers" / "toy_secure_server.py"
KEY_ID = 9
TIMEOUT_SCALE = 2.0
PARALLEL = 4
#: The root conftest's ``start_listening`` (tests cannot import conftest.py): what a started toy listens on.
Listening = dict[str, tuple[str, int]]
StartListening = Callable[..., AbstractContextManager[Listening]]


def _load_toy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rrp_toy_secure_server", TOY_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


toy = _load_toy()
CLAIMS = ServerClaims(request_deadline=toy.REQUEST_DEADLINE)


@dataclass(frozen=True)
class Files:
    """What one test run's toys are started with."""

    key_file: Path
    secret: bytes
    cert: Path
    cert_key: Path
    ca: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    directory = tmp_path_factory.mktemp("secure-toy")
    secret = secrets.token_bytes(32)
    key_file = directory / "keys.txt"
    key_file.write_text(f"{KEY_ID} {secret.hex()}\n")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert, cert_key, ca_file = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    for blob in leaf.cert_chain_pems[1:]:
        blob.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(cert_key))
    ca.cert_pem.write_to_path(str(ca_file))
    return Files(key_file, secret, cert, cert_key, ca_file)


def toy_server(start: StartListening, files: Files, breakage: Any) -> AbstractContextManager[Listening]:
    """Start a toy process (the root conftest's ``start_listening``); it yields its sudp and tls addresses."""
    command = [sys.executable, str(TOY_PATH), "--key-file", str(files.key_file)]
    command += ["--cert", str(files.cert), "--cert-key", str(files.cert_key)]
    if breakage is not None:
        command += ["--break", breakage.flag]
    return start(command, stop="kill")  # it serves until killed


def grade(start: StartListening, files: Files, breakage: Any) -> RunReport:
    """Grade the toy: the breakage's checks, or every secure check for the correct toy."""
    checks = ("sudp/", "tls/") if breakage is None else breakage.proof.checks
    with toy_server(start, files, breakage) as where:
        env = ServerEnv(
            None,
            None,
            CLAIMS,
            secure=SecureTarget.with_secret(where["sudp"], KEY_ID, files.secret),
            tls=TlsTarget(where["tls"], str(files.ca), "localhost"),
        )
        options = SuiteOptions(selection=Selection(checks), timeout_scale=TIMEOUT_SCALE, report_dir=None)
        return grade_server(env, options, stream=io.StringIO())


CASES = [None, *toy.Breakage]


@pytest.fixture(scope="module")
def reports(files: Files, start_listening: StartListening) -> dict[str, RunReport]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        graded = list(pool.map(lambda b: grade(start_listening, files, b), CASES))
    return {("correct" if b is None else b.flag): r for b, r in zip(CASES, graded, strict=True)}


def _failed(report: RunReport) -> set[str]:
    return {f.requirement for r in report.results if r.outcome is Outcome.FAIL for f in r.failures}


def _explain(report: RunReport) -> str:
    return "\n".join(
        f"{r.name}: {r.outcome.value} {r.skip_reason} "
        + "; ".join(f"{f.requirement}: {f.observed}" for f in r.failures)
        for r in report.results
        if r.outcome in (Outcome.FAIL, Outcome.SKIPPED) and not r.skip_reason.startswith("not selected")
    )


def test_the_correct_toy_passes_every_secure_check(reports: dict[str, RunReport]) -> None:
    report = reports["correct"]
    ran = [r for r in report.results if r.name.startswith(("sudp/", "tls/"))]
    assert ran and all(r.outcome is Outcome.PASS for r in ran), _explain(report)


@pytest.mark.parametrize("breakage", list(toy.Breakage), ids=lambda b: b.flag)
def test_each_broken_toy_fails_exactly_its_requirement(breakage: Any, reports: dict[str, RunReport]) -> None:
    report = reports[breakage.flag]
    assert _failed(report) == breakage.proof.fails, _explain(report)
