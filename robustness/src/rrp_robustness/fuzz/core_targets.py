"""Fuzz targets for python-ref's server cores: a script of events, judged after every one.

The input is a little script (see :mod:`.encoding`) of writes, ends of stream and
passing time for one TCP connection, or of datagrams, retransmissions, spoofed
sources and time for the UDP core. :class:`~rrp_robustness.judged_tcp.JudgedTcpConnection`
and :class:`~rrp_robustness.judged_udp.JudgedUdpCore` raise on the first disagreement
with the spec; any other exception from the core is a finding too.
"""

from __future__ import annotations

from rrp import ServerSettings
from rrp_spec import HEADER_SIZE, Op, pack_request, unpack_header

from ..judged_tcp import JudgedTcpConnection
from ..judged_udp import JudgedUdpCore
from .encoding import SHORT_WRITE, TCP_END_OF_STREAM, TCP_LONG_WRITE

#: A TCP payload limit small enough that a fuzzer reaches it, and requests above it, often.
FUZZ_TCP_MAX_PAYLOAD = 1024
_TCP_SETTINGS = ServerSettings(tcp_max_payload=FUZZ_TCP_MAX_PAYLOAD)
#: Loopback sources only; two differ in port alone.
PEERS = (("127.0.0.1", 40000), ("127.0.0.1", 40001), ("127.0.0.2", 40000), ("::1", 40000))
#: An application operation whose handler answers with eight times its payload, so that the
#: amplification bound (UDP-SRV-5) has something to bound.
AMPLIFYING_OPERATION = 0x8001
#: Most events one input may hold, so that one input stays fast.
MAX_EVENTS = 200


def _amplify(payload: bytes) -> bytes:
    return payload * 8


def tcp_core(data: bytes) -> None:
    """One TCP connection of :class:`rrp.TcpConnection`, driven by the script in ``data``."""
    if not data:
        return
    judged = JudgedTcpConnection(_TCP_SETTINGS, busy=bool(data[0] & 1))
    pos, end, events = 1, len(data), 0
    while pos < end and events < MAX_EVENTS:
        events += 1
        control = data[pos]
        pos += 1
        if control < SHORT_WRITE:
            chunk = data[pos : pos + control + 1]
            pos += len(chunk)
            if chunk:
                judged.feed(chunk)
        elif control == TCP_LONG_WRITE:
            length = int.from_bytes(data[pos : pos + 2], "big")
            chunk = data[pos + 2 : pos + 2 + length]
            pos += 2 + len(chunk)
            if chunk:
                judged.feed(chunk)
        elif control == TCP_END_OF_STREAM:
            judged.end_of_stream()
        elif control < 0xFC:
            judged.advance(float(control - 0xF0))
        else:
            judged.advance(0.001)


def udp_core(data: bytes) -> None:
    """One :class:`rrp.UdpServerCore`, fed the datagrams and time of the script in ``data``."""
    judged = JudgedUdpCore(handlers={AMPLIFYING_OPERATION: _amplify})
    previous: tuple[bytes, int] | None = None
    pos, end, events = 0, len(data), 0
    while pos < end and events < MAX_EVENTS:
        events += 1
        control = data[pos]
        pos += 1
        if control < 0xF0:
            length = int.from_bytes(data[pos : pos + 2], "big")
            datagram = data[pos + 2 : pos + 2 + length]
            pos += 2 + len(datagram)
            previous = (datagram, control % len(PEERS))
            judged.deliver(datagram, PEERS[previous[1]])
        elif control < 0xF8:
            judged.advance(float(control - 0xF0))
        elif control < 0xFC:
            judged.advance(3.0 * (control - 0xF8))
        elif control in (0xFC, 0xFD) and previous is not None:
            peer = (previous[1] + (control - 0xFC)) % len(PEERS)
            judged.deliver(previous[0], PEERS[peer])
        elif control == 0xFE and previous is not None and len(previous[0]) >= HEADER_SIZE:
            request_id = unpack_header(previous[0]).request_id
            judged.deliver(pack_request(Op.NOOP, request_id), PEERS[previous[1]])
        else:
            judged.advance(0.001)
