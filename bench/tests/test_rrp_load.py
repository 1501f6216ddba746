"""The load generator's own checks: every wrong reply is counted, never taken for a good one.

Each test points rrp-load at a deliberately broken loopback server and asserts the counter that
must move (and that ``replies_ok`` does not).
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rrp_bench.listen_args import Endpoint
from rrp_bench.load import C_SOURCE, LoadConfig, LoadResult, LoadRun, Transport, usage_text
from rrp_bench.naive_blocking import payload_size, reply_to
from rrp_spec import HEADER_LAYOUT, HEADER_SIZE, UDP_RECEIVE_BUFFER_SIZE, Result

UDP_K4 = LoadConfig("udp-k4", Transport.UDP, 1, 4)
TCP_2X4 = LoadConfig("tcp-2x4", Transport.TCP, 2, 4)
_FIELD = {field.name: field for field in HEADER_LAYOUT}

#: Turns a correct reply into what the broken server sends; None sends nothing.
Mangle = Callable[[bytes, int], bytes | None]


def _set_field(reply: bytes, name: str, value: int) -> bytes:
    field = _FIELD[name]
    return reply[: field.offset] + value.to_bytes(field.size) + reply[field.offset + field.size :]


def wrong_id(reply: bytes, n: int) -> bytes:
    field = _FIELD["request_id"]
    request_id = int.from_bytes(reply[field.offset : field.offset + field.size])
    return _set_field(reply, "request_id", request_id ^ (1 << 40))


def wrong_payload(reply: bytes, n: int) -> bytes:
    return reply[:-1] + bytes([reply[-1] ^ 0xFF])


def error_result(reply: bytes, n: int) -> bytes:
    return _set_field(_set_field(reply, "result", Result.INTERNAL_ERROR), "size", 0)[:HEADER_SIZE]


def reply_flag_clear(reply: bytes, n: int) -> bytes:
    return _set_field(reply, "flags", 0)


def drop_every_other(reply: bytes, n: int) -> bytes | None:
    return reply if n % 2 else None


def correct(reply: bytes, n: int) -> bytes:
    return reply


@contextmanager
def udp_server(mangle: Mangle) -> Iterator[Endpoint]:
    """A UDP server on loopback that answers through ``mangle``, until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        n = 0
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(UDP_RECEIVE_BUFFER_SIZE)
            except TimeoutError:
                continue
            n += 1
            reply = mangle(reply_to(data[:HEADER_SIZE], data[HEADER_SIZE:]), n)
            if reply is not None:
                sock.sendto(reply, peer)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield Endpoint(*sock.getsockname())
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


@contextmanager
def tcp_server(mangle: Mangle, close_after: int | None = None) -> Iterator[Endpoint]:
    """A TCP server on loopback (one thread per connection) that answers through ``mangle``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def handle(conn: socket.socket) -> None:
        conn.settimeout(0.05)
        buffer = b""
        n = 0
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except ConnectionError:  # the generator resets connections it ends with replies unread
                    return
                if not data:
                    return
                buffer += data
                while len(buffer) >= HEADER_SIZE and len(buffer) >= HEADER_SIZE + payload_size(buffer[:HEADER_SIZE]):
                    end = HEADER_SIZE + payload_size(buffer[:HEADER_SIZE])
                    n += 1
                    if close_after is not None and n > close_after:
                        return
                    reply = mangle(reply_to(buffer[:HEADER_SIZE], buffer[HEADER_SIZE:end]), n)
                    buffer = buffer[end:]
                    if reply is not None:
                        try:
                            conn.sendall(reply)
                        except ConnectionError:
                            return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=handle, args=(conn,))
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept)
    acceptor.start()
    try:
        yield Endpoint(*listener.getsockname())
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for thread in threads:
            thread.join(timeout=5)
        listener.close()


def run(tools: Path, config: LoadConfig, target: Endpoint, duration: float = 0.3, warmup: float = 0.0) -> LoadResult:
    return LoadRun(tools / "rrp-load", duration=duration, warmup=warmup).run(config, target)


def test_correct_udp_server_gives_no_errors(tools: Path) -> None:
    with udp_server(correct) as target:
        result = run(tools, UDP_K4, target)
    assert result.replies_ok > 0
    assert (result.errors, result.lost, result.late) == (0, 0, 0)


def test_correct_tcp_server_gives_no_errors(tools: Path) -> None:
    with tcp_server(correct) as target:
        result = run(tools, TCP_2X4, target)
    assert result.replies_ok > 0
    assert result.errors == 0


@pytest.mark.parametrize(
    ("mangle", "counter"),
    [
        (wrong_id, "bad_id"),
        (wrong_payload, "bad_payload"),
        (error_result, "error_result"),
        (reply_flag_clear, "bad_header"),
    ],
)
def test_wrong_udp_replies_are_errors(tools: Path, mangle: Mangle, counter: str) -> None:
    with udp_server(mangle) as target:
        result = run(tools, UDP_K4, target)
    assert result.replies_ok == 0
    assert getattr(result, counter) > 0
    assert result.errors >= getattr(result, counter)


@pytest.mark.parametrize(("mangle", "counter"), [(wrong_id, "bad_id"), (wrong_payload, "bad_payload")])
def test_wrong_tcp_replies_are_errors(tools: Path, mangle: Mangle, counter: str) -> None:
    with tcp_server(mangle) as target:
        result = run(tools, TCP_2X4, target)
    assert result.replies_ok == 0
    assert getattr(result, counter) > 0


def test_unanswered_udp_requests_are_lost_not_errors(tools: Path) -> None:
    # The generator's loss timeout is 0.2 s; a 0.6 s run sees dropped requests expire and be reissued.
    with udp_server(drop_every_other) as target:
        result = run(tools, UDP_K4, target, duration=0.6)
    assert result.lost > 0
    assert result.replies_ok > 0
    assert result.errors == 0


def test_server_closing_the_connection_is_an_error(tools: Path) -> None:
    with tcp_server(correct, close_after=3) as target:
        result = run(tools, TCP_2X4, target)
    assert result.disconnects == 2
    assert result.errors >= 2


def test_connections_lost_during_the_warm_up_are_still_reported(tools: Path) -> None:
    # A server that drops every connection at once must not look like a clean run with nothing measured.
    with tcp_server(correct, close_after=0) as target:
        result = run(tools, TCP_2X4, target, warmup=0.2)
    assert result.disconnects == 2
    assert result.errors == 2
    assert result.replies_ok == 0


def test_refuses_a_non_loopback_target_without_sending(tools: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1; the generator must refuse before opening any socket.
    completed = subprocess.run(
        [str(tools / "rrp-load"), "--udp", "192.0.2.1:9", "-d", "0.1"], capture_output=True, text=True, timeout=10
    )
    assert completed.returncode == 2
    assert "not a loopback address" in completed.stderr
    assert completed.stdout == ""


@pytest.mark.parametrize(
    "arguments",
    [["--udp", "localhost:7"], ["--tcp", "127.0.0.1:99999"], ["--udp", "127.0.0.1:7", "-k", "0"], ["-d", "1"]],
)
def test_bad_arguments_exit_2_with_a_message(tools: Path, arguments: list[str]) -> None:
    completed = subprocess.run([str(tools / "rrp-load"), *arguments], capture_output=True, text=True, timeout=10)
    assert completed.returncode == 2
    assert completed.stderr.strip()
    assert completed.stdout == ""


def test_usage_read_from_the_source_is_what_the_program_prints(tools: Path) -> None:
    # The site shows usage_text() without building the program: it must be the program's own --help.
    completed = subprocess.run([str(tools / "rrp-load"), "--help"], capture_output=True, text=True, timeout=10)
    assert completed.returncode == 0
    assert completed.stdout == usage_text()
    assert usage_text().startswith("usage: rrp-load ")


def test_the_readme_documents_exactly_the_options_the_program_takes() -> None:
    # bench/README.md's option table is the one written list of flags (the site includes it): no flag of the
    # C source's getopt table may be missing from it, and it may list none the program does not take.
    accepted = set(re.findall(r'\{"([a-z-]+)", (?:required|no)_argument', C_SOURCE.read_text())) - {"help"}
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## rrp-load: load-test your own server", 1)[1].split("\n## ", 1)[0]
    option_rows = [line for line in section.splitlines() if line.startswith("| `-")]
    documented = {name for row in option_rows for name in re.findall(r"--([a-z-]+)", row.split(" | ")[0])}
    assert accepted
    assert documented == accepted
