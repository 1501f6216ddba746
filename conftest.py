"""Test settings shared by every package's tests: the ``needs_ipv6_loopback`` marker, and starting a server process.

A test marked ``@pytest.mark.needs_ipv6_loopback`` is skipped, with that reason, on a
machine where no socket can bind ``::1`` (containers often have IPv6 switched off).
"""

from __future__ import annotations

import fcntl
import functools
import os
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


#: Test modules that take longest (most of it waiting on sockets and processes), run first so that under
#: ``pytest -n 2 --dist loadfile`` (make test) neither worker is left with one of them at the end.
_SLOW_FIRST = (
    "conformance/tests/test_client_suite.py",
    "conformance/tests/test_server_suite_proof.py",
    "conformance/tests/test_hostile_targets.py",
    "wireshark/tests/test_conformance_capture.py",
    "conformance/tests/test_server_cli.py",
    "conformance/tests/test_secure_client_proof.py",
    "docs/tests/test_guide_examples.py",
    "bench/tests/test_end_to_end.py",
    "release/tests/test_dist.py",
    "conformance/tests/test_secure_suite_proof.py",
    "robustness/tests/test_soak.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the slowest modules first (a stable sort: every other test keeps its place)."""
    rank = {module: number for number, module in enumerate(_SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(config.rootpath).as_posix(), len(rank)))


@pytest.fixture(scope="session")
def run_lock(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], AbstractContextManager[Path]]:
    """``with run_lock(NAME) as shared:``: one xdist worker at a time; ``shared`` is a folder every worker sees.

    For what a session must make once however many workers run it (a built site, C tools built into build/).
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's folder, above the workers'

    @contextmanager
    def lock(name: str) -> Iterator[Path]:
        with (shared / f"{name}.lock").open("w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            yield shared

    return lock


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
