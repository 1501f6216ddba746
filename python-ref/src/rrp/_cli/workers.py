"""``rrp serve --workers N``: N server processes sharing every listening port through SO_REUSEPORT.

The supervisor (this module, in the process the user started) serves nothing itself:

1. For each address whose port is 0 it reserves a free port by binding a placeholder
   socket with SO_REUSEPORT, so that every worker binds the same port.
2. It starts N ``rrp serve --reuse-port`` processes with the same settings and
   addresses, each in a session of its own (a terminal's Ctrl-C reaches only the
   supervisor, which then stops the workers once, in order), and waits for every
   worker's ``listening`` lines. Each worker's standard input is a pipe from the
   supervisor: when it closes (the supervisor died, even of SIGKILL) the worker
   stops as on SIGTERM, so no worker outlives it.
3. It closes the placeholders (before any client can know the port, so no
   datagram is ever hashed to them) and prints the ``listening`` lines once.
4. On SIGTERM or SIGINT it sends SIGTERM to every worker, which finishes its
   requests in flight within ``--grace``; a worker still running after that
   (plus a margin) is killed. If a worker exits on its own, the supervisor stops
   the others and exits with :attr:`ExitCode.WORKER_FAILED`; it never restarts
   one, because a change in the group's membership moves flows between workers
   (see below).

Why each worker's duplicate-reply cache still sees a client's retransmissions:
the kernel picks a group member by hashing the datagram's source and destination
addresses and ports, so every datagram of one UDP flow (a client socket talking
to one server address) reaches the same worker for as long as the group is
unchanged. When a worker joins or leaves, the hash is taken over a different
number of members and most flows move: a retransmission of a request answered
just before the change may reach a worker that never saw it and be carried out
again (a second INCREMENT). TCP is unaffected: an accepted connection belongs to
the worker that accepted it.

Every limit in the settings applies to each worker on its own: N workers accept
N x ``--max-connections`` connections in all, a source's connections (spread by
the hash) up to N x ``--max-connections-per-source``, N x the rate limit per
client prefix, and N times the memory bound.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from rrp_spec.addresses import format_address

from .exit_status import ExitCode

#: How long workers get to bind and print their listening lines.
STARTUP_TIMEOUT = 30.0
#: Seconds a worker gets beyond its grace period before it is killed.
STOP_MARGIN = 5.0
#: How often the supervisor looks for a worker that exited.
_POLL = 0.1

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Listen:
    """Where the workers listen: ``(flag, host, port)`` for each ``--udp``, ``--tcp``, ``--tls`` address."""

    #: ``--udp``, ``--tcp`` or ``--tls``.
    flag: str
    host: str
    port: int


def supervise(count: int, listens: list[Listen], worker_arguments: list[str], grace: float) -> int:
    """Run ``count`` workers until SIGTERM or SIGINT; returns the exit status (see the module docstring)."""
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    placeholders: list[socket.socket] = []
    workers: list[subprocess.Popen[bytes]] = []
    try:
        try:
            resolved = [_reserve(listen, placeholders) for listen in listens]
        except OSError as error:
            print(f"rrp serve: cannot reserve a port for the workers: {error.strerror or error}", file=sys.stderr)
            return ExitCode.USAGE
        addresses = [item for listen in resolved for item in (listen.flag, format_address((listen.host, listen.port)))]
        command = [
            sys.executable, "-m", "rrp", "serve", *addresses, *worker_arguments, "--reuse-port", "--stop-on-stdin-eof"
        ]  # fmt: skip
        for number in range(1, count + 1):
            workers.append(_start(command))
            print(f"worker {number} of {count}: pid {workers[-1].pid}", file=sys.stderr, flush=True)
        lines = [_listening_lines(worker, len(listens)) for worker in workers]
        if any(worker_lines is None for worker_lines in lines):
            print("rrp serve: a worker failed to start; stopping the others", file=sys.stderr)
            return _stop(workers, grace) or ExitCode.USAGE
        for sock in placeholders:
            sock.close()
        placeholders.clear()
        for line in lines[0] or []:
            print(line, flush=True)
        failed = _wait(workers, stop)
        status = _stop(workers, grace)
        if failed is not None:
            print(f"rrp serve: worker pid {failed.pid} exited with status {failed.returncode}; stopped the others",
                  file=sys.stderr)  # fmt: skip
            return ExitCode.WORKER_FAILED
        return status
    finally:
        for sock in placeholders:
            sock.close()
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            for stream in (worker.stdin, worker.stdout):
                if stream is not None:
                    stream.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _reserve(listen: Listen, placeholders: list[socket.socket]) -> Listen:
    """``listen`` with a concrete port: port 0 becomes a free port held by a SO_REUSEPORT placeholder."""
    if listen.port != 0:
        return listen
    kind = socket.SOCK_DGRAM if listen.flag == "--udp" else socket.SOCK_STREAM
    family, _, _, _, address = socket.getaddrinfo(listen.host, 0, socket.AF_UNSPEC, kind, 0, socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind)
    placeholders.append(sock)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if kind == socket.SOCK_STREAM:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)  # a TCP placeholder never listens, so it never takes a connection
    return Listen(listen.flag, listen.host, int(sock.getsockname()[1]))


def _start(command: list[str]) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A session of its own: a terminal's SIGINT goes to the supervisor only, which stops each worker once.
    # stdin is a pipe nobody writes to: the worker stops when it closes, that is when the supervisor is gone,
    # however it went (even SIGKILL), so no worker outlives it holding the ports.
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, start_new_session=True, env=environment
    )


def _listening_lines(worker: subprocess.Popen[bytes], count: int) -> list[str] | None:
    """The worker's ``count`` listening lines, or ``None`` if it exits or stays silent too long."""
    assert worker.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT
    timer = threading.Timer(STARTUP_TIMEOUT, worker.kill)  # readline() below cannot time out by itself
    timer.start()
    try:
        while len(lines) < count and time.monotonic() < deadline:
            line = worker.stdout.readline().decode(errors="replace").rstrip("\n")
            if not line:
                return None
            if line.startswith("listening "):
                lines.append(line)
    finally:
        timer.cancel()
    return lines if len(lines) == count else None


def _wait(workers: list[subprocess.Popen[bytes]], stop: threading.Event) -> subprocess.Popen[bytes] | None:
    """Wait for a stop signal (``None``) or a worker that exited on its own (returned)."""
    while not stop.wait(_POLL):
        for worker in workers:
            if worker.poll() is not None:
                return worker
    return None


def _stop(workers: list[subprocess.Popen[bytes]], grace: float) -> int:
    """SIGTERM every running worker, wait out ``grace`` plus a margin, kill the rest; 0 if all stopped cleanly."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + STOP_MARGIN
    status = 0
    for worker in workers:
        try:
            code = worker.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            code = worker.wait()
        status = status or (0 if code == 0 else ExitCode.WORKER_FAILED)
    return status
