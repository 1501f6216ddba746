"""A small client of the secure profiles for the conformance tests, correct or broken in one way.

Written from the spec (rrp_spec and the requirement texts), independent of the reference:

    secure_test_client.py tls://HOST:PORT OP PAYLOAD_HEX --ca FILE [--flaw F]
    secure_test_client.py sudp://HOST:PORT OP PAYLOAD_HEX --key-file F --key-id N [--flaw F]

The adapter contract: the reply payload as hex on stdout and exit 0 on OK; 3 when it gave up waiting,
4 when the connection failed or was refused.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import ssl
import sys
import time
from dataclasses import dataclass

from rrp_spec import HEADER_SIZE, Result, pack_request, reply_problems, unpack_header
from rrp_spec.addresses import parse_profile_url
from rrp_spec.secure import SecureContext
from rrp_spec.secure_wire import TLS_ALPN, Dropped, read_key_file, sequence_at


@dataclass(frozen=True)
class Flaw:
    """One mistake, and the secure checks that must catch it."""

    why: str
    failing_checks: frozenset[str]
    fails: frozenset[str]


def _flaw(why: str, *checks: str, fails: str) -> Flaw:
    return Flaw(why, frozenset(checks), frozenset({fails}))


#: ``--flaw`` -> the mistake, with the checks and requirement the suite must fail it on.
FLAWS: dict[str, Flaw] = {
    "tls-no-verification": _flaw(
        "TLS: verification off",
        "tls/wrong-host",
        "tls/expired",
        "tls/self-signed",
        "tls/other-ca",
        fails="TLS-CLI-1",
    ),
    "tls-no-hostname-check": _flaw("TLS: the chain verified, the host name not", "tls/wrong-host", fails="TLS-CLI-1"),
    "tls-allows-1.2": _flaw("TLS: TLS 1.2 accepted", "tls/old-version", fails="TLS-CLI-1"),
    "tls-no-alpn": _flaw("TLS: no ALPN offered", "tls/verified-server", fails="TLS-CLI-1"),
    "sudp-accepts-plain": _flaw("RRP/1-S: a plain RRP/1 reply accepted", "sudp/plain-reply", fails="SUDP-CLI-1"),
    "sudp-fixed-sequence": _flaw(
        "RRP/1-S: every run starts its sequence at 1", "sudp/rising-sequences", fails="SUDP-2"
    ),
    "sudp-reseals": _flaw("RRP/1-S: every retransmission sealed anew", "sudp/retransmission", fails="SUDP-CLI-2"),
    "sudp-aborts-on-forgery": _flaw(
        "RRP/1-S: gives up at the first reply that does not open",
        "sudp/reply-for-other-request",
        "sudp/reply-under-other-secret",
        "sudp/plain-reply",
        fails="SUDP-CLI-1",
    ),
}


def _tls(host: str, port: int, request: bytes, args: argparse.Namespace) -> bytes:
    context = ssl.create_default_context(cafile=args.ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2 if args.flaw == "tls-allows-1.2" else ssl.TLSVersion.TLSv1_3
    if args.flaw != "tls-no-alpn":
        context.set_alpn_protocols([TLS_ALPN])
    if args.flaw in ("tls-no-verification", "tls-no-hostname-check"):
        context.check_hostname = False
    if args.flaw == "tls-no-verification":
        context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=args.timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as sock,
    ):
        if args.flaw != "tls-no-alpn" and sock.selected_alpn_protocol() != TLS_ALPN:
            raise ConnectionError("the server did not agree to ALPN rrp/1")
        sock.sendall(request)
        reply = b""
        while len(reply) < HEADER_SIZE or len(reply) < HEADER_SIZE + unpack_header(reply).size:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the whole reply")
            reply += chunk
    return reply


def _sudp(host: str, port: int, request: bytes, args: argparse.Namespace) -> bytes | None:
    context = SecureContext.from_secret(read_key_file(args.key_file)[args.key_id], args.key_id)
    last = 0

    def seal() -> bytes:
        nonlocal last
        last = last + 1 if args.flaw == "sudp-fixed-sequence" else max(sequence_at(time.time()), last + 1)
        return context.seal_request(last, request)

    sealed = seal()
    deadline = time.monotonic() + args.timeout
    wait = args.initial_timeout
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        for _ in range(args.attempts):
            if args.flaw == "sudp-reseals":
                sealed = seal()
            sock.send(sealed)
            until = min(time.monotonic() + wait, deadline)
            while (left := until - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    datagram = sock.recv(65536)
                except TimeoutError:
                    break
                if args.flaw == "sudp-accepts-plain" and datagram[:2] == b"RR":
                    inner = datagram
                else:
                    try:
                        inner = context.open_reply(datagram, sealed[:16])
                    except Dropped:
                        if args.flaw == "sudp-aborts-on-forgery":
                            raise ConnectionError("a reply did not open") from None
                        continue
                if not reply_problems(inner, request=unpack_header(request), datagram=True):
                    return inner
            wait = min(wait * 2, args.max_timeout)
    return None


def main() -> int:
    """Make one call; the adapter contract's exit statuses."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("op", type=int)
    parser.add_argument("payload_hex")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--attempts", type=int, default=5)
    parser.add_argument("--initial-timeout", type=float, default=0.5)
    parser.add_argument("--max-timeout", type=float, default=2.0)
    parser.add_argument("--ca")
    parser.add_argument("--key-file")
    parser.add_argument("--key-id", type=int)
    parser.add_argument("--flaw", choices=sorted(FLAWS))
    args = parser.parse_args()
    scheme, (host, port) = parse_profile_url(args.url)
    request = pack_request(args.op, secrets.randbits(64) | 1, bytes.fromhex(args.payload_hex))
    try:
        reply = _tls(host, port, request, args) if scheme == "tls" else _sudp(host, port, request, args)
    except (OSError, ssl.SSLError, ConnectionError) as error:
        print(f"refused: {error}", file=sys.stderr)
        return 4
    if reply is None:
        print("no reply", file=sys.stderr)
        return 3
    print(reply[HEADER_SIZE:].hex())
    return 0 if unpack_header(reply).result == Result.OK else 1


if __name__ == "__main__":
    sys.exit(main())
