"""The README's "Run the reference server and client" lines work as written.

The block is read from the README itself: the ``rrp serve`` line is started as a real
process, each ``rrp call`` line is run against the ports it prints, and what it prints
is compared with the line's ``# prints`` comment. The ``.venv/bin/`` prefix is replaced by
this interpreter's ``-m rrp``, so the test runs from any virtual environment, and the README's
port (7373, one port for UDP and TCP) by a port free on both here, so that it cannot collide with
a server someone is running.
"""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"
_SECTION = "## Run the reference server and client"
_LISTENING = re.compile(r"^listening (udp|tcp) \S+:(\d+)$")
_README_PORT = "7373"


def _port_free_for_udp_and_tcp() -> str:
    """A loopback port that both a UDP and a TCP socket can bind right now."""
    for _ in range(20):
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return str(port)
    raise AssertionError("no port free for both UDP and TCP")


def _command_lines() -> list[tuple[list[str], str]]:
    """(argv after ``rrp``, expected first line of stdout or "") for each line of the section's sh block."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(_SECTION) :]
    block = section[section.index("```sh") + len("```sh") : section.index("```", section.index("```sh") + 5)]
    lines = []
    for line in block.strip().splitlines():
        command, _, comment = line.partition("#")
        words = shlex.split(command)
        assert words[0] == ".venv/bin/rrp", line
        expected = re.match(r"\s*prints (\S+?)[,]?(?:\s|$)", comment)
        lines.append((words[1:], expected.group(1) if expected else ""))
    return lines


def test_the_readme_serve_and_call_lines_work_as_written() -> None:
    port = _port_free_for_udp_and_tcp()
    lines = [([word.replace(_README_PORT, port) for word in argv], expected) for argv, expected in _command_lines()]
    serve, *calls = lines
    assert serve[0][0] == "serve" and [argv[0] for argv, _ in calls].count("call") >= 2
    assert serve[0][1:] == ["--udp", f"127.0.0.1:{port}", "--tcp", f"127.0.0.1:{port}"], "one port for UDP and TCP"
    server = subprocess.Popen(
        [sys.executable, "-m", "rrp", *serve[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        ports: dict[str, str] = {}
        while len(ports) < 2:
            listening = _LISTENING.match(server.stdout.readline().strip())
            assert listening, "rrp serve did not print its listening lines"
            ports[listening.group(1)] = listening.group(2)
        assert ports == {"udp": port, "tcp": port}
        for argv, expected in calls:
            if argv[0] != "call" or "--help" in argv:
                continue
            done = subprocess.run(
                [sys.executable, "-m", "rrp", *argv], capture_output=True, text=True, timeout=30, check=False
            )
            assert done.returncode == 0, (argv, done.stderr)
            assert done.stdout.splitlines()[0] == expected, argv
        help_lines = [argv for argv, _ in calls if "--help" in argv]
        for argv in help_lines:
            done = subprocess.run(
                [sys.executable, "-m", "rrp", *argv], capture_output=True, text=True, timeout=30, check=False
            )
            assert done.returncode == 0 and done.stdout.startswith("usage: rrp call")
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=10)
    assert server.returncode == 0, stderr
