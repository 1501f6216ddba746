"""``./rrp-conformance``, the suite's front door for scripts: its exit status is the suite's, unchanged.

``make conformance`` cannot do that (make exits 2 whenever a command fails, and 2 is the suite's
usage error), so the README sends scripts and CI here. Each status is produced for real: a run that
passes, a MUST that fails (a server whose TCP limit is below the one it is graded for), a bad flag,
and a port nobody listens on.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FRONT_DOOR = REPO / "rrp-conformance"


@contextmanager
def _reference(*flags: str) -> Iterator[tuple[str, str]]:
    """``rrp serve FLAGS`` on free loopback ports; yields its UDP and TCP addresses."""
    server = subprocess.Popen(
        [sys.executable, "-m", "rrp", "serve", "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline().split() for _ in range(2)]  # blocks until bound, or EOF if it died
        found = {words[1]: words[2] for words in lines if len(words) == 3}
        assert set(found) == {"udp", "tcp"}, lines
        yield found["udp"], found["tcp"]
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _front_door(*argv: str, report_dir: Path) -> int:
    done = subprocess.run(
        [str(FRONT_DOOR), *argv, "--report-dir", str(report_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode


@pytest.mark.parametrize(
    ("case", "status"),
    [("passes", 0), ("a-must-fails", 1), ("usage-error", 2), ("unreachable", 3)],
)
def test_the_suites_exit_status_passes_through_unchanged(case: str, status: int, tmp_path: Path) -> None:
    if case == "usage-error":
        assert _front_door("server", "--udp", "127.0.0.1", report_dir=tmp_path) == status
    elif case == "unreachable":
        assert _front_door("server", "--tcp", f"127.0.0.1:{_closed_port()}", report_dir=tmp_path) == status
    elif case == "passes":
        with _reference() as (udp, tcp):
            assert _front_door("server", "--udp", udp, "--tcp", tcp, "--select", "tcp/noop", report_dir=tmp_path) == 0
    else:
        # Graded for the default TCP limit it did not lower its claim from, a server that takes only 1000 bytes
        # answers the largest request with TOO_LARGE: TCP-SRV-4, a MUST, fails.
        with _reference("--tcp-max-payload", "1000") as (udp, tcp):
            argv = ("server", "--udp", udp, "--tcp", tcp, "--select", "tcp/max-payload")
            assert _front_door(*argv, report_dir=tmp_path) == status
