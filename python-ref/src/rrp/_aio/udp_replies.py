"""Send one wake-up's UDP replies with as few system calls as the kernel allows (UDP GSO on Linux).

Why: on Linux most of a small reply's cost is the kernel's send path (a route
lookup and the whole IP output and, on loopback, input path), paid once per
``sendto``. With UDP generic segmentation offload (``UDP_SEGMENT``, Linux 4.18+)
one ``sendmsg`` carries several replies for the same destination, of the same
size, concatenated; the kernel (or the network card) cuts them apart again, so
what the client receives is exactly the datagrams it would have received one by
one. A client with many requests in flight gets most of its replies this way.

A run of replies is sent as one segmented ``sendmsg`` when they follow each other
in the batch, go to the same address from the same local address (the same
``IP_PKTINFO`` control message, UDP-SRV-6) and have the same length, at most
:data:`MAX_SEGMENT_SIZE` bytes (so no segment ever needs IP fragmentation, which
GSO refuses) and at most :data:`MAX_SEGMENTS` of them. Anything else goes out
alone, as before. Replies are never merged, split or reordered within one
destination, so no reply grows (UDP-SRV-5) and none is lost by batching.

A kernel older than 4.18 does not refuse ``UDP_SEGMENT``, it ignores it and would
send a run as one merged datagram, so GSO is only used where the kernel answers
the ``UDP_SEGMENT`` socket option (:func:`kernel_segments`). When the kernel
refuses a segmented send, the replies go out one by one. A refusal can come from
one destination's route (an IPsec policy, a tiny path MTU a client may forge with
ICMP), so one client must not switch GSO off for everyone: only after
:data:`REFUSALS_BEFORE_OFF` refusals in a row, with no segmented send going out
between them, is GSO switched off for the socket (a device that cannot segment).
"""

from __future__ import annotations

import errno
import socket
import struct
import sys
from typing import Any

from rrp_spec import MAX_UDP_DATAGRAM

#: ``UDP_SEGMENT`` from <linux/udp.h>; CPython 3.11 does not export it.
UDP_SEGMENT: int = getattr(socket, "UDP_SEGMENT", 103)
#: ``SOL_UDP``: the socket option level of ``UDP_SEGMENT``.
SOL_UDP: int = getattr(socket, "SOL_UDP", socket.IPPROTO_UDP)
#: Most segments in one send: the kernel's ``UDP_MAX_SEGMENTS`` on older kernels (newer ones take 128).
MAX_SEGMENTS = 64
#: Largest reply sent segmented: IPv6's minimum MTU (1280) less the IPv6 and UDP headers, so every path carries a
#: segment unfragmented (GSO refuses to segment into datagrams that would need fragmenting).
MAX_SEGMENT_SIZE = 1280 - 40 - 8
#: Errors with which the kernel says it cannot segment (rather than that this destination cannot be reached).
#: Segmented sends refused in a row (none going out between them) after which GSO is switched off.
REFUSALS_BEFORE_OFF = 8
_NO_GSO = frozenset({errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP})
_SEGMENT_SIZE = struct.Struct("=H")

#: Ancillary data of a reply: the ``IP_PKTINFO``/``IPV6_PKTINFO`` control message, or ``None``.
Ancillary = list[tuple[int, int, bytes]]
#: One reply to send: (address as the socket module takes it, reply bytes, control message or ``None``).
Reply = tuple[Any, bytes, "Ancillary | None"]


def gso_supported() -> bool:
    """True where ``UDP_SEGMENT`` may work (Linux); the first refusal switches it off anyway."""
    return sys.platform.startswith("linux")


def kernel_segments(sock: socket.socket) -> bool:
    """True when the kernel behind ``sock`` knows ``UDP_SEGMENT`` (Linux 4.18+ answers the socket option).

    Why a probe rather than waiting for a refusal: an older kernel does not refuse the control message, it
    ignores it (``ip_cmsg_send`` skips levels other than ``SOL_IP``) and sends the concatenated replies as one
    datagram, which merges replies and breaks UDP-SRV-5.
    """
    try:
        sock.getsockopt(SOL_UDP, UDP_SEGMENT)
    except OSError:
        return False
    return True


class ReplySender:
    """Sends batches of replies on one UDP socket, segmented where it can; counts the ones the kernel refused."""

    __slots__ = ("_refusals", "_sock", "gso")

    def __init__(self, sock: socket.socket, *, gso: bool | None = None) -> None:
        self._sock = sock
        #: Whether runs of equal replies to one destination go out as one segmented send (never where the kernel
        #: would ignore ``UDP_SEGMENT``, even when asked for).
        self.gso = (gso_supported() if gso is None else gso) and kernel_segments(sock)
        self._refusals = 0  # segmented sends refused since the last one that went out

    def send(self, replies: list[Reply]) -> int:
        """Send every reply in ``replies``, in order; returns how many could not be sent."""
        count = len(replies)
        failed = 0
        if count == 1 or not self.gso:
            for address, reply, control in replies:
                failed += self._send_one(reply, address, control)
            return failed
        start = 0
        while start < count:
            address, reply, control = replies[start]
            end = start + 1
            # Most replies either start a run or have a neighbour for another client: look one ahead first.
            if end < count:
                next_address, next_reply, next_control = replies[end]
                if (
                    len(next_reply) == len(reply) <= MAX_SEGMENT_SIZE
                    and next_address == address
                    and next_control == control
                ):
                    end = _run_end(replies, start, count)
            if end - start == 1:
                failed += self._send_one(reply, address, control)
            else:
                failed += self._send_segmented(replies, start, end, address, control)
            start = end
        return failed

    def _send_one(self, reply: bytes, address: Any, control: Ancillary | None) -> int:
        try:
            if control is None:
                self._sock.sendto(reply, address)
            else:
                self._sock.sendmsg([reply], control, 0, address)
        except OSError:
            return 1
        return 0

    def _send_segmented(
        self, replies: list[Reply], start: int, end: int, address: Any, control: Ancillary | None
    ) -> int:
        segment = (SOL_UDP, UDP_SEGMENT, _SEGMENT_SIZE.pack(len(replies[start][1])))
        data = b"".join([reply for _, reply, _ in replies[start:end]])
        try:
            self._sock.sendmsg([data], [segment] if control is None else [*control, segment], 0, address)
        except OSError as error:
            # One by one instead; if a lone reply to the same place goes out, segmenting was the problem.
            failed = sum(self._send_one(reply, address, control) for _, reply, _ in replies[start:end])
            if error.errno in _NO_GSO and failed < end - start:
                self._refusals += 1
                if self._refusals >= REFUSALS_BEFORE_OFF:
                    self.gso = False
            return failed
        self._refusals = 0
        return 0


def _run_end(replies: list[Reply], start: int, count: int) -> int:
    """Where the run of replies that can share one segmented send with ``replies[start]`` ends."""
    address, reply, control = replies[start]
    size = len(reply)
    limit = min(count, start + MAX_SEGMENTS, start + MAX_UDP_DATAGRAM // max(size, 1))
    end = start + 1
    while end < limit:
        other_address, other, other_control = replies[end]
        if len(other) != size or other_address != address or other_control != control:
            break
        end += 1
    return end
