"""Hold stalled TCP connections open against a server: the slowloris of RRP.

Each connection sends the first half of a request header and then nothing, so the server holds it while it
waits for the rest; when the server closes one (its request deadline, a connection limit), it is opened
again, so the count stays near ``--count`` for as long as the attack runs. Connections come from several
loopback source addresses, each in a /24 of its own (127.0.2.2, 127.0.3.2, ...), ``--per-source`` from each,
so that neither a per-source nor a per-network limit simply refuses them all, and none shares the honest
client's 127.0.0.0/24; ``--per-source`` at or above ``--count`` puts them all on one source.

Runs as its own process (the runner pins it beside the load generator): it prints ``stalled N`` once the
connections are open, keeps them so until standard input closes or it is terminated, and stops by itself
after ``--max-seconds`` in any case. Loopback targets only.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import selectors
import signal
import socket
import sys
import time

from rrp_spec import HEADER_SIZE, Op, pack_request

from .listen_args import Endpoint, parse_endpoint

#: The first half of a valid header: enough to start a request, never enough to finish it.
STALL_BYTES = pack_request(Op.ECHO, 1)[: HEADER_SIZE // 2]
#: How often closed connections are reopened.
REOPEN_INTERVAL = 0.2
#: Most connections one attacker process holds (each is a file descriptor).
MAX_ATTACK_COUNT = 20000
#: Source addresses available, one per /24, from 127.0.2.2 up to 127.0.251.2.
MAX_SOURCES = 250
#: First source address: outside the honest client's 127.0.0.0/24, which a server rightly limits as one network
#: (TCP-SRV-12); each further source is in a /24 of its own, so that the attack is a distributed slowloris.
FIRST_SOURCE = ipaddress.IPv4Address("127.0.2.2")


def source_for(index: int, per_source: int) -> str:
    """The source address of connection ``index`` when each source opens ``per_source`` connections."""
    return str(FIRST_SOURCE + 256 * (index // per_source))


class StalledConnections:
    """``count`` half-sent requests kept open against ``target``."""

    def __init__(self, target: Endpoint, count: int, per_source: int) -> None:
        self.target = target
        self.count = count
        self.per_source = per_source
        self.selector = selectors.DefaultSelector()
        self.sockets: dict[int, socket.socket] = {}
        #: Connections the server closed (and that were opened again).
        self.closed_by_server = 0
        #: Connect attempts that failed (refused, reset, timed out).
        self.failed_connects = 0

    def open_missing(self, budget: float = 2.0) -> None:
        """Open every connection slot that is not open, spending at most about ``budget`` seconds."""
        give_up = time.monotonic() + budget
        for index in range(self.count):
            if index in self.sockets:
                continue
            if time.monotonic() > give_up:
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.settimeout(1.0)
                sock.bind((source_for(index, self.per_source), 0))
                sock.connect((self.target.host, self.target.port))
                sock.sendall(STALL_BYTES)
                sock.setblocking(False)
            except OSError:
                sock.close()
                self.failed_connects += 1
                continue
            self.sockets[index] = sock
            self.selector.register(sock, selectors.EVENT_READ, index)

    def reap(self, timeout: float) -> None:
        """Wait up to ``timeout`` for server activity; forget connections the server closed."""
        for key, _ in self.selector.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:  # closed or reset: open it again later
                self.selector.unregister(sock)
                sock.close()
                del self.sockets[key.data]
                self.closed_by_server += 1

    def close(self) -> None:
        """Close every connection."""
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
        self.selector.close()


def _stdin_closed() -> bool:
    try:
        return os.read(sys.stdin.fileno(), 1) == b""
    except BlockingIOError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Run the attack until standard input closes, SIGTERM, or ``--max-seconds``."""
    parser = argparse.ArgumentParser(prog="rrp_bench.attack", description=__doc__.splitlines()[0])
    parser.add_argument("target", metavar="HOST:PORT", help="a TCP server on loopback")
    parser.add_argument("--count", type=int, default=1000, help="stalled connections to hold (default 1000)")
    parser.add_argument("--per-source", type=int, default=32, help="connections per source address (default 32)")
    parser.add_argument(
        "--no-reopen", action="store_true", help="do not reopen connections the server closes (default: reopen)"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop after this long (default 300)")
    args = parser.parse_args(argv)
    try:
        target = parse_endpoint(args.target)
    except ValueError as error:
        parser.error(str(error))
    if ":" in target.host:
        parser.error("the attacker uses IPv4 loopback sources only")
    if not 1 <= args.count <= MAX_ATTACK_COUNT or args.per_source < 1:
        parser.error(f"--count must be from 1 to {MAX_ATTACK_COUNT} and --per-source at least 1")
    if (args.count - 1) // args.per_source >= MAX_SOURCES:
        parser.error("that many sources would leave 127.0.0.0/24; raise --per-source")

    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    os.set_blocking(sys.stdin.fileno(), False)
    attack = StalledConnections(target, args.count, args.per_source)
    deadline = time.monotonic() + args.max_seconds
    try:
        attack.open_missing()
        print(f"stalled {len(attack.sockets)}", flush=True)
        while not stop and time.monotonic() < deadline and not _stdin_closed():
            attack.reap(REOPEN_INTERVAL)
            if not args.no_reopen:
                attack.open_missing(budget=REOPEN_INTERVAL)
        print(
            f"done open={len(attack.sockets)} closed_by_server={attack.closed_by_server} "
            f"failed_connects={attack.failed_connects}",
            flush=True,
        )
    finally:
        attack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
