"""The wire log of one check: every byte sent and received, with timestamps, rendered as annotated hex.

Header fields are named from :data:`rrp_spec.HEADER_LAYOUT`, so the rendering never
restates an offset. Framework module, shared by the server and client suites.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from rrp_spec import HEADER_LAYOUT, HEADER_SIZE, MAGIC, Flag, Op, Result

#: Bytes of one event kept for the report; the rest is counted, not stored (floods send megabytes).
KEPT_BYTES = 256
#: The header's size field, to step from one message to the next.
_SIZE = next(f for f in HEADER_LAYOUT if f.name == "size")
#: Payload bytes shown per hex line.
_LINE = 16


class Direction(StrEnum):
    """Which way bytes went, or a remark with no bytes."""

    SENT = "sent"
    RECEIVED = "received"
    EVENT = "event"


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


class WireLog:
    """Collects the :class:`WireEvent` of one check; thread-safe enough for appends from several sockets."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._events: list[WireEvent] = []

    def now(self) -> float:
        """Seconds since the log started."""
        return time.monotonic() - self._start

    def sent(self, channel: str, data: bytes, *, message_start: bool = True, note: str = "") -> None:
        """Record bytes the suite sent."""
        self._add(Direction.SENT, channel, data, message_start, note)

    def received(self, channel: str, data: bytes, *, message_start: bool = True, note: str = "") -> None:
        """Record bytes the suite received."""
        self._add(Direction.RECEIVED, channel, data, message_start, note)

    def event(self, channel: str, note: str) -> None:
        """Record something that carried no bytes: a connect, a close, a timeout."""
        self._events.append(WireEvent(self.now(), Direction.EVENT, channel, b"", 0, False, note))

    def _add(self, direction: Direction, channel: str, data: bytes, message_start: bool, note: str) -> None:
        kept = bytes(data[:KEPT_BYTES])
        self._events.append(WireEvent(self.now(), direction, channel, kept, len(data), message_start, note))

    @property
    def events(self) -> tuple[WireEvent, ...]:
        """Every event so far, in order."""
        return tuple(self._events)


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


def render_event(event: WireEvent) -> list[str]:
    """One event as text: a header line, then its annotated hex."""
    arrow = {Direction.SENT: "->", Direction.RECEIVED: "<-", Direction.EVENT: "**"}[event.direction]
    size = f" {event.length} bytes" if event.direction is not Direction.EVENT else ""
    note = f"  {event.note}" if event.note else ""
    head = f"+{event.time:8.4f}s {arrow} {event.direction:<8} {event.channel}{size}{note}"
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
