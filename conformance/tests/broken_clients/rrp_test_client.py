"""A small, correct RRP/1 client for the conformance tests, with switches that break it in one way each.

Independent of the reference implementation (it uses only ``rrp_spec``), run by
the client suite through the same command template as any client:

    rrp_test_client.py URL OP PAYLOAD_HEX --timeout S --attempts N --initial-timeout S --max-timeout S [--flaw F]

It follows the adapter contract: the reply payload as hex on stdout and exit 0 on
OK; exit 1 on an error result, 3 when it gave up waiting, 4 when the connection
failed or the reply was unacceptable. Each ``--flaw`` is one classic client
mistake; the tests assert that the suite flags it on exactly the right requirements.
"""

from __future__ import annotations

import argparse
import fcntl
import random
import secrets
import select
import socket
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rrp_spec import (
    HEADER_SIZE,
    UDP_RECEIVE_BUFFER_SIZE,
    Header,
    Result,
    RetryPolicy,
    is_unsolicited_busy,
    pack_request,
    reply_problems,
    unpack_header,
)
from rrp_spec.addresses import parse_url


@dataclass(frozen=True)
class Flaw:
    """One classic client mistake, and what the client suite must find on a client that makes it."""

    #: The mistake, in a few words.
    why: str
    #: Requirement IDs the suite must fail the client on, and no others.
    fails: frozenset[str]
    #: Where the requirements alone do not say which checks must catch it: the failing checks, by name.
    failing_checks: frozenset[str] | None = None


def _flaw(why: str, *fails: str, failing_checks: tuple[str, ...] | None = None) -> Flaw:
    return Flaw(why, frozenset(fails), None if failing_checks is None else frozenset(failing_checks))


#: ``--flaw`` -> the mistake it switches on, declared with the requirements the suite must fail.
FLAWS: dict[str, Flaw] = {
    "accepts-any-source": _flaw(
        "UDP: an unconnected socket, replies taken from whoever sends them",
        "UDP-CLI-1",
        failing_checks=("udp/reply-from-other-address", "udp/reply-from-other-port"),
    ),
    "ignores-source-port": _flaw(
        "UDP: an unconnected socket, replies taken from the server's address on any port",
        "UDP-CLI-1",
        failing_checks=("udp/reply-from-other-port",),
    ),
    "ignores-request-id": _flaw("a reply for any request ID is taken as the answer", "CLI-3", "TCP-CLI-3"),
    "sequential-ids": _flaw("request IDs from a counter kept in --state", "CLI-1"),
    "new-id-per-retransmission": _flaw("UDP: each retransmission draws a fresh request ID", "UDP-CLI-3"),
    "no-backoff": _flaw("UDP: every attempt waits the first attempt's timeout", "UDP-CLI-4"),
    "retries-forever": _flaw("UDP: never gives up", "UDP-CLI-6"),
    "gives-up-after-first-timeout": _flaw("UDP: one attempt, whatever it claims", "UDP-CLI-6"),
    "no-tcp-reassembly": _flaw("TCP: one recv() is taken to be the whole reply", "TCP-CLI-1"),
    "no-connect-timeout": _flaw("TCP: waits for a connection as long as the kernel does", "TCP-CLI-2"),
    "early-retransmission": _flaw("UDP: each attempt waits 95% of its timeout, just under the minimum", "UDP-CLI-4"),
    "ignores-unsolicited-busy": _flaw(
        "TCP: a reply with request_id 0 is skipped, and the client waits on until its deadline", "TCP-CLI-5"
    ),
}
#: How much of each timeout the early-retransmission flaw waits.
EARLY_SHARE = 0.95
_RECEIVE = UDP_RECEIVE_BUFFER_SIZE


def _new_id(args: argparse.Namespace) -> int:
    if args.flaw == "sequential-ids":
        with Path(args.state).open("a+") as state:
            fcntl.flock(state, fcntl.LOCK_EX)  # the suite runs several clients at once
            state.seek(0)
            counter = int(state.read() or "0") + 1
            state.truncate(0)
            state.write(str(counter))
        return counter
    while (request_id := secrets.randbits(64)) == 0:
        pass
    return request_id


def _acceptable(data: bytes, request: Header, *, datagram: bool, ignore_id: bool) -> bool:
    if ignore_id and len(data) >= HEADER_SIZE:
        request = replace(request, request_id=unpack_header(data).request_id)
    return not reply_problems(data, request=request, datagram=datagram)


def _finish(data: bytes) -> int:
    header = unpack_header(data)
    if header.result != Result.OK:
        print(f"error: the server answered result {header.result}", file=sys.stderr)
        return 1
    print(data[HEADER_SIZE : HEADER_SIZE + header.size].hex())
    return 0


def call_udp(args: argparse.Namespace, host: str, port: int) -> int:
    policy = RetryPolicy(initial_timeout=args.initial_timeout, max_timeout=args.max_timeout, max_attempts=args.attempts)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    promiscuous = args.flaw in ("accepts-any-source", "ignores-source-port")
    if not promiscuous:
        sock.connect((host, port))
    request_id = _new_id(args)
    started = time.monotonic()
    attempt = 0
    while attempt < policy.max_attempts or args.flaw == "retries-forever":
        attempt += 1
        if attempt > 1 and args.flaw == "new-id-per-retransmission":
            request_id = _new_id(args)
        message = pack_request(args.op, request_id, args.payload)
        request = unpack_header(message)
        if promiscuous:
            sock.sendto(message, (host, port))
        else:
            sock.send(message)
        schedule_attempt = 1 if args.flaw == "no-backoff" else min(attempt, policy.max_attempts)
        wait = policy.timeout(schedule_attempt, random.random())
        if args.flaw == "early-retransmission":
            wait = policy.base_timeout(schedule_attempt) * EARLY_SHARE
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            try:
                data, source = sock.recvfrom(_RECEIVE)
            except ConnectionRefusedError:  # ICMP from a closed port: keep waiting for the deadline
                continue
            if args.flaw == "ignores-source-port" and source[0] != host:
                continue
            if _acceptable(data, request, datagram=True, ignore_id=args.flaw == "ignores-request-id"):
                return _finish(data)
        if args.flaw == "gives-up-after-first-timeout":
            break
    print(f"error: no reply after {attempt} attempts over {time.monotonic() - started:.3f} s", file=sys.stderr)
    return 3


def _read_exactly(sock: socket.socket, count: int, deadline: float) -> bytes:
    data = b""
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            raise TimeoutError
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def call_tcp(args: argparse.Namespace, host: str, port: int) -> int:
    deadline = time.monotonic() + args.timeout
    message = pack_request(args.op, _new_id(args), args.payload)
    request = unpack_header(message)
    try:
        connect_timeout = None if args.flaw == "no-connect-timeout" else args.timeout
        with socket.create_connection((host, port), timeout=connect_timeout) as sock:
            sock.sendall(message)
            if args.flaw == "no-tcp-reassembly":
                if not select.select([sock], [], [], args.timeout)[0]:
                    raise TimeoutError
                data = sock.recv(_RECEIVE)
                if len(data) < HEADER_SIZE or len(data) < HEADER_SIZE + unpack_header(data).size:
                    raise ConnectionError(f"truncated reply of {len(data)} bytes")
            else:
                header = _read_exactly(sock, HEADER_SIZE, deadline)
                while args.flaw == "ignores-unsolicited-busy" and is_unsolicited_busy(header):
                    header = _read_exactly(sock, HEADER_SIZE, deadline)  # not ours: wait for "our" reply
                data = header + _read_exactly(sock, unpack_header(header).size, deadline)
    except TimeoutError:
        print(f"error: no reply within {args.timeout} s", file=sys.stderr)
        return 3
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 4
    if is_unsolicited_busy(data):
        print("error: the server is at its connection limit (BUSY)", file=sys.stderr)  # TCP-CLI-5
        return 1
    if not _acceptable(data, request, datagram=False, ignore_id=args.flaw == "ignores-request-id"):
        print("error: the reply does not match the request", file=sys.stderr)
        return 4
    return _finish(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("op", type=int)
    parser.add_argument("payload", type=bytes.fromhex)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--attempts", type=int, required=True)
    parser.add_argument("--initial-timeout", type=float, required=True)
    parser.add_argument("--max-timeout", type=float, required=True)
    parser.add_argument("--flaw", choices=list(FLAWS))
    parser.add_argument("--state", help="the counter file for --flaw sequential-ids")
    args = parser.parse_args()
    transport, (host, port) = parse_url(args.url)
    return call_udp(args, host, port) if transport == "udp" else call_tcp(args, host, port)


if __name__ == "__main__":
    sys.exit(main())
