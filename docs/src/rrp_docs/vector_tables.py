"""The test vectors of ``rrp-v1.json`` (shipped inside ``rrp_spec``) as annotated tables."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from rrp_spec import HEADER_LAYOUT, HEADER_SIZE, Op, Result, vectors

from .markdown import PageContext, cell, requirement_link, table

#: Payload bytes shown before the rest is summarised.
PAYLOAD_PREVIEW = 16


def annotated_hex(data: bytes) -> str:
    """``data`` as hex, one coloured, titled span per header field and the payload after them.

    Long payloads are cut after :data:`PAYLOAD_PREVIEW` bytes with a count of the rest;
    a message shorter than a header shows the fields it reaches.
    """
    parts = []
    for f in HEADER_LAYOUT:
        chunk = data[f.offset : f.offset + f.size]
        if not chunk:
            break
        title = f"{f.name} ({f.type_name}, offset {f.offset})" + (" - cut short" if len(chunk) < f.size else "")
        parts.append(f'<span class="rrp-f rrp-f-{f.name}" title="{html.escape(title)}">{chunk.hex()}</span>')
    payload = data[HEADER_SIZE:]
    if payload:
        shown = payload[:PAYLOAD_PREVIEW].hex()
        rest = len(payload) - PAYLOAD_PREVIEW
        more = f'<span class="rrp-more">... {rest:,} more bytes</span>'.replace(",", " ") if rest > 0 else ""
        title = f"payload, {len(payload)} bytes"
        parts.append(f'<span class="rrp-f rrp-f-payload" title="{title}">{shown}</span>{more}')
    return '<code class="rrp-hex">' + " ".join(parts) + "</code>"


def hex_legend() -> str:
    """The colour key of :func:`annotated_hex`."""
    keys = [f'<span class="rrp-f rrp-f-{f.name}">{f.name}</span>' for f in HEADER_LAYOUT]
    keys.append('<span class="rrp-f rrp-f-payload">payload</span>')
    return '<p class="rrp-legend">' + " ".join(keys) + "</p>"


def _name(value: int, codes: type[Op] | type[Result]) -> str:
    try:
        return codes(value).name
    except ValueError:
        return f"0x{value:04x}"


def expected(vector: dict[str, Any]) -> str:
    """What a receiver must do with the vector's bytes, in a few words."""
    expect = vector["expect"]
    if "decoded" in expect:
        d = expect["decoded"]
        payload = f", {d['size']}-byte payload" if d["size"] else ""
        if vector["direction"] == "reply":
            return f"**accept** as the answer: `{_name(d['result'], Result)}`{payload}"
        return f"**carry out** `{_name(d['operation'], Op)}`, request_id `0x{d['request_id']:x}`{payload}"
    action = expect["action"]
    if action == "reply":
        return f"**reply** `{expect['result']}`" + (", **then close**" if expect.get("then") == "close" else "")
    return {
        "drop": "**drop** silently",
        "close": "**close** without a reply",
        "ignore": "**ignore**: not the answer; keep waiting (UDP) or fail the exchange (TCP)",
    }[action]


def _row(vector: dict[str, Any], ctx: PageContext) -> list[str]:
    anchor = f"vector-{vector['name']}"
    name = f'<a id="{anchor}" class="rrp-anchor" href="#{anchor}">{html.escape(vector["name"])}</a>'
    reqs = ", ".join(requirement_link(r, ctx) for r in vector["requirements"])
    return [
        name,
        vector["transport"],
        cell(vector["description"]),
        annotated_hex(bytes.fromhex(vector["hex"])),
        expected(vector),
        reqs,
    ]


_GROUPS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "valid-requests": lambda v: v["direction"] == "request" and "decoded" in v["expect"],
    "invalid-requests": lambda v: v["direction"] == "request" and "decoded" not in v["expect"],
    "replies": lambda v: v["direction"] == "reply",
}


def vector_table(group: str, ctx: PageContext) -> str:
    """The vectors of one group (``valid-requests``, ``invalid-requests`` or ``replies``), in file order."""
    wanted = _GROUPS[group]
    rows = [_row(v, ctx) for v in vectors.load() if wanted(v)]
    if not rows:
        raise ValueError(f"no vector in group {group!r}")
    rendered = table(["Name", "Transport", "Description", "Bytes (hex)", "Expected", "Requirements"], rows)
    return f'<div class="rrp-vectors" markdown>\n\n{rendered}\n\n</div>'


def vector_count() -> int:
    """How many vectors the file holds."""
    return len(vectors.load())
