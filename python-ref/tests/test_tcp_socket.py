"""The socket mechanics under asyncio's TCP transport, on real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import struct

from rrp._aio.tcp_socket import half_close


class _Paused(asyncio.Protocol):
    """Pauses reading at once, as the server does for a connection it is not reading, and keeps the transport."""

    def __init__(self, accepted: asyncio.Future[asyncio.Transport]) -> None:
        self._accepted = accepted
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        self._accepted.set_result(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.set_result(exc)


def test_a_half_close_after_the_peer_reset_unseen_ends_the_connection_instead_of_raising() -> None:
    """Seen in the soak: a linger's FIN, written from a timer after the peer had reset the connection while reading
    was paused, raised ENOTCONN out of the callback (184 tracebacks in one run)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[asyncio.Transport] = loop.create_future()
        protocols: list[_Paused] = []

        def factory() -> _Paused:
            protocols.append(_Paused(accepted))
            return protocols[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        peer = socket.create_connection(("127.0.0.1", port))
        transport = await asyncio.wait_for(accepted, 5)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # RST, which the paused transport does not see
        await asyncio.sleep(0.1)
        half_close(transport)
        assert await asyncio.wait_for(protocols[0].lost, 5) is None  # aborted: over, quietly
        server.close()
        await server.wait_closed()

    asyncio.run(main())
