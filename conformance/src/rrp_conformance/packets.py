"""IPv4/IPv6 packets carrying UDP datagrams and TCP segments, built from addresses, ports and payload bytes.

The suite talks through ordinary sockets and never sees the packets the kernel
sends, so the capture of a run is rebuilt from its wire log: these functions wrap
each logged payload in the IP and UDP or TCP headers it travelled in (RFC 791,
RFC 8200, RFC 768, RFC 9293), with correct lengths and checksums, so that
Wireshark dissects, and reassembles, them as it would a live capture.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from enum import IntFlag

_PROTO_TCP = 6
_PROTO_UDP = 17
_TTL = 64
_IPV4_HEADER = 20
_IPV6_HEADER = 40
_UDP_HEADER = 8
_TCP_HEADER = 20
_DONT_FRAGMENT = 0x4000
_MAX_IP_PACKET = 0xFFFF
#: Payload bytes per synthesized TCP segment: what fits one IPv6 packet (the smaller of the two).
TCP_SEGMENT_PAYLOAD = _MAX_IP_PACKET - _IPV6_HEADER - _TCP_HEADER
#: The receive window every synthesized segment advertises.
_WINDOW = 0xFFFF


class TcpFlags(IntFlag):
    """TCP header flag bits (RFC 9293 section 3.1)."""

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10


@dataclass(frozen=True, slots=True)
class Built:
    """A packet as captured and the length it had on the wire."""

    data: bytes
    original_length: int


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(source: str, destination: str, protocol: int, transport: bytes, wire_length: int) -> bytes:
    """The IP header for a transport segment of ``wire_length`` bytes, followed by ``transport``."""
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(destination)
    if src.version != dst.version:
        raise ValueError(f"{source} and {destination} are not of one IP version")
    if src.version == 4:
        header = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            _IPV4_HEADER + wire_length,
            0,
            _DONT_FRAGMENT,
            _TTL,
            protocol,
            0,
            src.packed,
            dst.packed,
        )
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        return header + transport
    return struct.pack("!IHBB16s16s", 6 << 28, wire_length, protocol, _TTL, src.packed, dst.packed) + transport


def _pseudo_header(source: str, destination: str, protocol: int, length: int) -> bytes:
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(destination)
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, protocol, length)
    return src.packed + dst.packed + struct.pack("!IxxxB", length, protocol)


def _header_length(source: str) -> int:
    return _IPV4_HEADER if ipaddress.ip_address(source).version == 4 else _IPV6_HEADER


def udp_packet(source: tuple[str, int], destination: tuple[str, int], payload: bytes, length: int) -> Built:
    """An IP packet carrying one UDP datagram of ``length`` payload bytes, of which ``payload`` were kept."""
    wire = _UDP_HEADER + length
    if _header_length(source[0]) + wire > _MAX_IP_PACKET:
        raise ValueError(f"a UDP datagram of {length} bytes does not fit one IP packet")
    header = struct.pack("!HHHH", source[1], destination[1], wire, 0)
    checksum = _checksum(_pseudo_header(source[0], destination[0], _PROTO_UDP, wire) + header + payload)
    header = header[:6] + struct.pack("!H", checksum or 0xFFFF)  # 0 means "no checksum" (RFC 768)
    data = _ip(source[0], destination[0], _PROTO_UDP, header + payload, wire)
    return Built(data, len(data) + length - len(payload))


def tcp_packet(
    source: tuple[str, int],
    destination: tuple[str, int],
    *,
    seq: int,
    ack: int,
    flags: TcpFlags,
    payload: bytes = b"",
    length: int | None = None,
) -> Built:
    """An IP packet carrying one TCP segment of ``length`` payload bytes (default: all of ``payload``)."""
    length = len(payload) if length is None else length
    wire = _TCP_HEADER + length
    if _header_length(source[0]) + wire > _MAX_IP_PACKET:
        raise ValueError(f"a TCP segment of {length} bytes does not fit one IP packet")
    ack_number = ack & 0xFFFFFFFF if flags & TcpFlags.ACK else 0
    header = struct.pack(
        "!HHIIBBHHH",
        source[1],
        destination[1],
        seq & 0xFFFFFFFF,
        ack_number,
        (_TCP_HEADER // 4) << 4,
        int(flags),
        _WINDOW,
        0,
        0,
    )
    checksum = _checksum(_pseudo_header(source[0], destination[0], _PROTO_TCP, wire) + header + payload)
    header = header[:16] + struct.pack("!H", checksum) + header[18:]
    data = _ip(source[0], destination[0], _PROTO_TCP, header + payload, wire)
    return Built(data, len(data) + length - len(payload))
