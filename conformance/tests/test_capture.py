"""The run's pcapng: the file format, the packets rebuilt from wire logs, and the frame numbers the reports cite.

The file is read back here by a reader written from the pcapng specification, and
the packets are parsed field by field, so neither test trusts the writer it checks.
(wireshark/tests has tshark read a whole conformance run's capture.)
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

from rrp_conformance.capture import build_capture
from rrp_conformance.outcomes import CheckResult, ExitCode, Failure, Outcome
from rrp_conformance.packets import TCP_SEGMENT_PAYLOAD, TcpFlags, tcp_packet, udp_packet
from rrp_conformance.pcapng import LINKTYPE_RAW, Packet, write_pcapng
from rrp_conformance.reports import RunReport, render_markdown
from rrp_conformance.wirelog import Control, Direction, Flow, WireEvent

CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 7373)


def _blocks(data: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of every block, checking each block's two length fields agree."""
    blocks, at = [], 0
    while at < len(data):
        kind, length = struct.unpack_from("<II", data, at)
        assert length % 4 == 0 and struct.unpack_from("<I", data, at + length - 4)[0] == length
        blocks.append((kind, data[at + 8 : at + length - 4]))
        at += length
    return blocks


def _options(body: bytes) -> list[tuple[int, bytes]]:
    found, at = [], 0
    while at < len(body):
        code, length = struct.unpack_from("<HH", body, at)
        if code == 0:
            break
        found.append((code, body[at + 4 : at + 4 + length]))
        at += 4 + length + (-length % 4)
    return found


def test_the_file_has_one_section_one_raw_ip_interface_and_commented_packets(tmp_path: Path) -> None:
    packets = [Packet(1_700_000_000.25, b"\x45" + b"\0" * 20, 30, ("first", "second")), Packet(1_700_000_001.0, b"", 0)]
    path = tmp_path / "c.pcapng"
    with path.open("wb") as out:
        write_pcapng(out, packets, application="test", interface="lo")
    blocks = _blocks(path.read_bytes())
    assert [kind for kind, _ in blocks] == [0x0A0D0D0A, 1, 6, 6]
    assert struct.unpack_from("<IHH", blocks[0][1]) == (0x1A2B3C4D, 1, 0)
    assert struct.unpack_from("<H", blocks[1][1])[0] == LINKTYPE_RAW
    assert (9, b"\x09") in _options(blocks[1][1][8:])  # nanosecond timestamps
    interface, high, low, captured, original = struct.unpack_from("<IIIII", blocks[2][1])
    assert (interface, captured, original) == (0, 21, 30)
    assert (high << 32 | low) == 1_700_000_000_250_000_000
    comments = [value for code, value in _options(blocks[2][1][20 + 24 :]) if code == 1]
    assert comments == [b"first", b"second"]


def _ones_complement_sum(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_udp_and_tcp_packets_carry_right_lengths_and_checksums_over_ipv4_and_ipv6() -> None:
    for host in ("127.0.0.1", "::1"):
        src, dst = (host, 40000), (host, 7373)
        v4 = ":" not in host
        ip_header = 20 if v4 else 40
        pseudo_addresses = ipaddress.ip_address(host).packed * 2
        udp = udp_packet(src, dst, b"hello", 5)
        assert udp.original_length == len(udp.data) == ip_header + 8 + 5
        segment = udp.data[ip_header:]
        assert struct.unpack_from("!HHH", segment) == (40000, 7373, 13)
        pseudo = pseudo_addresses + (struct.pack("!BBH", 0, 17, 13) if v4 else struct.pack("!IxxxB", 13, 17))
        assert _ones_complement_sum(pseudo + segment) == 0xFFFF
        tcp = tcp_packet(src, dst, seq=7, ack=9, flags=TcpFlags.PSH | TcpFlags.ACK, payload=b"ab")
        segment = tcp.data[ip_header:]
        assert struct.unpack_from("!HHII", segment) == (40000, 7373, 7, 9)
        pseudo = pseudo_addresses + (struct.pack("!BBH", 0, 6, 22) if v4 else struct.pack("!IxxxB", 22, 6))
        assert _ones_complement_sum(pseudo + segment) == 0xFFFF
        if v4:
            assert _ones_complement_sum(tcp.data[:20]) == 0xFFFF  # the IPv4 header checksum


def _event(time: float, direction: Direction, flow: Flow | None, data: bytes = b"", **kw: object) -> WireEvent:
    return WireEvent(
        time,
        direction,
        "ch",
        data[:256],
        len(data),
        True,
        str(kw.get("note", "")),
        flow,
        1e9 + time,
        data,
        kw.get("control"),  # type: ignore[arg-type]
    )


def _result(name: str, events: list[WireEvent], outcome: Outcome = Outcome.PASS) -> CheckResult:
    failures = (Failure("SRV-10", "the payload back", "nothing"),) if outcome is Outcome.FAIL else ()
    return CheckResult(name, "title", "area", "tcp", ("SRV-10",), outcome, failures, wire_log=tuple(events))


def _tcp_fields(data: bytes) -> tuple[int, int, int, int]:
    seq, ack, _, flags = struct.unpack_from("!IIBB", data, 24)
    return seq, ack, flags, len(data) - 40


def test_tcp_connections_get_a_handshake_continuous_sequence_numbers_and_their_closes() -> None:
    flow = Flow("tcp", CLIENT, SERVER)
    big = bytes(range(256)) * 300  # more than one segment
    events = [
        _event(0.0, Direction.EVENT, flow, control=Control.CONNECTED),
        _event(0.1, Direction.SENT, flow, big, note="a long request"),
        _event(0.2, Direction.RECEIVED, flow, b"reply"),
        _event(0.3, Direction.EVENT, flow, control=Control.PEER_CLOSED),
        _event(0.4, Direction.EVENT, None, note="a timeout: no packet"),
        _event(0.5, Direction.EVENT, flow, control=Control.CLOSED),
    ]
    capture = build_capture([_result("tcp/one", events, Outcome.FAIL)])
    fields = [_tcp_fields(p.data) for p in capture.packets]
    syn, syn_ack, ack = fields[:3]
    assert syn[2] == TcpFlags.SYN and syn_ack[2] == TcpFlags.SYN | TcpFlags.ACK and ack[2] == TcpFlags.ACK
    assert syn_ack[1] == syn[0] + 1 and ack[:2] == (syn[0] + 1, syn_ack[0] + 1)
    data = fields[3 : 3 + 2]
    assert [length for *_, length in data] == [TCP_SEGMENT_PAYLOAD, len(big) - TCP_SEGMENT_PAYLOAD]
    assert data[1][0] == data[0][0] + TCP_SEGMENT_PAYLOAD
    assert b"".join(p.data[40:] for p in capture.packets[3:5]) == big
    reply, peer_fin, fin = fields[5:]
    assert reply[0] == syn_ack[0] + 1 and reply[1] == syn[0] + 1 + len(big)
    assert peer_fin[2] == TcpFlags.FIN | TcpFlags.ACK and peer_fin[0] == reply[0] + 5
    assert fin[2] == TcpFlags.FIN | TcpFlags.ACK and fin[0] == syn[0] + 1 + len(big)
    assert capture.frames == {"tcp/one": tuple(range(1, 9))}
    first = capture.packets[0].comments[0]
    assert "check 1/1: tcp/one [FAIL]" in first and "FAILED SRV-10: expected the payload back" in first
    assert capture.packets[3].comments == ("a long request",)


def test_udp_datagrams_and_frame_numbers_per_check_reach_the_report() -> None:
    flow = Flow("udp", CLIENT, SERVER)
    results = [
        _result("udp/a", [_event(0.0, Direction.SENT, flow, b"x" * 30), _event(0.1, Direction.RECEIVED, flow, b"y")]),
        _result("udp/none", [_event(0.0, Direction.EVENT, None, note="nothing sent")]),
        _result("udp/b", [_event(0.0, Direction.SENT, flow, b"z")], Outcome.FAIL),
    ]
    capture = build_capture(results)
    assert capture.frames == {"udp/a": (1, 2), "udp/b": (3,)}
    sent, received = capture.packets[:2]
    assert struct.unpack_from("!HH", sent.data, 20) == (CLIENT[1], SERVER[1])
    assert struct.unpack_from("!HH", received.data, 20) == (SERVER[1], CLIENT[1])
    report = RunReport(
        "server", {}, "now", 1.0, False, 1.0, tuple(results), (), {}, ExitCode.FAILED, capture.frames, "capture.pcapng"
    )
    assert report.packets("udp/a") == "frames 1-2 of capture.pcapng"
    assert report.packets("udp/none") == ""
    assert "Packets: frame 3 of capture.pcapng" in render_markdown(report)


def test_a_comment_too_long_for_one_option_is_cut_and_a_failure_text_shortened(tmp_path: Path) -> None:
    long = "é" * 40_000  # 80,000 bytes of UTF-8: more than a 16-bit option length
    path = tmp_path / "c.pcapng"
    with path.open("wb") as out:
        write_pcapng(out, [Packet(1.0, b"", 0, (long,))], application="test", interface="lo")
    (_, packet) = _blocks(path.read_bytes())[2]
    (code, value) = _options(packet[20:])[0]
    assert code == 1 and len(value) <= 0xFFFF and value.decode().endswith(" [cut]")
    flow = Flow("udp", CLIENT, SERVER)
    result = CheckResult(
        "udp/x",
        "t",
        "a",
        "udp",
        ("SRV-10",),
        Outcome.FAIL,
        (Failure("SRV-10", "e", "x" * 10_000),),
        wire_log=(_event(0.0, Direction.SENT, flow, b"z"),),
    )
    comment = build_capture([result]).packets[0].comments[0]
    assert len(comment) < 1_000 and comment.endswith("[...]")
