"""SVG figures computed from the spec: the header's packet diagram and the retry timeline.

The SVG is inlined into the page, so the site's stylesheet colours it (and the
dark palette recolours it); the presentation attributes are fallbacks for a
figure opened on its own. No element is separated by a blank line, so that
Markdown keeps each figure as one raw HTML block.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from rrp_spec import DEFAULT_DEDUP_WINDOW, HEADER_LAYOUT, HEADER_SIZE, MIN_DEDUP_WINDOW, FieldLayout, RetryPolicy

from .retry import schedule

#: Bits across one row of the packet diagram, as in the RFCs' ASCII art.
ROW_BITS = 32
ROW_BYTES = ROW_BITS // 8
_BIT_WIDTH = 22
_ROW_HEIGHT = 50
_LEFT = 64
_TOP = 42
_FONT = "font-family='ui-sans-serif, system-ui, sans-serif'"


def _text(x: float, y: float, content: str, cls: str, anchor: str = "middle", size: int = 13) -> str:
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' class='{cls}' text-anchor='{anchor}' font-size='{size}' "
        f"fill='currentColor'>{html.escape(content)}</text>"
    )


def _svg(width: int, height: int, label: str, body: Sequence[str], cls: str) -> str:
    return "\n".join(
        [
            f"<svg xmlns='http://www.w3.org/2000/svg' class='rrp-svg {cls}' viewBox='0 0 {width} {height}' "
            f"width='{width}' height='{height}' role='img' aria-label='{html.escape(label)}' {_FONT}>",
            f"<title>{html.escape(label)}</title>",
            *body,
            "</svg>",
        ]
    )


def _segments(field: FieldLayout) -> list[tuple[int, int, int]]:
    """The (row, first byte, end byte) pieces of ``field`` on a 32-bit-wide grid."""
    pieces = []
    end = field.offset + field.size
    for row in range(field.offset // ROW_BYTES, (end - 1) // ROW_BYTES + 1):
        first = max(field.offset, row * ROW_BYTES) - row * ROW_BYTES
        last = min(end, (row + 1) * ROW_BYTES) - row * ROW_BYTES
        pieces.append((row, first, last))
    return pieces


def packet_diagram(
    layout: Sequence[FieldLayout] = HEADER_LAYOUT,
    trailer: str = "payload: size bytes",
    label: str = f"RRP/1 header: {HEADER_SIZE} bytes, 32 bits per row",
) -> str:
    """A header as an RFC-style 32-bit-wide packet diagram, fields labelled with name, type and offset."""
    header_size = sum(f.size for f in layout)
    rows = -(-header_size // ROW_BYTES)
    width = _LEFT + ROW_BITS * _BIT_WIDTH + 12
    payload_top = _TOP + rows * _ROW_HEIGHT
    height = payload_top + _ROW_HEIGHT + 16
    body: list[str] = []
    byte_width = 8 * _BIT_WIDTH
    for byte in range(ROW_BYTES):
        x = _LEFT + byte * byte_width
        body.append(_text(x + byte_width / 2, 14, f"byte +{byte}", "rrp-sub", size=12))
    for bit in range(ROW_BITS):
        body.append(_text(_LEFT + (bit + 0.5) * _BIT_WIDTH, 34, str(bit), "rrp-sub", size=10))
    body.append(_text(_LEFT - 10, _TOP - 8, "offset", "rrp-sub", anchor="end", size=11))
    for row in range(rows):
        y = _TOP + row * _ROW_HEIGHT + _ROW_HEIGHT / 2 + 4
        body.append(_text(_LEFT - 10, y, str(row * ROW_BYTES), "rrp-sub", anchor="end", size=12))
    for index, field in enumerate(layout):
        pieces = _segments(field)
        whole_rows = all(first == 0 and last == ROW_BYTES for _, first, last in pieces)
        if whole_rows:
            pieces = [(pieces[0][0], 0, ROW_BYTES)]
            span = len(_segments(field))
        else:
            span = 1
        for piece_index, (row, first, last) in enumerate(pieces):
            x = _LEFT + first * byte_width
            y = _TOP + row * _ROW_HEIGHT
            w = (last - first) * byte_width
            h = span * _ROW_HEIGHT
            shade = "rrp-field-a" if index % 2 == 0 else "rrp-field-b"
            body.append(
                f"<rect x='{x}' y='{y}' width='{w}' height='{h}' class='rrp-field {shade}' "
                f"data-field='{field.name}' fill='#e8eaf6' stroke='#3f51b5' stroke-width='1.5'/>"
            )
            name = field.name if piece_index == 0 else f"{field.name} (cont.)"
            body.append(_text(x + w / 2, y + h / 2 - 2, name, "rrp-name", size=14))
            body.append(_text(x + w / 2, y + h / 2 + 15, f"{field.type_name} @ {field.offset}", "rrp-sub", size=11))
    body.append(_text(_LEFT - 10, payload_top + _ROW_HEIGHT / 2 + 4, str(header_size), "rrp-sub", "end", 12))
    body.append(
        f"<rect x='{_LEFT}' y='{payload_top + 6}' width='{ROW_BITS * _BIT_WIDTH}' height='{_ROW_HEIGHT - 6}' "
        "class='rrp-payload' fill='none' stroke='#3f51b5' stroke-dasharray='6 4'/>"
    )
    body.append(_text(_LEFT + ROW_BITS * _BIT_WIDTH / 2, payload_top + _ROW_HEIGHT / 2 + 8, trailer, "rrp-name"))
    return _svg(width, height, label, body, "rrp-packet")


_TL_LEFT = 96
_TL_RIGHT = 190
_TL_ROW = 34
_TL_PLOT = 600


def retry_timeline(policy: RetryPolicy) -> str:
    """Each attempt's send time and timeout over time, best and worst jitter, against the dedup window."""
    timings = schedule(policy)
    worst = policy.worst_case_span()
    horizon = max(worst, MIN_DEDUP_WINDOW) * 1.08
    step = 0.5 if horizon <= 10 else 1.0

    def x(t: float) -> float:
        return _TL_LEFT + t / horizon * _TL_PLOT

    top = 16
    body: list[str] = []
    dedup_row = top + len(timings) * _TL_ROW + 10
    axis_y = dedup_row + _TL_ROW + 8
    height = int(axis_y + 40)
    width = _TL_LEFT + _TL_PLOT + _TL_RIGHT
    tick = 0.0
    while tick <= horizon + 1e-9:
        body.append(
            f"<line x1='{x(tick):.1f}' y1='{top - 6}' x2='{x(tick):.1f}' y2='{axis_y}' class='rrp-grid' "
            "stroke='#ccc' stroke-width='0.5'/>"
        )
        body.append(_text(x(tick), axis_y + 16, f"{tick:g}", "rrp-sub", size=11))
        tick += step
    body.append(_text(x(horizon / 2), axis_y + 34, "seconds after the first transmission", "rrp-sub", size=12))
    body.append(
        f"<line x1='{_TL_LEFT}' y1='{axis_y}' x2='{x(horizon):.1f}' y2='{axis_y}' class='rrp-axis' stroke='#666'/>"
    )
    for t in timings:
        y = top + (t.attempt - 1) * _TL_ROW
        body.append(_text(_TL_LEFT - 10, y + 17, f"attempt {t.attempt}", "rrp-name", anchor="end", size=13))
        body.append(
            f"<rect x='{x(t.earliest_send):.1f}' y='{y + 6}' width='{x(t.latest_expiry) - x(t.earliest_send):.1f}' "
            f"height='16' rx='3' class='rrp-wait-maybe' fill='#c5cae9'/>"
        )
        if t.latest_send < t.earliest_expiry:
            body.append(
                f"<rect x='{x(t.latest_send):.1f}' y='{y + 6}' width='{x(t.earliest_expiry) - x(t.latest_send):.1f}' "
                f"height='16' rx='3' class='rrp-wait' fill='#3f51b5'/>"
            )
        send = x(t.earliest_send)
        body.append(
            f"<path d='M{send:.1f} {y + 2} l5 -6 h-10 z' class='rrp-send' fill='#e65100'>"
            f"<title>sent between {t.earliest_send:.3g} s and {t.latest_send:.3g} s</title></path>"
        )
        if t.latest_send > t.earliest_send:
            body.append(
                f"<line x1='{send:.1f}' y1='{y + 2}' x2='{x(t.latest_send):.1f}' y2='{y + 2}' class='rrp-send-range' "
                "stroke='#e65100' stroke-width='2'/>"
            )
        body.append(
            _text(
                x(t.latest_expiry) + 6,
                y + 18,
                f"T{t.attempt} = {t.base_timeout:g} s, waits {t.shortest_wait:.3g}-{t.longest_wait:.3g} s",
                "rrp-sub",
                anchor="start",
                size=11,
            )
        )
    body.append(
        f"<line x1='{x(worst):.1f}' y1='{top - 6}' x2='{x(worst):.1f}' y2='{axis_y}' class='rrp-limit' "
        "stroke='#c62828' stroke-dasharray='4 3' stroke-width='1.5'/>"
    )
    body.append(_text(_TL_LEFT - 10, dedup_row + 17, "server", "rrp-name", anchor="end", size=13))
    body.append(
        f"<rect x='{_TL_LEFT}' y='{dedup_row + 6}' width='{x(MIN_DEDUP_WINDOW) - _TL_LEFT:.1f}' height='16' rx='3' "
        "class='rrp-window' fill='#2e7d32'/>"
    )
    body.append(
        f"<text x='{_TL_LEFT + 8}' y='{dedup_row + 18}' class='rrp-on-bar' font-size='12' fill='#fff'>"
        f"duplicate-reply window: at least {MIN_DEDUP_WINDOW:g} s, the client's worst case</text>"
    )
    body.append(
        _text(
            x(MIN_DEDUP_WINDOW) + 6,
            dedup_row + 18,
            f"reference default {DEFAULT_DEDUP_WINDOW:g} s \N{RIGHTWARDS ARROW}",
            "rrp-sub",
            anchor="start",
            size=11,
        )
    )
    label = f"Retry timeline: {policy.max_attempts} attempts, giving up within {worst:g} s"
    return _svg(width, height, label, body, "rrp-timeline")
