"""A minimal writer of the pcapng capture format: one section, one interface, enhanced packets with comments.

It writes exactly the three block types Wireshark needs to open a file and show a
comment on a packet, as the pcapng specification (draft-ietf-opsawg-pcapng) lays
them out: the Section Header Block, one Interface Description Block and Enhanced
Packet Blocks, every block and option padded to 32 bits, in little-endian byte order
(which the byte-order magic declares). Written here rather than taken from a library
because the suite depends on rrp_spec alone and is meant to install and run from a
single file, and these ~100 lines are the whole of what it needs.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

#: LINKTYPE_RAW: each packet starts with its IPv4 or IPv6 header (the version nibble says which).
LINKTYPE_RAW = 101
#: Largest captured length a packet may have in this file (the interface's snaplen).
SNAPLEN = 262144

_SECTION_HEADER = 0x0A0D0D0A
_INTERFACE_DESCRIPTION = 0x00000001
_ENHANCED_PACKET = 0x00000006
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_OPT_END = 0
_OPT_COMMENT = 1
_SHB_USERAPPL = 4
_IF_NAME = 2
_IF_TSRESOL = 9
#: if_tsresol value 9: timestamps count nanoseconds (10^-9 s).
_NANOSECONDS = 9
#: An option's length is a 16-bit field: longer comments are cut to this many bytes.
MAX_OPTION_LENGTH = 0xFFFF


@dataclass(frozen=True, slots=True)
class Packet:
    """One captured packet: its link-layer bytes as captured, how long it really was, when, and its comments."""

    #: Seconds since the epoch.
    timestamp: float
    #: The packet's bytes as captured (at most ``original_length`` of them).
    data: bytes
    #: The packet's length on the wire; more than ``len(data)`` when the capture kept only its start.
    original_length: int
    #: Each becomes one ``opt_comment`` option, shown by Wireshark as a packet comment.
    comments: tuple[str, ...] = ()


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


#: The longest option value pcapng can hold (its length is 16 bits).
_MAX_OPTION = 0xFFFF


def _options(options: Sequence[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""
    # A comment quoting a hostile target (a failure's "observed" text) can be longer than an option holds: cut it.
    cut = [(code, value[:_MAX_OPTION]) for code, value in options]
    body = b"".join(struct.pack("<HH", code, len(value)) + _pad(value) for code, value in cut)
    return body + struct.pack("<HH", _OPT_END, 0)


def _fit(text: str) -> bytes:
    """``text`` as UTF-8, cut on a character boundary to fit one option."""
    data = text.encode()
    if len(data) <= MAX_OPTION_LENGTH:
        return data
    marker = b" [cut]"
    return data[: MAX_OPTION_LENGTH - len(marker)].decode(errors="ignore").encode() + marker


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)  # type, the length twice, and the body (already padded to 32 bits)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def section_header(application: str) -> bytes:
    """The Section Header Block that opens the file, naming the application that wrote it."""
    body = struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1)  # version 1.0, section length unknown
    return _block(_SECTION_HEADER, body + _options([(_SHB_USERAPPL, application.encode())]))


def interface_description(name: str, linktype: int = LINKTYPE_RAW) -> bytes:
    """The Interface Description Block of interface 0, with nanosecond timestamps."""
    body = struct.pack("<HHI", linktype, 0, SNAPLEN)
    return _block(
        _INTERFACE_DESCRIPTION, body + _options([(_IF_NAME, name.encode()), (_IF_TSRESOL, bytes([_NANOSECONDS]))])
    )


def enhanced_packet(packet: Packet) -> bytes:
    """The Enhanced Packet Block of ``packet`` on interface 0."""
    if len(packet.data) > min(packet.original_length, SNAPLEN):
        raise ValueError(f"a packet of {packet.original_length} bytes cannot carry {len(packet.data)} captured bytes")
    # Whole seconds apart from the fraction: multiplying the whole float by 1e9 would lose the last digits.
    seconds = math.floor(packet.timestamp)
    nanoseconds = seconds * 1_000_000_000 + round((packet.timestamp - seconds) * 1e9)
    header = struct.pack(
        "<IIIII", 0, nanoseconds >> 32, nanoseconds & 0xFFFFFFFF, len(packet.data), packet.original_length
    )
    comments = [(_OPT_COMMENT, _fit(text)) for text in packet.comments]
    return _block(_ENHANCED_PACKET, header + _pad(packet.data) + _options(comments))


def write_pcapng(out: BinaryIO, packets: Sequence[Packet], *, application: str, interface: str) -> None:
    """Write a whole capture file: one section, one raw-IP interface, ``packets`` in order (frames 1, 2, ...)."""
    out.write(section_header(application))
    out.write(interface_description(interface))
    for packet in packets:
        out.write(enhanced_packet(packet))
