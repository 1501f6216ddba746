"""Start a benchmark server, learn its ports from its ``listening`` lines, and stop it.

Every server is started with ``--udp 127.0.0.1:0 --tcp 127.0.0.1:0`` and announces what it bound as
``listening udp HOST:PORT`` / ``listening tcp HOST:PORT`` on standard output, the reference ``rrp serve``
included. Output goes to files in the build directory, never to a pipe that could fill and stall a server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from .listen_args import Endpoint, parse_endpoint
from .pinning import pin_current_process

#: How long a server may take to print both listening lines.
STARTUP_TIMEOUT = 20.0
_LISTENING = re.compile(r"^listening (udp|tcp) (\S+)\s*$", re.MULTILINE)


class ServerKind(StrEnum):
    """The servers a benchmark compares, in the order each round runs them."""

    REFERENCE = "reference"
    NAIVE_BLOCKING = "naive-blocking"
    NAIVE_ASYNCIO = "naive-asyncio"
    C = "c"


#: One line per server for the report's legend.
DESCRIPTIONS: dict[ServerKind, str] = {
    ServerKind.REFERENCE: "`rrp serve`, the hardened reference server (python-ref)",
    ServerKind.NAIVE_BLOCKING: "UNSAFE naive Python: blocking recvfrom/sendto loop + socketserver.ThreadingTCPServer",
    ServerKind.NAIVE_ASYNCIO: "UNSAFE naive Python: asyncio DatagramProtocol + asyncio streams",
    ServerKind.C: "C: recvmmsg/sendmmsg with UDP GSO + epoll, one thread, no protections (the practical limit)",
}


def server_command(kind: ServerKind, tools: Path) -> list[str]:
    """The command that starts ``kind`` on free loopback ports."""
    listen = ["--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"]
    match kind:
        case ServerKind.REFERENCE:
            return [sys.executable, "-m", "rrp", "serve", *listen]
        case ServerKind.NAIVE_BLOCKING:
            return [sys.executable, "-m", "rrp_bench.naive_blocking", *listen]
        case ServerKind.NAIVE_ASYNCIO:
            return [sys.executable, "-m", "rrp_bench.naive_asyncio", *listen]
        case ServerKind.C:
            return [str(tools / "rrp-server"), *listen]


class ServerStartError(RuntimeError):
    """A server exited or stayed silent instead of announcing its ports."""


@dataclass(frozen=True, slots=True)
class Listening:
    """Where a started server listens."""

    udp: Endpoint
    tcp: Endpoint


class RunningServer:
    """A server subprocess, stopped on exit from its ``with`` block whatever happens."""

    def __init__(self, kind: ServerKind, command: list[str], logs: Path, cpus: frozenset[int] | None) -> None:
        self.kind = kind
        self.command = command
        self.stdout_path = logs / f"{kind}.out"
        self.stderr_path = logs / f"{kind}.err"
        self._cpus = cpus
        self._process: subprocess.Popen[bytes] | None = None
        self.listening: Listening | None = None

    @property
    def pid(self) -> int:
        """The server's process ID."""
        assert self._process is not None, "server not started"
        return self._process.pid

    def __enter__(self) -> RunningServer:
        self.stdout_path.parent.mkdir(parents=True, exist_ok=True)
        cpus = self._cpus
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                preexec_fn=lambda: pin_current_process(cpus),
            )
        try:
            self.listening = self._await_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _await_listening(self) -> Listening:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            found = dict(_LISTENING.findall(self.stdout_path.read_text(errors="replace")))
            if "udp" in found and "tcp" in found:
                return Listening(parse_endpoint(found["udp"]), parse_endpoint(found["tcp"]))
            if self._process.poll() is not None:
                break
            time.sleep(0.02)
        tail = self.stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
        status = self._process.poll()
        state = f"exited with status {status}" if status is not None else f"silent after {STARTUP_TIMEOUT:.0f} s"
        raise ServerStartError(f"{self.kind} server {state}: {' | '.join(tail) or 'no output'}")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far, all its threads included (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        # After the command name: state is field 3, utime and stime are fields 14 and 15 (proc(5)).
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        """True while the process runs."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Terminate the server, then kill it if it lingers."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
