"""The asyncio adapter for one UDP socket: move datagrams between the socket and :class:`~rrp.udp_core.UdpServerCore`.

Why not ``asyncio.DatagramProtocol``: it reads one datagram per readiness event
and cannot tell which local address a datagram was sent to. This adapter reads
with ``recvfrom``/``recvmsg`` on a non-blocking socket in a loop until the socket
is empty (or a batch is done, so TCP connections get their turn) on every wake-up.

A socket bound to a wildcard address (``0.0.0.0``, ``::``) asks the kernel for each
datagram's destination address (``IP_PKTINFO`` / ``IPV6_RECVPKTINFO``) and sends the
reply with it as the source (``sendmsg`` with the same control message), so that
on a multi-homed host the reply comes from the address the client sent to
(UDP-SRV-6). A socket bound to one address needs none of this and uses the
cheaper ``recvfrom``/``sendto``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any

from .counters import DropReason
from .udp_core import PendingCall, UdpServerCore

#: ``IP_PKTINFO`` from <linux/in.h>; CPython 3.11 does not export it.
IP_PKTINFO: int = getattr(socket, "IP_PKTINFO", 8)
#: ``struct in_pktinfo``: interface index, local address used for routing, header destination address.
_IN_PKTINFO = struct.Struct("@I4s4s")
#: ``struct in6_pktinfo``: address, interface index.
_IN6_PKTINFO = struct.Struct("@16sI")
#: Receive buffer: larger than any UDP datagram (65535 - 8 over IPv6), so nothing is ever truncated.
RECV_BUFFER = 1 << 16
#: Datagrams handled per wake-up at most, so that one busy UDP socket cannot starve TCP connections.
BATCH = 256
_ANCILLARY_SPACE = socket.CMSG_SPACE(max(_IN_PKTINFO.size, _IN6_PKTINFO.size))
#: Distinct local addresses remembered for building replies' control messages.
_ANCILLARY_CACHE = 256

Ancillary = list[tuple[int, int, bytes]]


def is_wildcard(sock: socket.socket) -> bool:
    """True when ``sock`` is bound to every local address."""
    host = sock.getsockname()[0]
    return host in ("0.0.0.0", "::")


def enable_destination_address(sock: socket.socket) -> None:
    """Ask the kernel to report each datagram's destination address (UDP-SRV-6)."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)


def reply_ancillary(ancillary: list[tuple[int, int, bytes]]) -> Ancillary | None:
    """The control message that makes a reply leave from the address a request (with ``ancillary``) arrived on."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _IN_PKTINFO.size:
            _ifindex, _spec_dst, destination = _IN_PKTINFO.unpack_from(data)
            # ipi_spec_dst sets the source address; interface 0 lets routing choose the way out.
            return [(socket.IPPROTO_IP, IP_PKTINFO, _IN_PKTINFO.pack(0, destination, bytes(4)))]
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= _IN6_PKTINFO.size:
            # The received in6_pktinfo is exactly what sendmsg wants: source address and interface.
            return [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, bytes(data[: _IN6_PKTINFO.size]))]
    return None


class UdpEndpoint:
    """Serves one bound UDP socket through a shared :class:`UdpServerCore`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        core: UdpServerCore,
        start_task: Callable[[Any], asyncio.Task[Any]],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._core = core
        self._start_task = start_task
        self._v6 = sock.family == socket.AF_INET6
        self._wildcard = is_wildcard(sock)
        self._ancillary: dict[bytes, Ancillary | None] = {}
        self._reading = False
        sock.setblocking(False)
        if self._wildcard:
            enable_destination_address(sock)

    @property
    def socket(self) -> socket.socket:
        """The bound socket."""
        return self._sock

    def start(self) -> None:
        """Start reading datagrams."""
        if not self._reading:
            self._loop.add_reader(self._sock.fileno(), self._read_pktinfo if self._wildcard else self._read_plain)
            self._reading = True

    def stop(self) -> None:
        """Stop reading datagrams (replies to calls in flight can still be sent)."""
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False

    def close(self) -> None:
        """Stop and close the socket."""
        self.stop()
        self._sock.close()

    def _read_plain(self) -> None:
        recvfrom = self._sock.recvfrom
        sendto = self._sock.sendto
        handle = self._core.handle_datagram
        now = self._loop.time()
        v6 = self._v6
        for _ in range(BATCH):
            try:
                data, address = recvfrom(RECV_BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. a pending ICMP error on some platforms; the next wake-up reads on
            out = handle(data, (address[0], address[1]) if v6 else address, now)
            if out is None:
                continue
            if type(out) is bytes:
                try:
                    sendto(out, address)
                except OSError:
                    self._core.counters.drops[DropReason.SEND_FAILED] += 1
            else:
                self._start_call(out, address, None)  # type: ignore[arg-type]

    def _read_pktinfo(self) -> None:
        recvmsg = self._sock.recvmsg
        handle = self._core.handle_datagram
        now = self._loop.time()
        v6 = self._v6
        for _ in range(BATCH):
            try:
                data, ancillary, _flags, address = recvmsg(RECV_BUFFER, _ANCILLARY_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            out = handle(data, (address[0], address[1]) if v6 else address, now)
            if out is None:
                continue
            reply_control = self._control_for(ancillary)
            if type(out) is bytes:
                self._send(out, address, reply_control)
            else:
                self._start_call(out, address, reply_control)  # type: ignore[arg-type]

    def _control_for(self, ancillary: list[tuple[int, int, bytes]]) -> Ancillary | None:
        if not ancillary:
            return None
        key = ancillary[0][2]
        cache = self._ancillary
        control = cache.get(key)
        if control is None:
            control = reply_ancillary(ancillary)
            if len(cache) >= _ANCILLARY_CACHE:
                cache.clear()
            cache[key] = control
        return control

    def _send(self, reply: bytes, address: Any, control: Ancillary | None) -> None:
        try:
            if control is None:
                self._sock.sendto(reply, address)
            else:
                self._sock.sendmsg([reply], control, 0, address)
        except OSError:
            self._core.counters.drops[DropReason.SEND_FAILED] += 1

    def _start_call(self, call: PendingCall, address: Any, control: Ancillary | None) -> None:
        self._start_task(self._run_call(call, address, control))

    async def _run_call(self, call: PendingCall, address: Any, control: Ancillary | None) -> None:
        try:
            value = await call.coroutine
        except Exception as error:
            reply = self._core.complete(call, None, error, self._loop.time())
        else:
            reply = self._core.complete(call, value, None, self._loop.time())
        if self._sock.fileno() >= 0:
            self._send(reply, address, control)
