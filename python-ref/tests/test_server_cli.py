"""``rrp serve`` as a subprocess: the listening lines, serving, signals, and bad command lines."""

from __future__ import annotations

import fcntl
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rrp_spec import HEADER_SIZE, Op, Result, pack_request, unpack_header

TIMEOUT = 10.0


@contextmanager
def serve(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start ``rrp serve ARGS``, read one listening line per socket asked for, and kill it in the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rrp", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        expected = sum(1 for a in args if a in ("--udp", "--tcp")) or 2
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(expected)]
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _port(line: str) -> int:
    return int(line.rsplit(":", 1)[1])


def _stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    assert process.stderr is not None
    status = process.wait(TIMEOUT)
    return status, process.stderr.read()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_listening_lines_serves_and_exits_zero_on_signal(signum: int) -> None:
    """`rrp serve` on port 0: one flushed line per socket with the real port; a request works; exit 0 with counters."""
    with serve("--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0") as (process, lines):
        assert lines[0].startswith("listening udp 127.0.0.1:") and _port(lines[0]) > 0
        assert lines[1].startswith("listening tcp 127.0.0.1:") and _port(lines[1]) > 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.sendto(pack_request(Op.ECHO, 1, b"cli"), ("127.0.0.1", _port(lines[0])))
            assert sock.recv(100)[HEADER_SIZE:] == b"cli"
        with socket.create_connection(("127.0.0.1", _port(lines[1])), timeout=TIMEOUT) as tcp:
            tcp.sendall(pack_request(Op.NOOP, 2))
            assert unpack_header(tcp.recv(100)).result == Result.OK
        status, stderr = _stop(process, signum)
        assert status == 0
        assert "counters: requests: ECHO=1 NOOP=1" in stderr
        assert "Traceback" not in stderr


def test_serve_formats_ipv6_addresses_in_brackets() -> None:
    """The listening line for an IPv6 socket is `[::1]:PORT`."""
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
    except OSError:
        pytest.skip("no IPv6 on this machine")
    with serve("--tcp", "[::1]:0") as (process, lines):
        if not lines[0]:
            pytest.skip("cannot bind ::1 on this machine")
        assert lines[0].startswith("listening tcp [::1]:")
        assert _stop(process, signal.SIGTERM)[0] == 0


def test_drop_rate_one_drops_every_udp_request() -> None:
    """--drop-rate 1 --seed 1: nothing comes back over UDP (and TCP is unaffected)."""
    with serve("--udp", "127.0.0.1:0", "--drop-rate", "1", "--seed", "1") as (process, lines):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.3)
            sock.sendto(pack_request(Op.NOOP, 1), ("127.0.0.1", _port(lines[0])))
            with pytest.raises(TimeoutError):
                sock.recv(100)
        status, stderr = _stop(process, signal.SIGTERM)
        assert status == 0 and "deliberate=1" in stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--udp", "nonsense"], "is not HOST:PORT"),
        (["--tcp", "127.0.0.1:99999"], "is not between 0 and 65535"),
        (["--request-deadline", "30"], "--request-deadline must be"),
        (["--dedup-window", "1"], "--dedup-window must be at least"),
        (["--drop-rate", "2"], "--drop-rate must be between 0 and 1, not 2"),
        (["--max-connections", "x"], "is not a whole number"),
        (["--udp", "203.0.113.1:0"], "cannot bind udp 203.0.113.1:0"),
    ],
)
def test_bad_command_lines_get_one_sentence_and_exit_2(args: list[str], fragment: str) -> None:
    """Bad flags and addresses: one clear sentence on stderr, exit status 2, never a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "rrp", "serve", *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux F_SETPIPE_SZ to shrink the stderr pipe")
def test_a_stalled_stderr_reader_costs_log_lines_never_service() -> None:
    """SRV-17: stderr is a pipe nobody reads; rejected traffic fills it; UDP and TCP are still served."""
    with serve("--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--verbose") as (process, lines):
        assert process.stderr is not None
        fcntl.fcntl(process.stderr.fileno(), fcntl.F_SETPIPE_SZ, 4096)  # a page: full after a few dozen lines
        udp, tcp = ("127.0.0.1", _port(lines[0])), ("127.0.0.1", _port(lines[1]))
        malformed = bytearray(pack_request(Op.NOOP, 1))
        malformed[3] = 0x40  # a reserved flag bit: answered MALFORMED, and logged
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flood:
            for n in range(3000):  # about 300 KB of log lines at --verbose's 1000 lines/s: 75 pipes' worth
                flood.sendto(bytes(malformed), udp)
                if n % 100 == 99:
                    time.sleep(0.1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.sendto(pack_request(Op.NOOP, 2), udp)
            assert unpack_header(sock.recv(100)).result == Result.OK
        with socket.create_connection(tcp, timeout=TIMEOUT) as conn:
            conn.sendall(pack_request(Op.NOOP, 3))
            assert unpack_header(conn.recv(100)).result == Result.OK
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=TIMEOUT)  # reading stderr again lets the server finish its log
    assert process.returncode == 0
    assert "rejected input from udp 127.0.0.1" in stderr
    assert "log output blocked: dropped" in stderr and "counters: log: dropped=" in stderr
