"""``rrp serve --workers N``: N processes on one set of ports (SO_REUSEPORT), stopped together."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rrp._cli.exit_status import ExitCode
from rrp_spec import HEADER_SIZE, Op, Result, pack_request, unpack_header

TIMEOUT = 20.0
LOOPBACK = "127.0.0.1"
#: Client sockets (UDP flows); with two workers, the chance that the kernel puts all on one is 2 x 2^-32.
FLOWS = 32
RETRANSMISSIONS = 3


@contextmanager
def workers(count: int, *args: str) -> Iterator[tuple[subprocess.Popen[str], list[int], dict[str, int]]]:
    """``rrp serve --workers COUNT`` on ephemeral loopback ports: the process, the worker pids, the ports."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rrp", "serve", "--workers", str(count), "--udp", f"{LOOPBACK}:0",
         "--tcp", f"{LOOPBACK}:0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        pids = [int(re.fullmatch(r"worker \d+ of \d+: pid (\d+)\n", process.stderr.readline())[1])  # type: ignore[index]
                for _ in range(count)]  # fmt: skip
        ports = {}
        for _ in range(2):
            kind, address = process.stdout.readline().split()[1:]
            ports[kind] = int(address.rsplit(":", 1)[1])
        yield process, pids, ports
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(signum)
    assert process.stderr is not None
    status = process.wait(TIMEOUT)
    return status, process.stderr.read()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_retransmissions_reach_the_worker_whose_cache_answered_them() -> None:
    """UDP-SRV-7 across workers: each flow's retransmissions get the very reply its first transmission got.

    INCREMENT is not idempotent, so a retransmission hashed to another worker would be carried out again there
    and show up as a request instead of a dedup hit. Both workers must have served flows, or the test proves
    nothing.
    """
    with workers(2) as (process, _pids, ports):
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(FLOWS)]
        try:
            for number, sock in enumerate(sockets, start=1):
                sock.settimeout(TIMEOUT)
                request = pack_request(Op.INCREMENT, number)
                sock.sendto(request, (LOOPBACK, ports["udp"]))
                first = sock.recv(1024)
                for _ in range(RETRANSMISSIONS):
                    sock.sendto(request, (LOOPBACK, ports["udp"]))
                    assert sock.recv(1024) == first
        finally:
            for sock in sockets:
                sock.close()
        with socket.create_connection((LOOPBACK, ports["tcp"]), timeout=TIMEOUT) as tcp:
            tcp.sendall(pack_request(Op.ECHO, 1, b"tcp"))
            reply = tcp.recv(1024)
            assert unpack_header(reply).result == Result.OK and reply[HEADER_SIZE:] == b"tcp"
        status, stderr = _stop(process)
    assert status == 0, stderr
    increments = [int(n) for n in re.findall(r"counters: requests: .*?INCREMENT=(\d+)", stderr)]
    hits = [int(n) for n in re.findall(r"dedup_hits=(\d+)", stderr)]
    assert len(increments) == 2 and min(increments) > 0, "both workers must have served flows"
    assert sum(increments) == FLOWS
    assert sum(hits) == FLOWS * RETRANSMISSIONS


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_supervisor_stops_every_worker(signum: int) -> None:
    """Graceful shutdown: one signal, every worker finishes and prints its counters, exit 0, no worker left."""
    with workers(2, "--grace", "1") as (process, pids, _ports):
        status, stderr = _stop(process, signum)
    assert status == 0, stderr
    assert stderr.count("counters: requests:") == 2
    assert all(_gone(pid) for pid in pids)
    assert "Traceback" not in stderr


def test_a_worker_that_dies_stops_the_others() -> None:
    """A worker killed from outside: the supervisor stops the rest and exits WORKER_FAILED, restarting none."""
    with workers(2, "--grace", "1") as (process, pids, _ports):
        os.kill(pids[0], signal.SIGKILL)
        status = process.wait(TIMEOUT)
        assert process.stderr is not None
        stderr = process.stderr.read()
    assert status == ExitCode.WORKER_FAILED
    assert f"worker pid {pids[0]} exited with status -9; stopped the others" in stderr
    assert _gone(pids[1])


def test_no_worker_outlives_a_killed_supervisor() -> None:
    """SIGKILL leaves the supervisor no chance to stop anyone: the workers see their stdin close and stop."""
    with workers(2, "--grace", "1") as (process, pids, _ports):
        process.kill()
        process.wait(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while not all(_gone(pid) or _zombie(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_gone(pid) or _zombie(pid) for pid in pids)


def _zombie(pid: int) -> bool:
    """Exited but not yet reaped (its parent, the supervisor, is dead; init reaps it soon)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_workers_refuse_a_shared_rrp1s_nonce_sequence(tmp_path: Path) -> None:
    """--workers with --secure-udp: one sentence, exit 2 (each worker would draw the same reply sequence)."""
    keys = tmp_path / "keys"
    keys.write_text("1 " + "00" * 32 + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "rrp", "serve", "--workers", "2", "--secure-udp", f"{LOOPBACK}:0",
         "--key-file", str(keys)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.strip() == (
        "rrp serve: --workers cannot serve --secure-udp (the workers would share one nonce sequence)"
    )


def test_a_worker_count_below_one_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rrp", "serve", "--workers", "0"], capture_output=True, text=True, timeout=TIMEOUT,
        check=False,
    )  # fmt: skip
    assert result.returncode == ExitCode.USAGE
    assert "argument --workers: must be at least 1, not 0" in result.stderr
