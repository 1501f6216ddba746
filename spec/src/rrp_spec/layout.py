"""The header layout derived from the construct definition in :mod:`rrp_spec.wire`.

The site's header table and packet diagram, and the fast codec's ``struct``
format, are all computed here from ``HEADER_STRUCT``; no offset or width is typed
by hand anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from construct import Bytes, Const, FormatField, Renamed

from .wire import HEADER_STRUCT


@dataclass(frozen=True, slots=True)
class FieldLayout:
    """One header field: where it sits, how wide it is and what it means."""

    #: Field name, as in the construct definition and the codec's ``Header``.
    name: str
    #: Byte offset from the start of the message.
    offset: int
    #: Width in bytes.
    size: int
    #: ``struct`` format character of the field (``B``, ``H``, ``L``, ``Q`` or ``Ns``).
    struct_code: str
    #: Human-readable type, e.g. ``u16`` or ``bytes[2]``.
    type_name: str
    #: The documentation string of the construct definition.
    doc: str


def _unwrap(subcon: Any) -> tuple[str | None, str, Any]:
    """Peel the ``Renamed`` layers off a field; return its name, doc and the inner construct."""
    name: str | None = None
    doc = ""
    while isinstance(subcon, Renamed):
        name = name or subcon.name
        doc = doc or (subcon.docs or "")
        subcon = subcon.subcon
    return name, doc, subcon


def _struct_code(inner: Any) -> tuple[str, str]:
    if isinstance(inner, Const):
        inner = inner.subcon
    if isinstance(inner, Bytes) and isinstance(inner.length, int):
        return f"{inner.length}s", f"bytes[{inner.length}]"
    if isinstance(inner, FormatField):
        order, code = inner.fmtstr[0], inner.fmtstr[1:]
        if order != ">" or code not in "BHLQ":
            raise TypeError(f"header fields must be big-endian unsigned integers, not {inner.fmtstr!r}")
        return code, f"u{8 * inner.length}"
    raise TypeError(f"no struct equivalent for header field construct {inner!r}")


def layout_of(struct: Any) -> tuple[FieldLayout, ...]:
    """The fields of a fixed-size construct ``Struct`` of big-endian integers and byte strings, in wire order."""
    fields = []
    offset = 0
    for subcon in struct.subcons:
        name, doc, inner = _unwrap(subcon)
        if name is None:
            raise TypeError("every header field must be named")
        code, type_name = _struct_code(inner)
        size = inner.sizeof()
        fields.append(FieldLayout(name, offset, size, code, type_name, doc))
        offset += size
    return tuple(fields)


#: The header's fields in wire order.
HEADER_LAYOUT: tuple[FieldLayout, ...] = layout_of(HEADER_STRUCT)


def struct_format(layout: tuple[FieldLayout, ...]) -> str:
    """The big-endian ``struct`` format of ``layout``."""
    return ">" + "".join(f.struct_code for f in layout)


#: The header's ``struct`` format, derived from the construct definition (``>2sBBHHQL``).
HEADER_FORMAT: str = struct_format(HEADER_LAYOUT)
#: The header's field names in wire order.
HEADER_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in HEADER_LAYOUT)
