"""A hostile RRP/1 server, to prove the server suite survives the targets it is pointed at.

``rrp-conformance server`` is run against servers nobody here controls. Each
``--behaviour`` below is one way such a server can attack the suite rather than
merely break a rule: endless streams, 4 GiB sizes, UDP floods, connections never
closed, a thousand copies of every reply, replies to requests never made. ECHO
requests are answered correctly (after the attack's own bytes where the behaviour
says so), so that the suite's sanity probe passes and its checks run into the attack.

Independent of python-ref (only rrp_spec's codec): threads and blocking sockets,
loopback only. It prints ``listening udp HOST:PORT`` and ``listening tcp HOST:PORT``,
serves until its stdin closes, and stops by itself after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import socket
import sys
import threading
import time
from enum import StrEnum

from rrp_spec import (
    COUNTER_SIZE,
    HEADER_SIZE,
    MAX_SIZE_FIELD,
    Flag,
    Header,
    Op,
    ProtocolViolation,
    Result,
    Transport,
    check_request,
    decode_request_datagram,
    pack_header,
    pack_reply,
    unpack_header,
)


class Behaviour(StrEnum):
    """How the server attacks the suite."""

    #: TCP: after every reply, random bytes without end; the connection is never closed by the server.
    ENDLESS_STREAM = "endless-stream"
    #: Replies to anything but ECHO declare a 4 GiB payload (TCP: followed by bytes without end).
    HUGE_SIZES = "huge-sizes"
    #: UDP: after answering a source, floods it with datagrams for as long as it lives.
    UDP_FLOOD = "udp-flood"
    #: Never closes a connection, never drops one, never answers anything but a valid request.
    NEVER_CLOSES = "never-closes"
    #: Every reply sent a thousand times (UDP: a thousand datagrams; TCP: a thousand messages).
    THOUSAND_REPLIES = "thousand-replies"
    #: Replies to requests the suite never made, before (UDP) or after (TCP) each genuine reply.
    UNSOLICITED = "unsolicited"


#: Copies of each reply under THOUSAND_REPLIES.
COPIES = 1000
#: Forged replies per genuine one under UNSOLICITED.
FORGED = 20
#: Seconds the UDP flood of one source lasts at most (the suite's socket may be long gone).
FLOOD_SECONDS = 10.0
#: The largest payload the server accepts (its claim, for the suite: the spec's UDP maximum works on TCP too).
MAX_PAYLOAD = 65_000
_CHUNK = os.urandom(1 << 16)


class HostileServer:
    """One behaviour, over UDP and TCP, on loopback."""

    def __init__(self, behaviour: Behaviour, host: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.counter = 0
        self.lock = threading.Lock()
        self.udp = socket.socket(family, socket.SOCK_DGRAM)
        self.udp.bind((host, 0))
        self.tcp = socket.socket(family, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((host, 0))
        self.tcp.listen(256)
        self.flood_target: tuple[tuple[str, int], float] | None = None

    # --- answers -----------------------------------------------------------------------------------
    def answer(self, header: Header, payload: bytes) -> bytes:
        """The correct reply to a valid request."""
        if header.operation == Op.ECHO:
            return pack_reply(header, Result.OK, payload)
        if header.operation == Op.NOOP:
            return pack_reply(header, Result.OK)
        if header.operation == Op.INCREMENT:
            with self.lock:
                self.counter += 1
                return pack_reply(header, Result.OK, self.counter.to_bytes(COUNTER_SIZE, "big"))
        return pack_reply(header, Result.UNKNOWN_OPERATION)

    def huge(self, request: Header) -> bytes:
        """A reply header declaring a payload of 4 GiB."""
        header = Header(
            flags=Flag.REPLY,
            operation=request.operation,
            result=Result.OK,
            request_id=request.request_id,
            size=MAX_SIZE_FIELD,
        )
        return pack_header(header)

    def forged(self, request: Header) -> bytes:
        """A well-formed reply to a request nobody made."""
        other = Header(operation=request.operation, request_id=int.from_bytes(os.urandom(8), "big") or 1, size=0)
        return pack_reply(other, Result.OK)

    # --- UDP ---------------------------------------------------------------------------------------
    def serve_udp(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.udp], [], [], 0.1)
            if not ready:
                continue
            datagram, source = self.udp.recvfrom(1 << 17)
            for out in self.udp_replies(datagram):
                with contextlib.suppress(OSError):
                    self.udp.sendto(out, source)
            if self.behaviour is Behaviour.UDP_FLOOD:
                self.flood_target = (source, time.monotonic() + FLOOD_SECONDS)

    def udp_replies(self, datagram: bytes) -> list[bytes]:
        try:
            message = decode_request_datagram(datagram, MAX_PAYLOAD)
        except ProtocolViolation:
            if self.behaviour is Behaviour.NEVER_CLOSES or len(datagram) < HEADER_SIZE:
                return []
            return [self.huge(unpack_header(datagram))] if self.behaviour is Behaviour.HUGE_SIZES else []
        header = message.header
        if self.behaviour is Behaviour.HUGE_SIZES and header.operation != Op.ECHO:
            return [self.huge(header) + _CHUNK[:1000]]
        reply = self.answer(header, message.payload)
        if self.behaviour is Behaviour.THOUSAND_REPLIES:
            return [reply] * COPIES
        if self.behaviour is Behaviour.UNSOLICITED:
            return [*(self.forged(header) for _ in range(FORGED)), reply]
        return [reply]

    def flood_udp(self) -> None:
        """UDP_FLOOD: datagrams at the last source that sent one, as fast as the socket takes them."""
        junk = [pack_reply(Header(operation=Op.ECHO, request_id=n + 1, size=0), Result.OK) for n in range(256)]
        n = 0
        while not self.stop.is_set():
            target = self.flood_target
            if target is None or time.monotonic() > target[1]:
                time.sleep(0.01)
                continue
            with contextlib.suppress(OSError):
                self.udp.sendto(junk[n % len(junk)], target[0])
            n += 1

    # --- TCP ---------------------------------------------------------------------------------------
    def serve_tcp(self) -> None:
        self.tcp.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self.connection, args=(conn,), daemon=True).start()

    def connection(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while not self.stop.is_set():
                while len(buffer) < HEADER_SIZE:
                    buffer += self.recv(conn)
                header = unpack_header(buffer[:HEADER_SIZE])
                try:
                    check_request(header, transport=Transport.TCP, max_payload=MAX_PAYLOAD)
                except ProtocolViolation:
                    self.misbehave_tcp(conn, header)
                    buffer = b""
                    continue
                while len(buffer) < HEADER_SIZE + header.size:
                    buffer += self.recv(conn)
                payload, buffer = buffer[HEADER_SIZE : HEADER_SIZE + header.size], buffer[HEADER_SIZE + header.size :]
                self.reply_tcp(conn, header, payload)
        except OSError:
            pass
        finally:
            conn.close()

    def recv(self, conn: socket.socket) -> bytes:
        while not self.stop.is_set():
            ready, _, _ = select.select([conn], [], [], 0.1)
            if ready:
                data = conn.recv(1 << 16)
                if not data:
                    raise ConnectionResetError
                return data
        raise ConnectionResetError

    def misbehave_tcp(self, conn: socket.socket, header: Header) -> None:
        """An invalid request: NEVER_CLOSES ignores it (and everything after); the others attack as usual."""
        if self.behaviour is Behaviour.NEVER_CLOSES:
            while not self.stop.is_set():
                self.recv(conn)  # read and ignore, forever: no close, no reply
        self.reply_tcp(conn, header, b"")

    def reply_tcp(self, conn: socket.socket, header: Header, payload: bytes) -> None:
        behaviour = self.behaviour
        if behaviour is Behaviour.HUGE_SIZES and header.operation != Op.ECHO:
            conn.sendall(self.huge(header))
            self.stream(conn)
        reply = self.answer(header, payload)
        if behaviour is Behaviour.THOUSAND_REPLIES:
            conn.sendall(reply * COPIES)
            return
        conn.sendall(reply)
        if behaviour is Behaviour.UNSOLICITED:
            conn.sendall(b"".join(self.forged(header) for _ in range(FORGED)))
        if behaviour is Behaviour.ENDLESS_STREAM:
            self.stream(conn)

    def stream(self, conn: socket.socket) -> None:
        """Bytes without end, until the peer goes or the server stops."""
        conn.settimeout(0.1)
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn.send(_CHUNK)
        raise ConnectionResetError


def _stop_when_stdin_closes(stop: threading.Event) -> None:
    sys.stdin.read()
    stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--behaviour", type=Behaviour, required=True, choices=list(Behaviour))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--lifetime", type=float, default=300.0, help="stop by itself after this many seconds")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1"):
        parser.error("loopback only")
    server = HostileServer(args.behaviour, args.host)
    for work in (server.serve_udp, server.serve_tcp, server.flood_udp):
        threading.Thread(target=work, daemon=True).start()
    for kind, sock in (("udp", server.udp), ("tcp", server.tcp)):
        host, port = sock.getsockname()[:2]
        print(f"listening {kind} {host}:{port}", flush=True)
    threading.Thread(target=_stop_when_stdin_closes, args=(server.stop,), daemon=True).start()
    server.stop.wait(args.lifetime)
    server.stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
