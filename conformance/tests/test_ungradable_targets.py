"""Grading things that are not RRP servers: one sentence and exit 3 within seconds, one JUnit error, no wall of
SKIPPED lines; and Ctrl-C in the middle of a run: a partial report marked interrupted, exit 130, no traceback.

Every target is started here, on loopback: a TCP echo service, a UDP echo service, an HTTP server, a closed port.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml

from rrp_conformance.cli import main
from rrp_conformance.outcomes import ExitCode

#: The issue's "within a few seconds": a target that is not RRP is told apart at once, not after a whole run.
FEW_SECONDS = 8.0


class _TcpEcho(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _UdpEcho(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(data, self.client_address)


class _QuietHttp(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


def _serving(server: socketserver.BaseServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        address: tuple[str, int] = server.server_address  # type: ignore[assignment]  # AF_INET: (host, port)
        yield f"{address[0]}:{address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _ThreadingTcp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def tcp_echo() -> Iterator[str]:
    yield from _serving(_ThreadingTcp(("127.0.0.1", 0), _TcpEcho))


@pytest.fixture
def udp_echo() -> Iterator[str]:
    yield from _serving(socketserver.UDPServer(("127.0.0.1", 0), _UdpEcho))


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    handler: Callable[..., _QuietHttp] = lambda *a, **k: _QuietHttp(*a, directory=str(tmp_path), **k)  # noqa: E731
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    yield from _serving(server)


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


def _grade(
    flag: str, address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], junit: Callable[[str], JUnitXml]
) -> tuple[int, str, float, JUnitXml, dict[str, Any]]:
    started = time.monotonic()
    status = main(["server", flag, address, "--report-dir", str(tmp_path)])
    took = time.monotonic() - started
    out = capsys.readouterr().out
    return (
        status,
        out,
        took,
        junit((tmp_path / "junit.xml").read_text()),
        json.loads((tmp_path / "results.json").read_text()),
    )


@pytest.mark.parametrize(
    ("target", "flag", "sentence"),
    [
        ("tcp_echo", "--tcp", "this does not look like an RRP server: it sent the request back unchanged"),
        ("udp_echo", "--udp", "this does not look like an RRP server: it sent the request back unchanged"),
        ("http_server", "--tcp", "this does not look like an RRP server: its answer does not start with an RRP header"),
    ],
)
def test_a_service_that_is_not_rrp_gets_one_sentence_and_exit_3(
    target: str,
    flag: str,
    sentence: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    read_junit: Callable[[str], JUnitXml],
    validate_results: Callable[[dict[str, Any]], None],
) -> None:
    address = request.getfixturevalue(target)
    status, out, took, junit, doc = _grade(flag, address, tmp_path, capsys, read_junit)
    assert status == ExitCode.UNREACHABLE
    assert took < FEW_SECONDS
    transport = flag.removeprefix("--")
    assert doc["unreachable"][transport].startswith(sentence)
    (announced,) = [line for line in out.splitlines() if line.startswith(f"{transport.upper()} NOT GRADED")]
    assert sentence in announced
    assert "SKIPPED" not in "\n".join(line for line in out.splitlines() if line.startswith("[")), "no per-check lines"
    assert junit.errors == 1 and junit.failures == 0
    validate_results(doc)


def test_a_closed_port_is_one_line_up_front_and_a_junit_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], read_junit: Callable[[str], JUnitXml]
) -> None:
    status, out, took, junit, _ = _grade("--tcp", _closed_port(), tmp_path, capsys, read_junit)
    assert status == ExitCode.UNREACHABLE and took < FEW_SECONDS
    lines = out.splitlines()
    announced = {line.split(" NOT GRADED: ")[0]: line for line in lines if " NOT GRADED: " in line}
    assert announced["UDP"].startswith("UDP NOT GRADED: no UDP address given (--udp) (")
    assert announced["TCP"].startswith("TCP NOT GRADED: cannot connect over TCP")
    assert not [line for line in lines if line.startswith("[")], "86 SKIPPED lines are one line now"
    assert junit.errors == 1


def _rrp_available() -> bool:
    return shutil.which("rrp") is not None or Path(sys.executable).with_name("rrp").exists()


@pytest.mark.skipif(not _rrp_available(), reason="the reference server (rrp) is not installed")
def test_ctrl_c_writes_a_partial_report_and_exits_130(
    tmp_path: Path,
    validate_results: Callable[[dict[str, Any]], None],
    read_junit: Callable[[str], JUnitXml],
) -> None:
    """A real SIGINT to ``rrp-conformance reference`` a few checks into the run."""
    command = [sys.executable, "-c", "import sys; from rrp_conformance.cli import main; sys.exit(main())"]
    command += ["reference", "--report-dir", str(tmp_path), "--timeout-scale", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # check lines start with "[  n/N]"
        seen.append(line)
        if line.startswith("[") and "/" in line and int(line[1:].split("/")[0]) >= 3:
            break
    process.send_signal(signal.SIGINT)
    try:
        rest, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == ExitCode.INTERRUPTED, "".join(seen) + rest + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "INTERRUPTED" in rest
    doc = json.loads((tmp_path / "results.json").read_text())
    validate_results(doc)
    assert doc["interrupted"] is True and doc["exit_status"] == ExitCode.INTERRUPTED
    not_run = [c for c in doc["checks"] if c["skip_reason"].startswith("not run: the run was interrupted")]
    assert not_run, "later checks are reported as not run"
    assert sum(1 for c in doc["checks"] if c["outcome"] != "SKIPPED") >= 3, "the checks that ran keep their verdicts"
    assert "INTERRUPTED" in (tmp_path / "report.md").read_text()
    junit = read_junit((tmp_path / "junit.xml").read_text())
    assert junit.errors == 1
