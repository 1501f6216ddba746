"""Requests held one byte short of complete, to fill a target's memory budget (TCP-SRV-14) from outside.

A budget that counts payloads as they are declared and one that counts them as they
arrive must both be full, so each held request sends its header and then every payload
byte but the last. The payload bytes come from one buffer shared by every connection and
sent over and over (memoryview slices, never a copy per connection or per payload), and no
send ever blocks: a target past its budget may rightly stop reading the connections that
hold the most.
"""

from __future__ import annotations

import select
import socket
import struct
import time

#: Seconds between looks at the kernel's send queues while they drain.
_DRAIN_POLL = 0.01


def held_to_fill(budget: int, size: int) -> int:
    """How many requests declaring ``size`` bytes, each sent but its last byte, leave no room for one more.

    The smallest ``n`` with ``n * (size - 1) + size > budget``: one more request of ``size`` bytes then exceeds the
    budget whether the target counts payloads as they are declared (``n * size``) or as they arrive
    (``n * (size - 1)``). Fewer would leave the probe inside the budget for a target counting arrivals.
    """
    return max(1, (budget - size) // (size - 1) + 1)


def push(socks: list[socket.socket], chunk: memoryview, length: int, deadline: float) -> list[int]:
    """Send ``length`` payload bytes on every socket, as far as the target takes them by ``deadline``: the bytes
    sent on each.

    The bytes are ``chunk`` over and over, so the suite holds one buffer however large the payloads. Never blocks:
    a socket whose peer stops reading simply stops advancing; one the target closed or reset stops too.
    """
    sent = [0] * len(socks)
    index = {sock.fileno(): i for i, sock in enumerate(socks)}
    timeouts = [sock.gettimeout() for sock in socks]
    poller = select.poll()  # not select(): a budget may take more than 1024 descriptors' worth of connections
    for sock in socks:
        sock.setblocking(False)
        poller.register(sock, select.POLLOUT)
    left = len(socks)
    try:
        while left and (wait := deadline - time.monotonic()) > 0:
            for fd, _ in poller.poll(wait * 1000):
                i = index[fd]
                start = sent[i] % len(chunk)  # where the last send stopped, so the bytes repeat ``chunk`` exactly
                try:
                    sent[i] += socks[i].send(chunk[start : min(len(chunk), start + length - sent[i])])
                except BlockingIOError:
                    continue
                except OSError:  # closed or reset by the target: that connection holds nothing more
                    sent[i] = -1 - sent[i]
                if sent[i] < 0 or sent[i] == length:
                    poller.unregister(fd)
                    left -= 1
    finally:
        for sock, timeout in zip(socks, timeouts, strict=True):
            sock.settimeout(timeout)
    return [count if count >= 0 else -1 - count for count in sent]


def unsent(sock: socket.socket) -> int | None:
    """Bytes the kernel holds for the peer, unsent or unacknowledged (Linux SIOCOUTQ); ``None`` where unknown."""
    try:
        import fcntl
        import termios

        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (ImportError, AttributeError, OSError):
        return None
    return int(struct.unpack("i", raw)[0])


def queued(socks: list[socket.socket]) -> int | None:
    """Bytes sent on ``socks`` that the target's kernel has not taken yet; ``None`` where the platform cannot tell."""
    counts = [unsent(sock) for sock in socks]
    return None if any(c is None for c in counts) else sum(c or 0 for c in counts)


def wait_drained(socks: list[socket.socket], deadline: float) -> int | None:
    """Wait until the target's kernel has taken every byte sent on ``socks``, at most until ``deadline``.

    The bytes still queued then (0 when all were taken; more when the target stopped reading some), or ``None``
    where the platform cannot tell.
    """
    while (left := queued(socks)) and time.monotonic() < deadline:
        time.sleep(_DRAIN_POLL)
    return left
