"""The asyncio side of RRP/1 over TLS: admit a connection like any other, then hand it to TLS, then serve it.

A connection to the TLS port is admitted within the connection limits the moment it is accepted, so
connections still in their handshake hold slots and count against the limits (TLS-SRV-3); the handshake
gets the request deadline, so a TLS slowloris is reset like any other, and a handshake whose slot is reclaimed
for a newcomer (TCP-SRV-13) is cancelled and reset at once. A connection on which ALPN did not
select ``rrp/1`` is reset before anything is read from it (TLS-SRV-1). Then the connection is served by the
same :class:`~rrp._aio.tcp_protocol.TcpConnectionProtocol` and core as plain TCP: RRP/1 inside is unchanged.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, cast

from .._sansio.server_events import Observe
from .._sansio.tcp_core import TcpConnection
from .._sansio.tcp_server import TcpServerCore
from .._sansio.tls_policy import agreed_on_rrp
from .tcp_protocol import TcpConnectionProtocol, admit
from .tcp_socket import reset

#: Runs a coroutine as a task the server tracks (so that shutdown can cancel it), and returns the task.
Track = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]
#: The connections in their handshake, by core: where a reclaim of the core's slot finds the handshake to cancel.
Handshakes = dict[TcpConnection, "TlsAcceptor"]


class TlsAcceptor(asyncio.Protocol):
    """The protocol of a connection to the TLS port until its handshake is done."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        server_core: TcpServerCore,
        context: ssl.SSLContext,
        connection: TcpConnectionProtocol,
        observe: Observe,
        track: Track,
        handshakes: Handshakes,
    ) -> None:
        self._loop = loop
        self._server_core = server_core
        self._context = context
        self._connection = connection
        self._observe = observe
        self._track = track
        self._handshakes = handshakes
        self._core: TcpConnection | None = None
        self._upgrading = False
        self._handshake: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raw = cast(asyncio.Transport, transport)
        raw.pause_reading()  # nothing is read in clear: the handshake reads first
        self._core = admit(raw, self._server_core, self._observe, self._loop.time())
        if self._core is not None:
            self._upgrading = True
            self._handshakes[self._core] = self
            self._handshake = self._track(self._upgrade(raw, self._core))
            self._handshake.add_done_callback(partial(self._handshake_over, raw, self._core))

    def reclaim(self) -> None:
        """The slot of this connection, still in its handshake, went to a newcomer: cancel the handshake and
        reset the connection now, not when the handshake ends (TCP-SRV-13)."""
        if self._handshake is not None:
            self._handshake.cancel()

    def connection_lost(self, exc: BaseException | None) -> None:
        # Only reached when the peer left before the handshake started: after that, TLS owns the transport.
        if self._core is not None and not self._upgrading:
            self._give_up(self._core)

    async def _upgrade(self, raw: asyncio.Transport, core: TcpConnection) -> None:
        deadline = self._server_core.settings.request_deadline
        # The handshake's last flight may carry the first request: held, not judged, until ALPN is checked.
        self._connection.hold(core)
        try:
            secured = await self._loop.start_tls(
                raw, self._connection, self._context, server_side=True, ssl_handshake_timeout=deadline
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            reset(raw)
            self._give_up(core)
            return
        if secured is None or not agreed_on_rrp(cast(ssl.SSLObject, secured.get_extra_info("ssl_object"))):
            reset(raw)
            self._give_up(core)
            return
        self._connection.adopt(secured, core)

    def _handshake_over(self, raw: asyncio.Transport, core: TcpConnection, handshake: asyncio.Task[None]) -> None:
        del self._handshakes[core]
        if handshake.cancelled():
            # The server is shutting down, or the slot was reclaimed. Handled here rather than in _upgrade, which
            # a task cancelled before its first step never enters.
            reset(raw)
            self._give_up(core)

    def _give_up(self, core: TcpConnection) -> None:
        # Releases the connection's slot; nothing it sent was judged (TLS-SRV-1: closed before answering).
        now = self._loop.time()
        core.abort(now)
        core.connection_lost(now)
        events = core.take_events()
        if events:
            self._observe(events)
