"""``rrp-conformance client``: usage errors get one sentence and exit 2; a client that cannot start, exit 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrp_conformance.cli import main
from rrp_conformance.outcomes import ExitCode


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--command", "client {nope} {url}"], "{nope}, which is not one of"),
        (["--command", "client {op}"], "must use {url} or {port}"),
        (["--command", "client {url}", "--initial-timeout", "3"], "must be at least --initial-timeout"),
    ],
)
def test_usage_errors_are_one_sentence(
    arguments: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["client", *arguments, "--report-dir", str(tmp_path)]) == ExitCode.USAGE
    error = capsys.readouterr().err.strip()
    assert words in error and len(error.splitlines()) == 1


def test_a_client_that_cannot_start_makes_the_run_unreachable(tmp_path: Path) -> None:
    status = main(["client", "--command", "/nonexistent/rrp-client {url}", "--report-dir", str(tmp_path)])
    assert status == ExitCode.UNREACHABLE
    results = json.loads((tmp_path / "results.json").read_text())
    assert {c["outcome"] for c in results["checks"]} == {"SKIPPED"}
    plain = [c for c in results["checks"] if not c["name"].startswith(("tls/", "sudp/"))]
    assert plain and all("cannot start the client" in c["skip_reason"] for c in plain)
    secure = [c for c in results["checks"] if c["name"].startswith(("tls/", "sudp/"))]
    assert secure and all("not graded" in c["skip_reason"] for c in secure)  # no --tls-command/--sudp-command
