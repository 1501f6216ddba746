"""Honest clients: ``python -m rrp_robustness.soak.honest``, run in a process of their own.

One UDP client (retransmitting on the spec's default schedule) and one TCP client (a
persistent connection, and every fourth request on a fresh one, which is what a
slowloris attack would starve first) send every operation with payload sizes from 0 to
the maximum, one request at a time, until told to stop. Each exchange becomes one JSON
line: when it started, how long it took, and whether the answer was correct. They are
written with plain blocking sockets and ``rrp_spec`` alone, so the soak measures the
server and not a client library.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from itertools import cycle
from pathlib import Path
from typing import IO

from rrp_spec import (
    COUNTER_SIZE,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TCP_MAX_PAYLOAD,
    DEFAULT_UDP_MAX_PAYLOAD,
    HEADER_SIZE,
    MAX_UDP_DATAGRAM,
    Header,
    Op,
    Result,
    RetryPolicy,
    pack_request,
    reply_problems,
    unpack_header,
)
from rrp_spec.addresses import parse_address

from .results import result_name

#: Payload sizes the ECHO requests cycle through: the edges and a few between.
UDP_ECHO_SIZES = (0, 1, HEADER_SIZE, 512, 1472, 9000, 32768, DEFAULT_UDP_MAX_PAYLOAD)
TCP_ECHO_SIZES = (0, 1, HEADER_SIZE, 1460, 65536, DEFAULT_UDP_MAX_PAYLOAD + 1, 262144, DEFAULT_TCP_MAX_PAYLOAD)
#: Pause between one client's requests, so the honest load stays light next to the attacks.
REQUEST_INTERVAL = 0.05
#: How long the TCP client waits for a connection or a whole reply before counting a failure.
TCP_TIMEOUT = 10.0
#: Every n-th TCP request goes on a fresh connection.
FRESH_CONNECTION_EVERY = 4


@dataclass(frozen=True, slots=True)
class Exchange:
    """One honest request and what came of it."""

    transport: str
    operation: str
    size: int
    #: Seconds since the soak started, when the request was first sent.
    started: float
    #: Seconds until the correct answer, or until the client gave up.
    latency: float
    #: "ok", or what went wrong.
    outcome: str
    attempts: int = 1
    #: TCP: the request went on a connection opened for it (what a slot attack starves first).
    fresh: bool = False


class WrongAnswer(Exception):
    """The server's answer arrived but is not the correct one."""


class BusyAnswer(WrongAnswer):
    """The server answered BUSY: not served, but shedding load on purpose, not a wrong answer (see the verdict)."""


class _Judge:
    """Checks answers: ECHO returns the payload, NOOP nothing, INCREMENT a counter that only grows."""

    def __init__(self) -> None:
        self.last_counter = -1

    def check(self, operation: Op, payload: bytes, reply: bytes) -> None:
        header = unpack_header(reply)
        body = reply[HEADER_SIZE : HEADER_SIZE + header.size]
        if header.result == Result.BUSY:
            raise BusyAnswer("result BUSY")
        if header.result != Result.OK:
            raise WrongAnswer(f"result {result_name(header.result)}")
        if operation is Op.ECHO and body != payload:
            raise WrongAnswer(f"ECHO of {len(payload)} bytes came back as {len(body)} different bytes")
        if operation is Op.NOOP and body:
            raise WrongAnswer("NOOP reply carries a payload")
        if operation is Op.INCREMENT:
            if len(body) != COUNTER_SIZE:
                raise WrongAnswer(f"INCREMENT reply has {len(body)} bytes")
            value = int.from_bytes(body, "big")
            if value <= self.last_counter:
                raise WrongAnswer(f"counter went from {self.last_counter} to {value}")
            self.last_counter = value


def _requests(sizes: tuple[int, ...], rng: random.Random) -> Iterator[tuple[Op, bytes]]:
    size_cycle = cycle(sizes)
    for operation in cycle((Op.ECHO, Op.NOOP, Op.ECHO, Op.INCREMENT)):
        yield operation, (rng.randbytes(next(size_cycle)) if operation is Op.ECHO else b"")


def _new_id() -> int:
    return secrets.randbits(64) or 1


def udp_exchange(
    sock: socket.socket, operation: Op, payload: bytes, policy: RetryPolicy, rng: random.Random
) -> tuple[bytes | None, int]:
    """Send one request with retransmissions; returns the accepted reply (or ``None``) and the attempts made.

    ``sock`` is connected, so the kernel drops datagrams from any other source (UDP-CLI-1);
    anything else that is not the answer is ignored (UDP-CLI-2).
    """
    request_id = _new_id()
    request = pack_request(operation, request_id, payload)
    expected = Header(operation=operation, request_id=request_id)
    for attempt in range(1, policy.max_attempts + 1):
        sock.send(request)
        deadline = time.monotonic() + policy.timeout(attempt, rng.random())
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data = sock.recv(MAX_UDP_DATAGRAM + 1)
            except TimeoutError:
                break
            except ConnectionRefusedError:
                continue
            if not reply_problems(data, request=expected, datagram=True):
                return data, attempt
    return None, policy.max_attempts


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = sock.recv(min(count - len(chunks), 1 << 20))
        if not chunk:
            raise ConnectionError(f"closed after {len(chunks)} of {count} bytes")
        chunks += chunk
    return bytes(chunks)


def tcp_exchange(sock: socket.socket, operation: Op, payload: bytes) -> bytes:
    """One request and its whole reply on a connected TCP socket; raises on any failure."""
    request_id = _new_id()
    sock.sendall(pack_request(operation, request_id, payload))
    head = _recv_exactly(sock, HEADER_SIZE)
    reply = head + _recv_exactly(sock, unpack_header(head).size)
    problems = reply_problems(reply, request=Header(operation=operation, request_id=request_id), datagram=False)
    if problems:
        raise WrongAnswer("; ".join(f"{p.requirement}: {p.detail}" for p in problems))
    return reply


class _Recorder:
    def __init__(self, out: IO[str], t0: float) -> None:
        self._out = out
        self._t0 = t0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self._out.write(json.dumps(asdict(exchange)) + "\n")
            self._out.flush()


def run_udp(address: tuple[str, int], recorder: _Recorder, stop: Callable[[], bool], seed: int) -> None:
    """The UDP client's loop."""
    rng = random.Random(seed)
    judge = _Judge()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.connect(address)
        for operation, payload in _requests(UDP_ECHO_SIZES, rng):
            if stop():
                return
            started = recorder.now()
            begin = time.monotonic()
            reply, attempts = udp_exchange(sock, operation, payload, DEFAULT_RETRY_POLICY, rng)
            latency = time.monotonic() - begin
            outcome = "ok"
            if reply is None:
                outcome = f"no reply after {attempts} attempts"
            else:
                try:
                    judge.check(operation, payload, reply)
                except WrongAnswer as wrong:
                    outcome = f"{type(wrong).__name__}: {wrong}"
            recorder.record(Exchange("udp", operation.name, len(payload), started, latency, outcome, attempts))
            time.sleep(REQUEST_INTERVAL)


def run_tcp(address: tuple[str, int], recorder: _Recorder, stop: Callable[[], bool], seed: int) -> None:
    """The TCP client's loop."""
    rng = random.Random(seed)
    judge = _Judge()
    persistent: socket.socket | None = None
    try:
        for number, (operation, payload) in enumerate(_requests(TCP_ECHO_SIZES, rng)):
            if stop():
                return
            fresh = number % FRESH_CONNECTION_EVERY == 0
            started = recorder.now()
            begin = time.monotonic()
            outcome = "ok"
            sock: socket.socket | None = None
            try:
                if fresh or persistent is None:
                    sock = socket.create_connection(address, timeout=TCP_TIMEOUT, source_address=("127.0.0.1", 0))
                    sock.settimeout(TCP_TIMEOUT)
                    if not fresh:
                        persistent = sock
                else:
                    sock = persistent
                judge.check(operation, payload, tcp_exchange(sock, operation, payload))
            except (OSError, WrongAnswer) as failure:
                outcome = f"{type(failure).__name__}: {failure}"
                if sock is persistent and persistent is not None:
                    persistent.close()
                    persistent = None
            finally:
                if fresh and sock is not None:
                    sock.close()
            latency = time.monotonic() - begin
            recorder.record(Exchange("tcp", operation.name, len(payload), started, latency, outcome, fresh=fresh))
            time.sleep(REQUEST_INTERVAL)
    finally:
        if persistent is not None:
            persistent.close()


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    """Run both clients until SIGTERM or ``--until`` (a ``time.monotonic()`` value, the longest the run may take),
    writing exchanges to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m rrp_robustness.soak.honest")
    parser.add_argument("--udp", required=True, type=_address, help="HOST:PORT")
    parser.add_argument("--tcp", required=True, type=_address, help="HOST:PORT")
    parser.add_argument("--t0", type=float, required=True, help="time.monotonic() of the soak's start")
    parser.add_argument("--until", type=float, required=True, help="time.monotonic() to stop at")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    until: float = args.until
    # The soak's phases last as long as their attacks take, so the parent says when the run is over.
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())

    def stop() -> bool:
        return stopped.is_set() or time.monotonic() >= until

    with args.out.open("w") as out:
        recorder = _Recorder(out, args.t0)
        threads = [
            threading.Thread(target=run_udp, args=(args.udp, recorder, stop, args.seed)),
            threading.Thread(target=run_tcp, args=(args.tcp, recorder, stop, args.seed + 1)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
