"""``rrp-conformance reference``: start the reference server (``rrp serve``), grade it, stop it.

This is what ``make conformance`` runs with no variables. The reference is started
as a subprocess on ephemeral ports with small settings (so the run is short), its
``listening udp HOST:PORT`` / ``listening tcp HOST:PORT`` lines are read from its
stdout, and the suite is run with claims matching the settings it was given. The
suite never imports the reference: it only runs its command.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..suite import DEFAULT_REPORT_DIR, UsageError, add_common_arguments, options_from_args
from .env import DEFAULT_ALT_ADDRESS, Address, ServerClaims, ServerEnv, parse_listening_address
from .suite import grade_server

#: Seconds to wait for the reference to print its listening lines.
STARTUP_TIMEOUT = 10.0
_LISTENING = re.compile(r"^listening (udp|tcp) (\S+)\s*$")


@dataclass(frozen=True, slots=True)
class ReferenceSettings:
    """The settings the reference is started with, and so what the suite is told it claims."""

    request_deadline: float = 1.0
    idle_timeout: float = 2.0
    send_timeout: float = 2.0
    max_connections: int = 128  # room for the slowloris check's 100 stalled connections plus the fresh client
    max_connections_per_source: int = 16

    def serve_arguments(self) -> list[str]:
        """``rrp serve`` flags for these settings."""
        return [
            "--udp", "0.0.0.0:0",
            "--tcp", "127.0.0.1:0",
            "--request-deadline", f"{self.request_deadline:g}",
            "--idle-timeout", f"{self.idle_timeout:g}",
            "--send-timeout", f"{self.send_timeout:g}",
            "--max-connections", str(self.max_connections),
            "--max-connections-per-source", str(self.max_connections_per_source),
        ]  # fmt: skip

    def claims(self) -> ServerClaims:
        """The matching claims."""
        return ServerClaims(
            request_deadline=self.request_deadline,
            idle_timeout=self.idle_timeout,
            send_timeout=self.send_timeout,
            max_connections=self.max_connections,
            max_connections_per_source=self.max_connections_per_source,
        )


def _rrp_command() -> str:
    """The ``rrp`` executable: next to this Python first (the project's virtualenv), then on PATH."""
    beside = Path(sys.executable).with_name("rrp")
    if beside.exists():
        return str(beside)
    found = shutil.which("rrp")
    if found is None:
        raise UsageError("the reference server's command 'rrp' is not installed (run 'make venv')")
    return found


def _read_listening(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Address]:
    """Read stdout until both listening lines arrived; ``UsageError`` if the reference dies or stays silent."""
    assert process.stdout is not None
    found: dict[str, Address] = {}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while len(found) < 2:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise UsageError(f"the reference server printed no listening lines within {timeout:g} s")
            line = process.stdout.readline().decode(errors="replace")
            if not line:
                raise UsageError(f"the reference server exited with status {process.wait()} before listening")
            match = _LISTENING.match(line)
            if match:
                found[match.group(1)] = parse_listening_address(match.group(2))
    return found


def _loopback(address: Address) -> Address:
    """A wildcard listening address as the loopback address to send to."""
    host, port = address
    return ("127.0.0.1", port) if host == "0.0.0.0" else (("::1", port) if host == "::" else address)


def add_parser(subparsers: Any) -> None:
    """Register ``reference``."""
    parser = subparsers.add_parser(
        "reference",
        help="start the reference server (rrp serve), grade it and stop it",
        description="Start `rrp serve` on ephemeral loopback ports with small settings, grade it, stop it.",
    )
    add_common_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Start, grade and stop the reference server."""
    settings = ReferenceSettings()
    command = [_rrp_command(), "serve", *settings.serve_arguments()]
    report_dir = args.report_dir or DEFAULT_REPORT_DIR
    report_dir.mkdir(parents=True, exist_ok=True)
    log_path = report_dir / "reference-server.log"
    print("starting:", " ".join(command), f"(its log: {log_path})", flush=True)
    # Unbuffered: a Python program writing to a pipe would otherwise hold its listening lines back.
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            # bufsize=0: select() on the pipe and readline() must agree on what has arrived.
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            bufsize=0,
            start_new_session=True,
            env=environment,
        )
    try:
        listening = _read_listening(process, STARTUP_TIMEOUT)
        env = ServerEnv(
            _loopback(listening["udp"]), _loopback(listening["tcp"]), settings.claims(), DEFAULT_ALT_ADDRESS
        )
        report = grade_server(env, options_from_args(args))
        if process.poll() is not None:
            print(f"the reference server exited during the run with status {process.returncode}", file=sys.stderr)
        return int(report.exit_code)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
