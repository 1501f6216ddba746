"""The wire log of one check: every byte sent and received, with timestamps, rendered as annotated hex.

Header fields are named from :data:`rrp_spec.HEADER_LAYOUT`, so the rendering never
restates an offset. Events that name their :class:`Flow` (the suite's socket, the
peer's, the transport) also keep their bytes, wall-clock time and TCP control
events for the run's pcapng (:mod:`rrp_conformance.capture`). Framework module,
shared by the server and client suites.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from enum import StrEnum

from rrp_spec import HEADER_LAYOUT, HEADER_SIZE, MAGIC, Flag, Op, Result

#: Bytes of one event kept for the report; the rest is counted, not stored (floods send megabytes).
KEPT_BYTES = 256
#: Events one check's log keeps from its start, and from its end; those in between are counted, not stored.
#: A hostile target that floods the suite (endless streams, a thousand replies per request) would otherwise grow
#: the log, and every report, without bound. The end is kept too because that is where a verdict is usually
#: decided (the one connection over a limit, after a thousand held ones). At most about 0.5 MB per check.
KEPT_HEAD = 500
KEPT_TAIL = 500
#: Distinct remarks (see :meth:`WireLog.remark`) one check's log keeps.
KEPT_REMARKS = 20
#: Bytes of one event kept for the pcapng: enough for the largest message a check sends or reads whole
#: (a 1 MiB TCP payload and its header), so Wireshark can reassemble it; a longer event is marked truncated.
CAPTURE_BYTES = 2 << 20
#: Bytes one check's log keeps for the pcapng in all; past it, events keep only their first KEPT_BYTES for it,
#: so a target that floods the suite with large messages cannot grow the capture (or memory) without bound.
CAPTURE_BUDGET = 8 << 20
#: The header's size field, to step from one message to the next.
_SIZE = next(f for f in HEADER_LAYOUT if f.name == "size")
#: Payload bytes shown per hex line.
_LINE = 16


class Direction(StrEnum):
    """Which way bytes went, or a remark with no bytes."""

    SENT = "sent"
    RECEIVED = "received"
    EVENT = "event"


#: A socket address as the suite sees it: host and port.
Endpoint = tuple[str, int]


class Control(StrEnum):
    """What an event without bytes did to a TCP connection, for the capture's SYN, FIN and RST segments."""

    #: The suite connected to the peer (the suite sent the SYN).
    CONNECTED = "connected"
    #: The suite accepted the peer's connection (the peer sent the SYN).
    ACCEPTED = "accepted"
    #: The suite closed its end (FIN from the suite).
    CLOSED = "closed"
    #: The peer closed its end (FIN from the peer).
    PEER_CLOSED = "peer closed"
    #: The peer reset the connection (RST from the peer).
    PEER_RESET = "peer reset"


@dataclass(frozen=True, slots=True)
class Flow:
    """Where an event's bytes went: the transport, the suite's socket and the peer's."""

    #: ``udp`` or ``tcp``.
    transport: str
    #: The suite's address and port.
    local: Endpoint
    #: The peer's address and port.
    peer: Endpoint


@dataclass(frozen=True, slots=True)
class WireEvent:
    """One send, one receive, or one event (connect, close, timeout) on one channel."""

    #: Seconds since the check started.
    time: float
    direction: Direction
    #: The socket it happened on, e.g. ``udp 127.0.0.1:40000`` or ``tcp#2 127.0.0.1:40000``.
    channel: str
    #: The first :data:`KEPT_BYTES` bytes.
    data: bytes
    #: How many bytes there were in all.
    length: int
    #: True when ``data`` starts with an RRP header (a datagram, or the start of a message on a stream).
    message_start: bool
    note: str = ""
    #: The sockets and transport, when the caller named them (events without one stay out of the pcapng).
    flow: Flow | None = None
    #: Seconds since the epoch (wall clock), for the pcapng's timestamps.
    wall_time: float = 0.0
    #: The first :data:`CAPTURE_BYTES` bytes, for the pcapng.
    capture: bytes = b""
    #: What an event without bytes did to its TCP connection, when it did something.
    control: Control | None = None
    #: Its place in the check's log, from 1, counting the events a truncated log left out; 0 for the gap marker.
    number: int = 0


@dataclass(frozen=True, slots=True)
class Traffic:
    """Totals of one direction of a log, whether or not its events were kept."""

    #: Sends or receives.
    count: int = 0
    #: Bytes in all.
    length: int = 0


class WireLog:
    """The :class:`WireEvent` of one check: the first :data:`KEPT_HEAD` and the last :data:`KEPT_TAIL`; thread-safe.

    Between the two, events are only counted; :attr:`dropped`, :meth:`traffic` and
    :meth:`summary` say what the target did all the same, and :attr:`events` marks the gap.
    """

    def __init__(self, *, kept_head: int = KEPT_HEAD, kept_tail: int = KEPT_TAIL) -> None:
        self._start = time.monotonic()
        self._head: list[WireEvent] = []
        self._kept_head = kept_head
        self._tail: deque[WireEvent] = deque(maxlen=kept_tail)
        self._lock = threading.Lock()
        self._traffic = {Direction.SENT: Traffic(), Direction.RECEIVED: Traffic()}
        #: Events counted but not kept, because the log was full.
        self.dropped = 0
        self._remarks: list[str] = []
        # The wall clock is read once: event times stay monotonic, shifted onto the epoch for the capture.
        self._wall_start = time.time()
        self._captured = 0
        self._numbered = 0
        self._last_received: WireEvent | None = None
        self._last: WireEvent | None = None

    def now(self) -> float:
        """Seconds since the log started."""
        return time.monotonic() - self._start

    def sent(
        self, channel: str, data: bytes, *, message_start: bool = True, note: str = "", flow: Flow | None = None
    ) -> None:
        """Record bytes the suite sent (to ``flow.peer`` from ``flow.local``, when given)."""
        self._add(Direction.SENT, channel, data, message_start, note, flow)

    def received(
        self, channel: str, data: bytes, *, message_start: bool = True, note: str = "", flow: Flow | None = None
    ) -> None:
        """Record bytes the suite received (from ``flow.peer`` on ``flow.local``, when given)."""
        self._add(Direction.RECEIVED, channel, data, message_start, note, flow)

    def event(self, channel: str, note: str, *, flow: Flow | None = None, control: Control | None = None) -> None:
        """Record something that carried no bytes: a connect, a close, a timeout."""
        now = self.now()
        event = WireEvent(
            now, Direction.EVENT, channel, b"", 0, False, note, flow, self._wall_start + now, control=control
        )
        self._append(event)

    def remark(self, channel: str, note: str) -> None:
        """Record what the target did that no verdict covers (floods, repeats, strays): an event and a note.

        The check's result lists each distinct remark among its notes, at most :data:`KEPT_REMARKS` of them.
        """
        self.event(channel, note)
        with self._lock:
            if note not in self._remarks and len(self._remarks) < KEPT_REMARKS:
                self._remarks.append(note)

    @property
    def remarks(self) -> tuple[str, ...]:
        """The distinct remarks so far."""
        with self._lock:
            return tuple(self._remarks)

    def _add(
        self, direction: Direction, channel: str, data: bytes, message_start: bool, note: str, flow: Flow | None
    ) -> None:
        with self._lock:
            total = self._traffic[direction]
            self._traffic[direction] = Traffic(total.count + 1, total.length + len(data))
            captured = b""
            if flow is not None:
                room = max(CAPTURE_BUDGET - self._captured, KEPT_BYTES)
                captured = bytes(data[: min(CAPTURE_BYTES, room)])
                self._captured += len(captured)
        now = self.now()
        kept = bytes(data[:KEPT_BYTES])
        event = WireEvent(
            now, direction, channel, kept, len(data), message_start, note, flow, self._wall_start + now, captured
        )
        self._append(event)

    def _append(self, event: WireEvent) -> None:
        with self._lock:
            self._numbered += 1
            event = replace(event, number=self._numbered)
            self._last = event
            if event.direction is Direction.RECEIVED:
                self._last_received = event
            if len(self._head) < self._kept_head:
                self._head.append(event)
                return
            if len(self._tail) == self._tail.maxlen:
                self.dropped += 1
            self._tail.append(event)

    @property
    def truncated(self) -> bool:
        """True when events were counted but not kept."""
        return self.dropped > 0

    def traffic(self, direction: Direction) -> Traffic:
        """How many sends or receives there were in all, and their bytes, kept or not."""
        with self._lock:
            return self._traffic[direction]

    def summary(self) -> str:
        """One sentence on a truncated log: how much it left out and what the traffic was; empty when whole."""
        if not self.truncated:
            return ""
        received, sent = self.traffic(Direction.RECEIVED), self.traffic(Direction.SENT)
        return (
            f"wire log truncated: {self.dropped} events between the first {self._kept_head} and the last "
            f"{self._tail.maxlen} were counted, not kept (in all: {received.count} receives of {received.length} "
            f"bytes from the target, {sent.count} sends of {sent.length} bytes to it)"
        )

    @property
    def events(self) -> tuple[WireEvent, ...]:
        """The kept events in order; when truncated, an event marking the gap stands where the dropped ones were."""
        with self._lock:
            head, tail = tuple(self._head), tuple(self._tail)
        if not self.truncated:
            return head + tail
        gap_at = tail[0].time if tail else self.now()
        return (*head, WireEvent(gap_at, Direction.EVENT, "wire log", b"", 0, False, self.summary()), *tail)

    def where(self) -> str:
        """Where a verdict taken now points in the log: the last bytes received, else the last event.

        By the number :func:`render_log` prints before each event, so a reader of a failure goes straight to the
        exchange that broke the rule instead of searching the log for it.
        """
        with self._lock:
            event = self._last_received or self._last
        return "before any traffic" if event is None else event_reference(event)


def _field_meaning(name: str, value: int | bytes) -> str:
    if isinstance(value, bytes):
        return repr(value)
    if name == "operation":
        return f"{value} ({Op(value).name})" if value in Op._value2member_map_ else str(value)
    if name == "result":
        return f"{value} ({Result(value).name})" if value in Result._value2member_map_ else str(value)
    if name == "flags":
        return f"0x{value:02x}" + (" (REPLY)" if value & Flag.REPLY else "")
    if name == "request_id":
        return f"0x{value:016x}"
    return str(value)


def _hex(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def _printable(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


def _render_header(data: bytes, at: int, indent: str) -> list[str]:
    width = max(f.size for f in HEADER_LAYOUT) * 3
    lines = []
    for f in HEADER_LAYOUT:
        raw = data[at + f.offset : at + f.offset + f.size]
        value: int | bytes = raw if f.struct_code.endswith("s") else int.from_bytes(raw, "big")
        lines.append(f"{indent}{at + f.offset:04x}  {_hex(raw):<{width}} {f.name:<10} {_field_meaning(f.name, value)}")
    return lines


def _render_dump(data: bytes, start: int, end: int, indent: str) -> list[str]:
    lines: list[str] = []
    previous = b""
    for at in range(start, end, _LINE):
        chunk = data[at : min(at + _LINE, end)]
        if chunk == previous and len(chunk) == _LINE:  # like hexdump: one "*" for a run of repeated lines
            if lines[-1] != f"{indent}*":
                lines.append(f"{indent}*")
            continue
        previous = chunk
        lines.append(f"{indent}{at:04x}  {_hex(chunk):<{_LINE * 3}} |{_printable(chunk)}|")
    return lines


def render_bytes(data: bytes, *, length: int | None = None, message_start: bool, indent: str = "    ") -> list[str]:
    """Annotated hex of ``data``: header fields by name for each message it starts with, then payload dumps.

    Messages back to back (pipelined requests in one segment) are each annotated while they start with the magic.
    """
    lines: list[str] = []
    offset = 0
    while message_start and len(data) - offset >= HEADER_SIZE and (offset == 0 or data[offset : offset + 2] == MAGIC):
        lines += _render_header(data, offset, indent)
        size = int.from_bytes(data[offset + _SIZE.offset : offset + _SIZE.offset + _SIZE.size], "big")
        end = min(len(data), offset + HEADER_SIZE + size)
        lines += _render_dump(data, offset + HEADER_SIZE, end, indent)
        offset = end
    lines += _render_dump(data, offset, len(data), indent)
    total = len(data) if length is None else length
    if total > len(data):
        lines.append(f"{indent}....  ({total - len(data)} more bytes not kept)")
    return lines


def event_reference(event: WireEvent) -> str:
    """How a verdict names an event of a wire log: ``wire log #7 at +0.1234 s``."""
    return f"wire log #{event.number} at +{event.time:.4f} s"


def render_event(event: WireEvent) -> list[str]:
    """One event as text: a header line (with its number in the log), then its annotated hex."""
    arrow = {Direction.SENT: "->", Direction.RECEIVED: "<-", Direction.EVENT: "**"}[event.direction]
    size = f" {event.length} bytes" if event.direction is not Direction.EVENT else ""
    note = f"  {event.note}" if event.note else ""
    label = f"#{event.number:<3} " if event.number else ""
    head = f"{label}+{event.time:8.4f}s {arrow} {event.direction:<8} {event.channel}{size}{note}"
    if event.direction is Direction.EVENT:
        return [head]
    return [head, *render_bytes(event.data, length=event.length, message_start=event.message_start)]


def render_log(events: tuple[WireEvent, ...], *, limit: int = 200) -> str:
    """The whole log as text, at most ``limit`` events (the rest counted)."""
    lines: list[str] = []
    for event in events[:limit]:
        lines.extend(render_event(event))
    if len(events) > limit:
        lines.append(f"... {len(events) - limit} more events not shown")
    return "\n".join(lines)
