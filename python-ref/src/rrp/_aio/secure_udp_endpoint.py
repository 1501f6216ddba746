"""The asyncio adapter for one RRP/1-S UDP socket: datagrams in, through the protection layer and the core, out.

Every decision is made by :class:`~rrp._sansio.secure_udp.SecureUdpServer` (what to drop, what to
answer from its cache, how to seal) and by the RRP/1 server core behind it; this module reads
datagrams, passes both clocks in and sends what comes back. The secure port is not the hot path
that the plain UDP endpoint's batched receive serves, so it reads one datagram per callback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

from .._sansio.secure_udp import Opened, SecureUdpServer
from .._sansio.server_events import CallRequested, CarryOut, Observe
from .._sansio.udp_core import UdpServerCore


class SecureUdpEndpoint(asyncio.DatagramProtocol):
    """Serves RRP/1-S on one bound UDP socket, with the server's RRP/1 core behind the protection layer."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        layer: SecureUdpServer,
        core: UdpServerCore,
        observe: Observe,
        carry_out: CarryOut,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._loop = loop
        self._layer = layer
        self._core = core
        self._observe = observe
        self._carry_out = carry_out
        self._wall_clock = wall_clock
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass asyncio.DatagramTransport; it has its methods.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        now, wall_now = self._loop.time(), self._wall_clock()
        outcome = self._layer.receive(data, addr, now, wall_now)
        if isinstance(outcome, bytes):
            self._send(outcome, addr)
            return
        if not isinstance(outcome, Opened):
            self._report()
            return
        result = self._core.handle_datagram(outcome.message, addr, now)
        if isinstance(result, CallRequested):
            self._start_call(result, addr)
        elif result is None:
            self._layer.forget(outcome.message, addr)
        else:
            self._seal_and_send(result, addr)
        self._report()

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier replies say nothing about the next datagram.
        pass

    def close(self) -> None:
        """Stop serving and close the socket."""
        if self._transport is not None:
            self._transport.close()

    def _start_call(self, call: CallRequested, addr: Any) -> None:
        def answer(call: CallRequested, value: object, error: BaseException | None) -> None:
            self._seal_and_send(self._core.complete(call, value, error, self._loop.time()), addr)
            self._report()

        self._carry_out(call, answer)

    def _report(self) -> None:
        events = self._layer.take_events() + self._core.take_events()
        if events:
            self._observe(events)

    def _seal_and_send(self, reply: bytes, addr: Any) -> None:
        sealed = self._layer.seal(reply, addr, self._loop.time(), self._wall_clock())
        if sealed is not None:
            self._send(sealed, addr)

    def _send(self, datagram: bytes, addr: Any) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(datagram, addr)
