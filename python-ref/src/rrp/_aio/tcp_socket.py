"""What asyncio's TCP transport does not offer: a reset, a half-close that survives a vanished peer, and the bytes
the kernel still holds for the peer."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import termios

#: ``struct linger`` with l_onoff=1, l_linger=0: close() then discards unsent data and sends RST.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def kernel_unacked(transport: asyncio.Transport) -> int:
    """Bytes the kernel holds for the peer, not yet acknowledged (0 where the platform cannot tell)."""
    sock = transport.get_extra_info("socket")
    if sock is None or not hasattr(termios, "TIOCOUTQ"):
        return 0
    try:
        answer = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    unacked: int = struct.unpack("i", answer)[0]
    return unacked


def reset(transport: asyncio.Transport) -> None:
    """Drop the connection with a reset: ``SO_LINGER`` of zero makes the close discard what is unsent and send RST."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the peer: nothing is left to discard
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    transport.abort()


def half_close(transport: asyncio.Transport) -> None:
    """Write a FIN after what is buffered. With nothing buffered asyncio shuts the socket down at once, and that
    raises when the peer has already reset the connection unseen (reading was paused): the connection is then
    over, so it is aborted here rather than the error escaping from a timer callback into the log."""
    try:
        transport.write_eof()
    except OSError:
        transport.abort()
