"""UNSAFE: the RRP server a user would write with asyncio and no protections. Benchmarks only.

UDP through a ``DatagramProtocol``, TCP through streams (``readexactly``, ``write``, ``drain``). Like
:mod:`rrp_bench.naive_blocking` it validates nothing and has no deadlines or limits: any peer can hold
its connections open forever or make it buffer without bound. Never expose it beyond loopback.
"""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from rrp_spec import HEADER_SIZE

from .listen_args import announce, parse_listen_args
from .naive_blocking import payload_size, reply_to


class EchoDatagrams(asyncio.DatagramProtocol):
    """Answer each datagram as it arrives."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector transport does not subclass DatagramTransport, though it has its methods.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if len(data) >= HEADER_SIZE:
            self.transport.sendto(reply_to(data[:HEADER_SIZE], data[HEADER_SIZE:]), addr)


async def handle_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read a header, read its payload, write the reply, repeat until the peer closes."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            header = await reader.readexactly(HEADER_SIZE)
            payload = await reader.readexactly(payload_size(header))
            writer.write(reply_to(header, payload))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(argv: list[str] | None) -> None:
    """Bind both transports, announce them and serve until cancelled."""
    udp, tcp = parse_listen_args("naive_asyncio", "UNSAFE naive asyncio RRP server (benchmarks only)", argv)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(EchoDatagrams, local_addr=(udp.host, udp.port))
    server = await asyncio.start_server(handle_stream, tcp.host, tcp.port, backlog=1024)
    announce("udp", transport.get_extra_info("sockname"))
    announce("tcp", server.sockets[0].getsockname())
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Run the server until killed."""
    asyncio.run(serve(argv))


if __name__ == "__main__":
    main()
