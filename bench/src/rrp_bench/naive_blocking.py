"""UNSAFE: the RRP server a user would write with blocking sockets and no protections. Benchmarks only.

This is the baseline the reference server is measured against: a ``recvfrom``/``sendto`` loop for UDP
and ``socketserver.ThreadingTCPServer`` for TCP. It validates nothing, has no deadlines, no connection
limits, no rate limiting and no duplicate cache: one thread per connection, any size accepted, any peer
can stall it or exhaust its memory. Never expose it to anything but the benchmark's loopback generator.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading

from rrp_spec import COUNTER_SIZE, HEADER_FORMAT, HEADER_LAYOUT, HEADER_SIZE, MAX_UDP_DATAGRAM, Flag, Op, Result

from .listen_args import announce, parse_listen_args

_HEADER = struct.Struct(HEADER_FORMAT)
_SIZE_FIELD = [field.name for field in HEADER_LAYOUT].index("size")
_counter = 0


def payload_size(header: bytes) -> int:
    """The ``size`` field of a 20-byte header."""
    size: int = _HEADER.unpack(header)[_SIZE_FIELD]
    return size


def reply_to(header: bytes, payload: bytes) -> bytes:
    """The reply to one request, computed the naive way: no checks beyond the operation."""
    global _counter
    magic, version, _flags, operation, _result, request_id, _size = _HEADER.unpack(header)
    if operation == Op.ECHO:
        body = payload
    elif operation == Op.NOOP:
        body = b""
    elif operation == Op.INCREMENT:
        _counter += 1
        body = _counter.to_bytes(COUNTER_SIZE)
    else:
        return _HEADER.pack(magic, version, Flag.REPLY, operation, Result.UNKNOWN_OPERATION, request_id, 0)
    return _HEADER.pack(magic, version, Flag.REPLY, operation, Result.OK, request_id, len(body)) + body


def serve_udp(sock: socket.socket) -> None:
    """Answer datagrams forever, one at a time."""
    while True:
        data, peer = sock.recvfrom(MAX_UDP_DATAGRAM)
        if len(data) >= HEADER_SIZE:
            sock.sendto(reply_to(data[:HEADER_SIZE], data[HEADER_SIZE:]), peer)


class RequestHandler(socketserver.StreamRequestHandler):
    """One thread per connection: read a header, read its payload, write the reply, repeat."""

    def handle(self) -> None:
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            header = self.rfile.read(HEADER_SIZE)
            if len(header) < HEADER_SIZE:
                return
            payload = self.rfile.read(payload_size(header))
            self.connection.sendall(reply_to(header, payload))


class ThreadingServer(socketserver.ThreadingTCPServer):
    """``ThreadingTCPServer`` with address reuse and threads that die with the process."""

    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


def main(argv: list[str] | None = None) -> None:
    """Serve UDP in a thread and TCP in the main thread until killed."""
    udp, tcp = parse_listen_args("naive_blocking", "UNSAFE naive blocking RRP server (benchmarks only)", argv)
    family = socket.AF_INET6 if ":" in udp.host else socket.AF_INET
    udp_sock = socket.socket(family, socket.SOCK_DGRAM)
    udp_sock.bind((udp.host, udp.port))
    ThreadingServer.address_family = socket.AF_INET6 if ":" in tcp.host else socket.AF_INET
    server = ThreadingServer((tcp.host, tcp.port), RequestHandler)
    announce("udp", udp_sock.getsockname())
    announce("tcp", server.server_address)  # type: ignore[arg-type]
    threading.Thread(target=serve_udp, args=(udp_sock,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
