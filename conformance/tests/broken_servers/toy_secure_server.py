"""A small RRP/1-S and RRP/1-over-TLS server for proving the secure checks: correct, or broken in one way.

Run as ``python toy_secure_server.py --key-file F --cert C --cert-key K [--break FLAG]``; it prints
``listening sudp HOST:PORT`` and ``listening tls HOST:PORT`` and serves until killed. It is written from
the spec (rrp_spec.secure and the requirement texts), not from the reference, so that the suite is proven
against an independent implementation. Each breakage declares the check it must fail and the requirement.
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from rrp_spec import COUNTER_SIZE, HEADER_SIZE, Flag, Op, Result, pack_reply, unpack_header
from rrp_spec.secure import KeySchedule, SecureContext, nonce
from rrp_spec.secure_wire import (
    FRESHNESS_WINDOW,
    SECURE_HEADER_SIZE,
    TLS_ALPN,
    ClearHeader,
    Dropped,
    parse_clear_header,
    read_key_file,
    sequence_at,
    sequence_time,
)

#: The toy's request deadline (and TLS handshake deadline), in seconds.
REQUEST_DEADLINE = 1.0


@dataclass(frozen=True)
class Proof:
    """What the suite must find on a breakage: the checks to run and the requirements they fail."""

    checks: tuple[str, ...]
    fails: frozenset[str]
    why: str


def breaks(*requirements: str, checks: tuple[str, ...], why: str) -> Proof:
    """The proof of one breakage."""
    return Proof(checks, frozenset(requirements), why)


class Breakage(Enum):
    """One mistake each, with the checks that must catch it."""

    ANSWERS_FORGERIES = breaks("SUDP-SRV-1", checks=("sudp/forgeries",), why="answers what does not open, in clear")
    NO_FRESHNESS = breaks("SUDP-SRV-2", checks=("sudp/stale",), why="accepts any sequence, however old")
    NO_REPLY_CACHE = breaks(
        "SUDP-SRV-3", checks=("sudp/retransmission",), why="carries a retransmission out again and reseals it"
    )
    NO_REPLAY_WINDOW = breaks("SUDP-SRV-3", checks=("sudp/replay",), why="remembers no accepted sequence")
    FIXED_REPLY_SEQUENCE = breaks(
        "SUDP-2", checks=("sudp/reply-sequences",), why="seals every reply under sequence 1: one nonce, reused"
    )
    PLAIN_ERRORS = breaks("SUDP-SRV-4", checks=("sudp/error-replies-sealed",), why="sends error replies in clear")
    UNBOUND_REPLIES = breaks(
        "SUDP-SRV-4", checks=("sudp/echo",), why="leaves the request out of a reply's associated data"
    )
    ALLOWS_TLS12 = breaks("TLS-SRV-1", checks=("tls/old-versions",), why="negotiates TLS 1.2")
    IGNORES_ALPN = breaks("TLS-SRV-1", checks=("tls/alpn-other", "tls/alpn-none"), why="serves without ALPN rrp/1")
    PLAINTEXT_FALLBACK = breaks("TLS-SRV-2", checks=("tls/plaintext",), why="answers plain RRP/1 on its TLS port")
    NO_HANDSHAKE_DEADLINE = breaks(
        "TLS-SRV-3", checks=("tls/handshake-deadline",), why="waits for a ClientHello forever"
    )

    @property
    def flag(self) -> str:
        """The ``--break`` value."""
        return self.name.lower().replace("_", "-")

    @property
    def proof(self) -> Proof:
        """What the suite must find."""
        return self.value


class SecureToy:
    """The UDP side: RRP/1-S as the spec orders the steps, minus the one step a breakage leaves out."""

    def __init__(self, keys: dict[int, bytes], breakage: Breakage | None) -> None:
        self.contexts = {key_id: SecureContext.from_secret(secret, key_id) for key_id, secret in keys.items()}
        self.schedules = {key_id: KeySchedule.derive(secret, key_id) for key_id, secret in keys.items()}
        self.breakage = breakage
        self.started = sequence_at(time.time())
        self.seen: dict[int, set[int]] = {key_id: set() for key_id in keys}
        self.cache: dict[tuple[object, int, int], tuple[bytes, bytes]] = {}
        self.counter = 0
        self.last_sequence = 0

    def handle(self, datagram: bytes, source: object) -> bytes | None:
        """The datagram to send back, or ``None``."""
        try:
            header = parse_clear_header(datagram)
            context = self.contexts.get(header.key_id)
            if header.is_reply or context is None:
                return self._refused()
            key = (source, header.key_id, header.sequence)
            digest = hashlib.sha256(datagram).digest()
            if self.breakage is not Breakage.NO_REPLY_CACHE and key in self.cache and self.cache[key][0] == digest:
                return self.cache[key][1]
            if self.breakage is not Breakage.NO_FRESHNESS and (
                abs(sequence_time(header.sequence) - time.time()) > FRESHNESS_WINDOW or header.sequence < self.started
            ):
                return self._refused()
            if self.breakage not in (Breakage.NO_REPLAY_WINDOW, Breakage.NO_REPLY_CACHE) and (
                header.sequence in self.seen[header.key_id]
            ):
                return self._refused()
            message = context.open_request(datagram, header)
        except Dropped:
            return self._refused()
        self.seen[header.key_id].add(header.sequence)
        reply = self._answer(message)
        if reply is None:
            return None
        if self.breakage is Breakage.PLAIN_ERRORS and unpack_header(reply).result != Result.OK:
            return reply
        sealed = self._seal(header.key_id, datagram[:SECURE_HEADER_SIZE], reply)
        self.cache[key] = (digest, sealed)
        return sealed

    def _refused(self) -> bytes | None:
        if self.breakage is Breakage.ANSWERS_FORGERIES:
            return pack_reply(unpack_header(bytes(HEADER_SIZE)), Result.MALFORMED)
        return None

    def _answer(self, message: bytes) -> bytes | None:
        if len(message) < HEADER_SIZE:
            return None
        request = unpack_header(message)
        if request.flags & ~int(Flag.REPLY):
            return pack_reply(request, Result.MALFORMED)
        if request.operation == Op.ECHO:
            return pack_reply(request, Result.OK, message[HEADER_SIZE:])
        if request.operation == Op.INCREMENT:
            self.counter += 1
            return pack_reply(request, Result.OK, self.counter.to_bytes(COUNTER_SIZE, "big"))
        return pack_reply(request, Result.OK)

    def _seal(self, key_id: int, request_clear: bytes, reply: bytes) -> bytes:
        if self.breakage is Breakage.FIXED_REPLY_SEQUENCE:
            sequence = 1
        else:
            sequence = self.last_sequence = max(sequence_at(time.time()), self.last_sequence + 1)
        if self.breakage is not Breakage.UNBOUND_REPLIES:
            return self.contexts[key_id].seal_reply(request_clear, sequence, reply)
        schedule = self.schedules[key_id]
        clear = ClearHeader(int(Flag.REPLY), key_id, sequence).pack()
        return clear + ChaCha20Poly1305(schedule.server_key).encrypt(nonce(schedule.server_iv, sequence), reply, clear)


def serve_udp(sock: socket.socket, toy: SecureToy) -> None:
    """Answer datagrams until the process ends."""
    while True:
        datagram, source = sock.recvfrom(65536)
        reply = toy.handle(datagram, source)
        if reply is not None:
            sock.sendto(reply, source)


def tls_context(cert: str, key: str, breakage: Breakage | None) -> ssl.SSLContext:
    """The toy's TLS context."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2 if breakage is Breakage.ALLOWS_TLS12 else ssl.TLSVersion.TLSv1_3
    if breakage is Breakage.ALLOWS_TLS12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols([TLS_ALPN])
    return context


def serve_tls_connection(raw: socket.socket, context: ssl.SSLContext, breakage: Breakage | None) -> None:
    """One connection: handshake, the ALPN rule, then ECHO/NOOP requests until the peer leaves."""
    with raw:
        raw.settimeout(None if breakage is Breakage.NO_HANDSHAKE_DEADLINE else REQUEST_DEADLINE)
        try:
            if breakage is Breakage.PLAINTEXT_FALLBACK and raw.recv(2, socket.MSG_PEEK) == b"RR":
                _serve_stream(raw)
                return
            conn = context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            return
        with conn:
            if breakage is not Breakage.IGNORES_ALPN and conn.selected_alpn_protocol() != TLS_ALPN:
                return
            _serve_stream(conn)


def _serve_stream(conn: socket.socket) -> None:
    conn.settimeout(5)
    buffer = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= HEADER_SIZE and len(buffer) >= HEADER_SIZE + struct.unpack_from(">L", buffer, 16)[0]:
                size = struct.unpack_from(">L", buffer, 16)[0]
                message, buffer = buffer[: HEADER_SIZE + size], buffer[HEADER_SIZE + size :]
                request = unpack_header(message)
                conn.sendall(
                    pack_reply(request, Result.OK, message[HEADER_SIZE:] if request.operation == Op.ECHO else b"")
                )
    except (OSError, ssl.SSLError):
        return


def serve_tls(listener: socket.socket, context: ssl.SSLContext, breakage: Breakage | None) -> None:
    """Accept until the process ends, a thread per connection."""
    while True:
        raw, _ = listener.accept()
        threading.Thread(target=serve_tls_connection, args=(raw, context, breakage), daemon=True).start()


def main() -> None:
    """Parse the flags, bind, print the listening lines, serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--cert-key", required=True)
    parser.add_argument("--break", dest="breakage", choices=[b.flag for b in Breakage])
    args = parser.parse_args()
    breakage = next((b for b in Breakage if b.flag == args.breakage), None)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    toy = SecureToy(read_key_file(args.key_file), breakage)
    context = tls_context(args.cert, args.cert_key, breakage)
    print(f"listening sudp 127.0.0.1:{udp.getsockname()[1]}", flush=True)
    print(f"listening tls 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    threading.Thread(target=serve_udp, args=(udp, toy), daemon=True).start()
    serve_tls(listener, context, breakage)


if __name__ == "__main__":
    main()
