"""The server under test as a subprocess: start it, learn its ports, watch its memory, stop it.

The server is any command that follows ``rrp serve``'s contract: once bound it prints
``listening udp HOST:PORT`` and ``listening tcp HOST:PORT`` on stdout, and it exits on
SIGTERM, printing its counters. Its stderr is a pipe that a thread copies to a file,
which the verdict scans for tracebacks. The log-stall phase stops that thread reading
(:meth:`ServerProcess.stall_stderr`) and shrinks the pipe to one page, so the server's
log output blocks as it does behind a hung log shipper.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rrp_spec.addresses import parse_address

#: How long the server may take to print both ``listening`` lines.
STARTUP_TIMEOUT = 20.0
#: How long the server may take to exit after SIGTERM (its grace period plus printing counters).
SHUTDOWN_TIMEOUT = 20.0
#: How often the server's resident set size is sampled.
RSS_INTERVAL = 0.2
#: The server's stderr pipe while the log reader is stalled: one page, full after a few dozen log lines.
STALLED_PIPE_BYTES = 4096

_LISTENING = re.compile(r"^listening (udp|tcp) (\S+):(\d+)$")


class ServerStartError(RuntimeError):
    """The server did not start as its contract says."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A host and port the server listens on."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``HOST:PORT``, IPv6 hosts in brackets."""
        host, port = parse_address(text)
        return cls(host, port)


@dataclass(slots=True)
class RssSample:
    """The server's resident set size at one moment."""

    at: float
    bytes: int


@dataclass(slots=True)
class ServerProcess:
    """A running server and what has been observed of it."""

    process: subprocess.Popen[str]
    udp: Endpoint
    tcp: Endpoint
    stderr_path: Path
    started: float
    stdout_lines: list[str] = field(default_factory=list)
    rss: list[RssSample] = field(default_factory=list)
    exit_status: int | None = None
    #: Set while the soak reads the server's stderr; cleared to stall it.
    stderr_flowing: threading.Event = field(default_factory=threading.Event)
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The server's process ID."""
        return self.process.pid

    def read_rss(self) -> int | None:
        """The server's VmRSS in bytes, or ``None`` once it has exited."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) * 1024 if match else None

    def stall_stderr(self) -> None:
        """Stop reading the server's stderr, and shrink the pipe to one page so it fills within seconds."""
        self.stderr_flowing.clear()
        if self.process.stderr is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.process.stderr.fileno(), fcntl.F_SETPIPE_SZ, STALLED_PIPE_BYTES)

    def resume_stderr(self) -> None:
        """Read the server's stderr again."""
        self.stderr_flowing.set()

    def stop(self) -> int:
        """SIGTERM, wait for a clean exit (SIGKILL after :data:`SHUTDOWN_TIMEOUT`); returns the exit status."""
        self.resume_stderr()
        self._stop_sampling.set()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        self.exit_status = self.process.returncode
        return self.exit_status

    def stderr_text(self) -> str:
        """Everything the server wrote to stderr so far."""
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""


def start_server(command: list[str], stderr_path: Path, started: float) -> ServerProcess:
    """Run ``command`` and wait for its ``listening`` lines; kills it and raises if they do not come."""
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    stderr_path.write_text("")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, start_new_session=True
    )
    assert process.stdout is not None and process.stderr is not None
    flowing = threading.Event()
    flowing.set()

    def copy_stderr() -> None:
        assert process.stderr is not None
        with stderr_path.open("a") as out:
            for line in process.stderr:
                out.write(line)
                out.flush()
                flowing.wait()

    threading.Thread(target=copy_stderr, daemon=True).start()
    found: dict[str, Endpoint] = {}
    lines: list[str] = []
    reader_done = threading.Event()

    def read_listening() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            match = _LISTENING.match(line.strip())
            if match:
                found[match.group(1)] = Endpoint(match.group(2).strip("[]"), int(match.group(3)))
            if len(found) == 2:
                break
        reader_done.set()

    reader = threading.Thread(target=read_listening, daemon=True)
    reader.start()
    reader_done.wait(STARTUP_TIMEOUT)
    if len(found) < 2:
        process.kill()
        process.wait()
        tail = stderr_path.read_text(errors="replace")[-2000:]
        raise ServerStartError(
            f"{' '.join(command)} did not print both listening lines within {STARTUP_TIMEOUT:g} s "
            f"(stdout: {lines!r}, exit status {process.returncode}); stderr ends with:\n{tail}"
        )
    server = ServerProcess(
        process, found["udp"], found["tcp"], stderr_path, started, stdout_lines=lines, stderr_flowing=flowing
    )

    def drain_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.stdout_lines.append(line.rstrip("\n"))

    def sample_rss() -> None:
        while not server._stop_sampling.is_set():
            value = server.read_rss()
            if value is not None:
                server.rss.append(RssSample(time.monotonic() - started, value))
            server._stop_sampling.wait(RSS_INTERVAL)

    for job in (drain_stdout, sample_rss):
        thread = threading.Thread(target=job, daemon=True)
        thread.start()
        server._threads.append(thread)
    return server


def kill_quietly(server: ServerProcess) -> None:
    """Last-resort cleanup: kill the server's process group if it is still running."""
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
