"""The reference page's library example runs as printed against a real `rrp serve` on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = re.compile(r"## Using the library.*?```python\n(.*?)```", re.S)
LISTENING = re.compile(r"listening (udp|tcp) 127\.0\.0\.1:(\d+)")
#: Seconds the server may take to bind its sockets.
STARTUP_TIMEOUT = 20


@pytest.fixture
def server_ports() -> Iterator[dict[str, int]]:
    """`rrp serve` on ephemeral loopback ports; its UDP and TCP ports."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rrp", "serve", "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # A server that never says it is listening is killed, which ends the readline loop below.
    watchdog = threading.Timer(STARTUP_TIMEOUT, process.kill)
    watchdog.start()
    try:
        ports: dict[str, int] = {}
        assert process.stdout is not None
        while len(ports) < 2:
            line = process.stdout.readline()
            assert line, "rrp serve exited before it was listening"
            if match := LISTENING.search(line):
                ports[match.group(1)] = int(match.group(2))
        watchdog.cancel()
        yield ports
    finally:
        watchdog.cancel()
        process.terminate()
        try:
            process.wait(timeout=STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_library_example_runs(server_ports: dict[str, int], capsys: pytest.CaptureFixture[str]) -> None:
    match = EXAMPLE.search((REPO / "docs" / "pages" / "reference.md").read_text())
    assert match, "the reference page has no library example"
    code = match.group(1)
    for transport, port in server_ports.items():
        code, replaced = re.subn(
            rf'Client\.{transport}\("127\.0\.0\.1", \d+\)', f'Client.{transport}("127.0.0.1", {port})', code
        )
        assert replaced == 1, transport
    exec(compile(code, "reference.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.startswith("b'hello' 1 ")
    assert "refused:" in printed and "MALFORMED" in printed
