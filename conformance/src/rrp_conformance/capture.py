"""The pcapng of a run: every datagram and stream the suite sent and received, rebuilt from the wire logs.

Each check's logged events that name their :class:`~rrp_conformance.wirelog.Flow`
become packets with their real addresses, ports and wall-clock times: a datagram
per UDP send or receive, and for TCP the handshake, data segments with consistent
sequence and acknowledgement numbers (so Wireshark reassembles messages split over
segments) and the FIN or RST of each close the log saw. The first packet of every
check carries a comment naming the check and its verdict, failures included, and
each logged note rides on its packet; the frame numbers of each check go to the
reports, which point a reader from a failing check to its packets.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .outcomes import CheckResult
from .packets import TCP_SEGMENT_PAYLOAD, Built, TcpFlags, tcp_packet, udp_packet
from .pcapng import Packet, write_pcapng
from .wirelog import Control, Direction, Endpoint, Flow, WireEvent

#: The file every run writes beside its reports.
CAPTURE_NAME = "capture.pcapng"
#: Characters of each expected/observed text a check's comment keeps (a hostile target's bytes can be megabytes).
COMMENT_TEXT = 500


@dataclass(frozen=True, slots=True)
class Capture:
    """The packets of a run, in order, and which frames (1-based, as Wireshark numbers them) each check produced."""

    packets: tuple[Packet, ...]
    #: Check name -> its frame numbers, in order (absent when the check logged no packets).
    frames: dict[str, tuple[int, ...]]

    def write(self, path: Path, *, application: str = "rrp-conformance") -> None:
        """Write the capture as pcapng."""
        with path.open("wb") as out:
            write_pcapng(out, self.packets, application=application, interface="rrp-conformance wire log")


@dataclass(slots=True)
class _Stream:
    """Sequence numbers of one TCP connection: the next byte each end sends."""

    local_next: int
    peer_next: int


@dataclass(slots=True)
class _Builder:
    packets: list[Packet] = field(default_factory=list)
    streams: dict[tuple[Endpoint, Endpoint], _Stream] = field(default_factory=dict)

    def add(self, built: Built, time: float, comments: Sequence[str] = ()) -> None:
        self.packets.append(Packet(time, built.data, built.original_length, tuple(comments)))

    def event(self, event: WireEvent, comments: list[str]) -> None:
        flow = event.flow
        if flow is None:
            return
        if flow.transport == "udp":
            if event.direction is not Direction.EVENT:
                source, destination = _ends(flow, event.direction)
                self.add(udp_packet(source, destination, event.capture, event.length), event.wall_time, comments)
            return
        self._tcp(event, flow, comments)

    def _tcp(self, event: WireEvent, flow: Flow, comments: list[str]) -> None:
        key = (flow.local, flow.peer)
        stream = self.streams.get(key)
        if stream is None or event.control in (Control.CONNECTED, Control.ACCEPTED):
            stream = self._handshake(flow, event.control is not Control.ACCEPTED, event.wall_time, comments)
            self.streams[key] = stream
            comments = []
        if event.direction is Direction.EVENT:
            self._control(event, flow, stream, comments)
            return
        sent = event.direction is Direction.SENT
        source, destination = _ends(flow, event.direction)
        for start in range(0, max(event.length, 1), TCP_SEGMENT_PAYLOAD):
            length = min(TCP_SEGMENT_PAYLOAD, event.length - start)
            seq, ack = (stream.local_next, stream.peer_next) if sent else (stream.peer_next, stream.local_next)
            built = tcp_packet(
                source,
                destination,
                seq=seq,
                ack=ack,
                flags=TcpFlags.PSH | TcpFlags.ACK,
                payload=event.capture[start : start + length],
                length=length,
            )
            self.add(built, event.wall_time, comments if start == 0 else ())
            if sent:
                stream.local_next += length
            else:
                stream.peer_next += length

    def _handshake(self, flow: Flow, suite_opens: bool, time: float, comments: list[str]) -> _Stream:
        # Initial sequence numbers derived from the ends, so a rebuilt capture is the same byte for byte.
        local_isn = zlib.crc32(repr(flow.local).encode())
        peer_isn = zlib.crc32(repr(flow.peer).encode())
        opener, answerer = (flow.local, flow.peer) if suite_opens else (flow.peer, flow.local)
        opener_isn, answerer_isn = (local_isn, peer_isn) if suite_opens else (peer_isn, local_isn)
        self.add(tcp_packet(opener, answerer, seq=opener_isn, ack=0, flags=TcpFlags.SYN), time, comments)
        self.add(
            tcp_packet(answerer, opener, seq=answerer_isn, ack=opener_isn + 1, flags=TcpFlags.SYN | TcpFlags.ACK),
            time,
        )
        self.add(tcp_packet(opener, answerer, seq=opener_isn + 1, ack=answerer_isn + 1, flags=TcpFlags.ACK), time)
        return _Stream(local_isn + 1, peer_isn + 1)

    def _control(self, event: WireEvent, flow: Flow, stream: _Stream, comments: list[str]) -> None:
        if event.control is Control.CLOSED:
            built = tcp_packet(
                flow.local, flow.peer, seq=stream.local_next, ack=stream.peer_next, flags=TcpFlags.FIN | TcpFlags.ACK
            )
            stream.local_next += 1
        elif event.control is Control.PEER_CLOSED:
            built = tcp_packet(
                flow.peer, flow.local, seq=stream.peer_next, ack=stream.local_next, flags=TcpFlags.FIN | TcpFlags.ACK
            )
            stream.peer_next += 1
        elif event.control is Control.PEER_RESET:
            built = tcp_packet(flow.peer, flow.local, seq=stream.peer_next, ack=0, flags=TcpFlags.RST)
        else:  # a timeout, a failed send: nothing crossed the wire
            return
        self.add(built, event.wall_time, comments)


def _ends(flow: Flow, direction: Direction) -> tuple[Endpoint, Endpoint]:
    return (flow.local, flow.peer) if direction is Direction.SENT else (flow.peer, flow.local)


def _short(text: str) -> str:
    return text if len(text) <= COMMENT_TEXT else text[:COMMENT_TEXT] + " [...]"


def check_comment(index: int, total: int, result: CheckResult) -> str:
    """The comment on a check's first packet: which check, its verdict, and every failure it recorded."""
    lines = [f"rrp-conformance check {index}/{total}: {result.name} [{result.outcome}] {result.title}"]
    if result.requirements:
        lines.append("requirements: " + ", ".join(result.requirements))
    lines += [
        f"FAILED {f.requirement}: expected {_short(f.expected)}; observed {_short(f.observed)}" for f in result.failures
    ]
    if result.skip_reason:
        lines.append(f"skipped: {result.skip_reason}")
    return "\n".join(lines)


def build_capture(results: Iterable[CheckResult]) -> Capture:
    """Every packet of every check, in run order, each check's first packet commented with its verdict."""
    results = tuple(results)
    builder = _Builder()
    frames: dict[str, tuple[int, ...]] = {}
    for index, result in enumerate(results, 1):
        # Each check's connections are its own: a port the kernel hands out again is a new connection.
        builder.streams.clear()
        first = len(builder.packets)
        pending = [check_comment(index, len(results), result)]
        for event in sorted(result.wire_log, key=lambda e: e.time):
            comments = [*pending, event.note] if event.note else list(pending)
            before = len(builder.packets)
            builder.event(event, comments)
            if len(builder.packets) > before:
                pending = []
        if len(builder.packets) > first:
            frames[result.name] = tuple(range(first + 1, len(builder.packets) + 1))
    return Capture(tuple(builder.packets), frames)
