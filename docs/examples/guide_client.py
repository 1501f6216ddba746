"""The implementer's guide's client, runnable: the UDP and TCP exchanges the guide shows, one call per run.

The guide (``docs/pages/implementers-guide.md``) shows the parts of this file between ``# [guide:NAME]`` and
``# [/guide:NAME]`` lines, and ``docs/tests/test_guide_examples.py`` grades this client with
``rrp-conformance client`` and expects no failure. It follows the suite's adapter contract::

    guide_client.py URL OP PAYLOAD_HEX TIMEOUT [ATTEMPTS INITIAL_TIMEOUT MAX_TIMEOUT]

prints an OK reply's payload as hex and exits 0; exits 1 on an error result and 3 when no reply came in time,
the connection closed mid-reply or the reply did not answer the request.
"""

from __future__ import annotations

import random
import secrets
import socket
import sys
import time
from urllib.parse import urlsplit

from rrp_spec import (
    DEFAULT_RETRY_POLICY,
    DEFAULT_TCP_MAX_PAYLOAD,
    HEADER_SIZE,
    Header,
    Result,
    RetryPolicy,
    is_unsolicited_busy,
    pack_header,
    reply_problems,
    unpack_header,
)

#: Larger than any datagram, so that a reply is never cut to fit.
RECEIVE_BUFFER = 1 << 16


class CallFailed(Exception):
    """No acceptable reply: the message says why."""


def new_request_id() -> int:
    """64 bits from the operating system's CSPRNG, never 0 (CLI-1)."""
    while True:
        request_id = secrets.randbits(64)
        if request_id:
            return request_id


# [guide:udp-client]
def call_udp(server: tuple[str, int], operation: int, payload: bytes, policy: RetryPolicy) -> tuple[Header, bytes]:
    """One request over UDP, retransmitted on the jittered exponential schedule until a reply is accepted."""
    request = Header(operation=operation, request_id=new_request_id(), size=len(payload))
    data = pack_header(request) + payload
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect(server)  # the kernel now drops datagrams from anyone but the server (UDP-CLI-1)
        started = time.monotonic()
        for attempt in range(1, policy.max_attempts + 1):
            sock.send(data)  # the same bytes, the same request_id, every time (UDP-CLI-3)
            # T_n = min(T_1 * 2^(n-1), cap), times a jitter in [1, 1.5), counted from this send (UDP-CLI-4).
            base = policy.base_timeout(attempt)
            wait_until = time.monotonic() + base * random.uniform(1, policy.jitter_max)
            while (left := wait_until - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    datagram = sock.recv(RECEIVE_BUFFER)
                except TimeoutError:
                    break
                except ConnectionRefusedError:
                    continue  # an ICMP error is not an answer: keep waiting (UDP-CLI-2)
                if not reply_problems(datagram, request=request, datagram=True):  # REPLY, ID, operation, size
                    return unpack_header(datagram), datagram[HEADER_SIZE:]  # CLI-3
                # Anything else (a stray, a forgery, a duplicate): ignore it and keep waiting (UDP-CLI-2).
    elapsed = time.monotonic() - started
    raise CallFailed(f"no reply after {policy.max_attempts} attempts over {elapsed:.2f} s")  # UDP-CLI-6


# [/guide:udp-client]


# [guide:tcp-client]
def call_tcp(server: tuple[str, int], operation: int, payload: bytes, timeout: float) -> tuple[Header, bytes]:
    """One request over a fresh TCP connection: connect, send, and read the reply within ``timeout``."""
    request = Header(operation=operation, request_id=new_request_id(), size=len(payload))
    deadline = time.monotonic() + timeout
    with socket.create_connection(server, timeout=timeout) as conn:  # a bounded connect (TCP-CLI-2)
        conn.sendall(pack_header(request) + payload)
        head = read_exactly(conn, HEADER_SIZE, deadline)  # short reads are normal (TCP-CLI-1)
        if is_unsolicited_busy(head):
            return unpack_header(head), b""  # the server is full and says so (TCP-CLI-5)
        problems = [p for p in reply_problems(head, request=request, datagram=False) if p.requirement != "MSG-4"]
        if problems:  # not the answer to this request: abandon the connection (TCP-CLI-3)
            raise CallFailed(f"unacceptable reply: {problems[0].detail} ({problems[0].requirement})")
        reply = unpack_header(head)
        if reply.size > DEFAULT_TCP_MAX_PAYLOAD:  # never buffer what a hostile server announces
            raise CallFailed(f"reply of {reply.size} bytes is more than this client accepts")
        return reply, read_exactly(conn, reply.size, deadline)


def read_exactly(conn: socket.socket, n: int, deadline: float) -> bytes:
    """``n`` bytes, each ``recv`` given only the time left until ``deadline`` (a deadline, not a per-read timeout)."""
    data = bytearray()
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CallFailed(f"no whole reply within the deadline ({len(data)} of {n} bytes)")  # TCP-CLI-2
        conn.settimeout(left)
        try:
            chunk = conn.recv(n - len(data))
        except TimeoutError:
            continue
        if not chunk:
            raise CallFailed(f"connection closed mid-reply ({len(data)} of {n} bytes)")  # TCP-CLI-4
        data += chunk
    return bytes(data)


# [/guide:tcp-client]


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 7):
        print(__doc__, file=sys.stderr)
        return 2
    url = urlsplit(argv[0])
    server = (url.hostname or "", url.port or 0)
    operation, payload, timeout = int(argv[1]), bytes.fromhex(argv[2]), float(argv[3])
    policy = DEFAULT_RETRY_POLICY
    if len(argv) == 7:
        policy = RetryPolicy(initial_timeout=float(argv[5]), max_timeout=float(argv[6]), max_attempts=int(argv[4]))
    try:
        if url.scheme == "udp":
            reply, body = call_udp(server, operation, payload, policy)
        else:
            reply, body = call_tcp(server, operation, payload, timeout)
    except (CallFailed, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    if reply.result != Result.OK:
        print(f"error: the server answered {Result(reply.result).name}", file=sys.stderr)
        return 1
    print(body.hex())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
