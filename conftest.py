"""Test settings shared by every package's tests: the ``needs_ipv6_loopback`` marker, and starting a server process.

A test marked ``@pytest.mark.needs_ipv6_loopback`` is skipped, with that reason, on a
machine where no socket can bind ``::1`` (containers often have IPv6 switched off).
"""

from __future__ import annotations

import functools
import selectors
import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Literal

import pytest


@functools.cache
def ipv6_loopback() -> bool:
    """Whether a UDP socket can bind ``::1`` here."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_ipv6_loopback: skip where ::1 cannot be bound")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_ipv6_loopback") and not ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this machine")


#: Where a started process listens: ``{"udp": ("127.0.0.1", 40001), "tcp": ...}``, keyed by the kind it prints.
Listening = dict[str, tuple[str, int]]
#: :func:`listening_process`, as the ``listening_process`` fixture hands it out.
StartListening = Callable[..., AbstractContextManager[Listening]]
#: Seconds a started process may take to exit once told to (its stdin closed, or SIGTERM); then it is killed.
_STOP_TIMEOUT = 5.0


@contextmanager
def listening_process(
    command: Sequence[str],
    kinds: int = 2,
    *,
    stop: Literal["stdin", "terminate", "kill"] = "stdin",
    start_timeout: float = 20.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Listening]:
    """Start ``command``; read its ``listening KIND HOST:PORT`` lines; yield them; stop the process.

    Every toy, hostile target, example server and installed ``rrp serve`` the tests start speaks this way.
    ``stop`` says how it is told to end (closing its stdin, SIGTERM, or SIGKILL at once); a process still
    running 5 s after it was told is killed.
    """
    stdin = subprocess.PIPE if stop == "stdin" else subprocess.DEVNULL
    # Unbuffered, so that select() on the pipe and readline() agree on what has arrived.
    process = subprocess.Popen(list(command), stdin=stdin, stdout=subprocess.PIPE, bufsize=0, cwd=cwd, env=env)
    name = Path(command[1] if len(command) > 1 and command[1].endswith(".py") else command[0]).name
    try:
        assert process.stdout is not None
        found: Listening = {}
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while len(found) < kinds:
                assert selector.select(start_timeout), f"{name} printed no listening line in {start_timeout:.0f} s"
                line = process.stdout.readline().decode()
                assert line, f"{name} exited before it listened (status {process.wait()})"
                _, kind, where = line.split()
                host, port = where.rsplit(":", 1)
                found[kind] = (host, int(port))
        yield found
    finally:
        if process.stdin is not None:
            process.stdin.close()
        if stop == "terminate":
            process.terminate()
        elif stop == "kill":
            process.kill()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="session")
def start_listening() -> StartListening:
    """:func:`listening_process`, for tests in any package (they cannot import conftest.py)."""
    return listening_process
