"""tshark with the generated dissector over a capture of every test vector: each field, each expert, each match.

Every vector of the test vectors (rrp-v1.json) is written as a UDP datagram and/or a TCP
stream (after its transport) to RRP's default port; a reply vector follows a
request carrying the operation and ID it answers. What the dissector must flag is
decided by the spec's own judges, not by this test: a request vector must raise an
expert naming the requirement :func:`rrp_spec.check_request` says it breaks, a
reply vector one naming each problem :func:`rrp_spec.reply_problems` finds, and a
valid vector must raise none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rrp_conformance.packets import TCP_SEGMENT_PAYLOAD, TcpFlags, tcp_packet, udp_packet
from rrp_conformance.pcapng import Packet, write_pcapng
from rrp_spec import (
    AMPLIFICATION_FACTOR,
    DEFAULT_PORT,
    HEADER_SIZE,
    Header,
    Op,
    ProtocolViolation,
    Result,
    Transport,
    check_request,
    pack_header,
    pack_request,
    reply_problems,
    unpack_header,
)
from rrp_spec.vectors import VECTORS_NAME, data_file
from rrp_wireshark import EXPERT_RULES
from rrp_wireshark.tshark import Decoded, Message, decode

DOCUMENT = json.loads(data_file(VECTORS_NAME).read_text())
VECTORS: list[dict[str, Any]] = DOCUMENT["vectors"]
CLIENT = "127.0.0.1"
SERVER = ("127.0.0.1", DEFAULT_PORT)
#: Ports off RRP's default, where only the heuristic can find RRP.
OTHER_PORT = 40999


@dataclass
class CaptureBuilder:
    """Packets written in order, one millisecond apart, with each interesting frame noted by name."""

    packets: list[Packet] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)
    next_port: int = 20000

    def port(self) -> int:
        self.next_port += 1
        return self.next_port

    def _add(self, built: Any) -> int:
        self.packets.append(Packet(1_800_000_000 + len(self.packets) / 1000, built.data, built.original_length))
        return len(self.packets)

    def udp(self, source: tuple[str, int], destination: tuple[str, int], data: bytes) -> int:
        return self._add(udp_packet(source, destination, data, len(data)))

    def tcp(self, client: tuple[str, int], server: tuple[str, int]) -> TcpStream:
        """A new connection, its handshake written."""
        self._add(tcp_packet(client, server, seq=1000, ack=0, flags=TcpFlags.SYN))
        self._add(tcp_packet(server, client, seq=5000, ack=1001, flags=TcpFlags.SYN | TcpFlags.ACK))
        self._add(tcp_packet(client, server, seq=1001, ack=5001, flags=TcpFlags.ACK))
        return TcpStream(self, client, server, 1001, 5001)


@dataclass
class TcpStream:
    """One connection's sequence numbers; ``send`` writes segments and returns the last one's frame."""

    builder: CaptureBuilder
    client: tuple[str, int]
    server: tuple[str, int]
    client_next: int
    server_next: int

    def send(self, data: bytes, *, from_client: bool = True, segment: int = TCP_SEGMENT_PAYLOAD) -> int:
        frame = 0
        for start in range(0, len(data), segment):
            chunk = data[start : start + segment]
            if from_client:
                built = tcp_packet(
                    self.client, self.server, seq=self.client_next, ack=self.server_next, flags=_PSH, payload=chunk
                )
                self.client_next += len(chunk)
            else:
                built = tcp_packet(
                    self.server, self.client, seq=self.server_next, ack=self.client_next, flags=_PSH, payload=chunk
                )
                self.server_next += len(chunk)
            frame = self.builder._add(built)
        return frame


_PSH = TcpFlags.PSH | TcpFlags.ACK


def _transports(vector: dict[str, Any]) -> list[str]:
    return ["udp", "tcp"] if vector["transport"] == "any" else [vector["transport"]]


def _request_for(vector: dict[str, Any]) -> bytes:
    """The request a reply vector answers: its operation and ID, and a payload as long as an ECHO reply's."""
    data = bytes.fromhex(vector["hex"])
    asked = vector["request"]
    payload = b"\0" * max(len(data) - HEADER_SIZE, 0) if asked["operation"] == Op.ECHO else b""
    return pack_request(asked["operation"], asked["request_id"], payload)


def build_vector_capture() -> tuple[list[Packet], dict[str, int]]:
    """Every vector on each of its transports, and the extra exchanges the vectors cannot show alone."""
    b = CaptureBuilder()
    for vector in VECTORS:
        data = bytes.fromhex(vector["hex"])
        for transport in _transports(vector):
            name = f"{transport}:{vector['name']}"
            client = (CLIENT, b.port())
            if transport == "udp":
                if vector["direction"] == "reply":
                    b.frames[name + ":request"] = b.udp(client, SERVER, _request_for(vector))
                    b.frames[name] = b.udp(SERVER, client, data)
                else:
                    b.frames[name] = b.udp(client, SERVER, data)
                continue
            stream = b.tcp(client, SERVER)
            if vector["direction"] == "reply":
                b.frames[name + ":request"] = stream.send(_request_for(vector))
                b.frames[name] = stream.send(data, from_client=False)
            elif data:
                b.frames[name] = stream.send(data)

    # Three requests in one segment, and one request one byte per segment.
    pipelined = [pack_request(Op.ECHO, 0x1001 + n, bytes([n]) * n) for n in range(3)]
    b.frames["tcp:pipelined"] = b.tcp((CLIENT, b.port()), SERVER).send(b"".join(pipelined))
    b.frames["tcp:bytewise"] = b.tcp((CLIENT, b.port()), SERVER).send(pack_request(Op.ECHO, 0x2002, b"hi"), segment=1)

    # A retransmitted UDP request: the reply answers the second transmission.
    client = (CLIENT, b.port())
    again = pack_request(Op.INCREMENT, 0x3003)
    b.frames["udp:first"] = b.udp(client, SERVER, again)
    b.frames["udp:retransmission"] = b.udp(client, SERVER, again)
    counter = (7).to_bytes(8, "big")
    b.frames["udp:retransmission:reply"] = b.udp(SERVER, client, _reply_to(again, Result.OK, counter))

    # Amplification: a reply of exactly 3x its request is allowed, one byte more is not.
    for name, extra in (("at-limit", 0), ("over-limit", 1)):
        client = (CLIENT, b.port())
        request = pack_request(Op.ECHO, 0x4004 + extra)
        reply = _reply_to(request, Result.OK, b"\xaa" * (AMPLIFICATION_FACTOR * len(request) - HEADER_SIZE + extra))
        b.frames[f"udp:amplification-{name}:request"] = b.udp(client, SERVER, request)
        b.frames[f"udp:amplification-{name}"] = b.udp(SERVER, client, reply)

    # Off the default port: the heuristic finds RRP, and leaves other traffic alone.
    client, server = (CLIENT, b.port()), (CLIENT, OTHER_PORT)
    request = pack_request(Op.ECHO, 0x5005, b"heuristic")
    b.frames["heuristic:udp"] = b.udp(client, server, request)
    b.frames["heuristic:udp:reply"] = b.udp(server, client, _reply_to(request, Result.OK, b"heuristic"))
    stream = b.tcp((CLIENT, b.port()), (CLIENT, OTHER_PORT + 1))
    request = pack_request(Op.ECHO, 0x6006, b"x" * 100)
    b.frames["heuristic:tcp"] = stream.send(request, segment=30)
    b.frames["heuristic:tcp:reply"] = stream.send(_reply_to(request, Result.OK, b"x" * 100), from_client=False)
    b.frames["heuristic:not-rrp"] = b.udp((CLIENT, b.port()), server, b"GET / HTTP/1.1\r\nHost: rrp\r\n\r\n")
    return b.packets, b.frames


def _reply_to(request: bytes, result: int, payload: bytes) -> bytes:
    h = unpack_header(request)
    reply = Header(flags=1, operation=h.operation, result=result, request_id=h.request_id, size=len(payload))
    return pack_header(reply) + payload


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    packets, frames = build_vector_capture()
    path = tmp_path_factory.mktemp("vectors") / "vectors.pcapng"
    with path.open("wb") as out:
        write_pcapng(out, packets, application="rrp-wireshark tests", interface="vectors")
    return path, frames


@pytest.fixture(scope="module")
def decoded(tshark: str, dissector: Path, capture: tuple[Path, dict[str, int]]) -> Decoded:
    return decode(tshark, dissector, capture[0])


def _experts_naming(rid: str) -> set[str]:
    return {rule.key for rule in EXPERT_RULES if rid in rule.requirements}


def _violation(vector: dict[str, Any], transport: str) -> str | None:
    """The requirement a request vector breaks, by the spec's own judge (None when it is valid)."""
    data = bytes.fromhex(vector["hex"])
    limit = DOCUMENT["limits"][f"{transport}_max_payload"]
    if len(data) < HEADER_SIZE:
        return "UDP-SRV-1" if transport == "udp" else None
    try:
        check_request(unpack_header(data), transport=Transport(transport), max_payload=limit, datagram_length=len(data))
    except ProtocolViolation as violation:
        return violation.requirement
    return None


def _cases() -> list[tuple[str, dict[str, Any]]]:
    return [(transport, v) for v in VECTORS for transport in _transports(v)]


@pytest.mark.parametrize(("transport", "vector"), _cases(), ids=[f"{t}:{v['name']}" for t, v in _cases()])
def test_each_vector_decodes_and_is_flagged_as_the_spec_judges_it(
    decoded: Decoded, capture: tuple[Path, dict[str, int]], transport: str, vector: dict[str, Any]
) -> None:
    frames = capture[1]
    data = bytes.fromhex(vector["hex"])
    name = f"{transport}:{vector['name']}"
    if not data:
        assert name not in frames or not decoded.messages(frames[name])  # an empty datagram has nothing to dissect
        return
    if transport == "tcp" and len(data) < HEADER_SIZE:
        assert not decoded.messages(frames[name]), "a TCP message shorter than a header is never complete"
        return
    message = decoded.message(frames[name])
    expect = vector["expect"]
    if "decoded" in expect:
        _assert_fields(message, expect["decoded"])
    if vector["direction"] == "request":
        rid = _violation(vector, transport)
        if rid is None:
            assert not message.experts, f"a valid request raised {message.experts}"
        else:
            assert message.experts & _experts_naming(rid), f"{rid} not among {message.experts}"
        return
    request = unpack_header(_request_for(vector))
    problems = reply_problems(data, request=request, datagram=transport == "udp")
    for problem in problems:
        assert message.experts & _experts_naming(problem.requirement), f"{problem} not among {message.experts}"
    if not problems:
        assert not message.experts, f"a valid reply raised {message.experts}"
        assert message.one("rrp.request_in") == str(frames[name + ":request"])
        assert decoded.message(frames[name + ":request"]).one("rrp.response_in") == str(frames[name])
        # Packets are 1 ms apart; a float of seconds since the epoch holds them to a fraction of a microsecond.
        elapsed = 0.001 * (frames[name] - frames[name + ":request"])
        assert float(message.one("rrp.time")) == pytest.approx(elapsed, abs=1e-6)


def _assert_fields(message: Message, expected: dict[str, Any]) -> None:
    assert int(message.one("rrp.version")) == expected["version"]
    assert int(message.one("rrp.flags"), 16) == expected["flags"]
    assert int(message.one("rrp.operation"), 16) == expected["operation"]
    assert int(message.one("rrp.result")) == expected["result"]
    assert int(message.one("rrp.request_id"), 16) == expected["request_id"]
    assert int(message.one("rrp.size")) == expected["size"]
    assert message.one("rrp.flags.reply") == str(expected["flags"] & 1)
    payload = bytes.fromhex(expected["payload"])
    shown = message.fields.get("rrp.payload", []) + message.fields.get("rrp.counter", [])
    if not payload:
        assert not shown
    elif "rrp.counter" in message.fields:
        assert int(message.one("rrp.counter")) == int.from_bytes(payload, "big")
    else:
        assert bytes.fromhex(message.one("rrp.payload").replace(":", "")) == payload


def test_several_messages_in_one_segment_are_each_dissected(decoded: Decoded, capture: Any) -> None:
    messages = decoded.messages(capture[1]["tcp:pipelined"])
    assert [int(m.one("rrp.request_id"), 16) for m in messages] == [0x1001, 0x1002, 0x1003]
    assert [int(m.one("rrp.size")) for m in messages] == [0, 1, 2]


def test_a_message_split_over_segments_is_reassembled(decoded: Decoded, capture: Any) -> None:
    frame = capture[1]["tcp:bytewise"]
    message = decoded.message(frame)
    assert message.one("rrp.payload") == "68:69"
    assert not decoded.messages(frame - 1), "only the segment completing the message shows it"
    big = decoded.message(capture[1]["tcp:tcp-echo-over-udp-max"])  # two segments of a 65,508-byte message
    assert int(big.one("rrp.size")) == 65488


def test_a_retransmission_is_marked_and_the_reply_matches_the_latest_transmission(
    decoded: Decoded, capture: Any
) -> None:
    frames = capture[1]
    second = decoded.message(frames["udp:retransmission"])
    assert second.one("rrp.retransmission_of") == str(frames["udp:first"])
    assert second.experts == {"retransmission"}
    assert second.one("rrp.response_in") == str(frames["udp:retransmission:reply"])
    reply = decoded.message(frames["udp:retransmission:reply"])
    assert reply.one("rrp.request_in") == str(frames["udp:retransmission"])
    assert int(reply.one("rrp.counter")) == 7
    assert "rrp.response_in" not in decoded.message(frames["udp:first"]).fields


def test_a_udp_reply_over_three_times_its_request_is_flagged(decoded: Decoded, capture: Any) -> None:
    frames = capture[1]
    assert not decoded.message(frames["udp:amplification-at-limit"]).experts
    over = decoded.message(frames["udp:amplification-over-limit"])
    assert over.experts == {"amplification"}
    assert float(over.one("rrp.amplification")) > AMPLIFICATION_FACTOR


def test_the_heuristic_finds_rrp_on_other_ports_and_nothing_else(decoded: Decoded, capture: Any) -> None:
    frames = capture[1]
    for name in ("heuristic:udp", "heuristic:tcp"):
        request, reply = decoded.message(frames[name]), decoded.message(frames[name + ":reply"])
        assert reply.one("rrp.request_in") == str(frames[name])
        assert request.one("rrp.response_in") == str(frames[name + ":reply"])
    assert not decoded.messages(frames["heuristic:not-rrp"])


def test_every_expert_shows_its_message_with_its_requirement_ids(decoded: Decoded) -> None:
    shown: dict[str, set[str]] = {}
    for messages in decoded.frames.values():
        for message in messages:
            for key in message.experts:
                shown.setdefault(key, set()).update(message.fields.get("_ws.expert.message", []))
    rules = {rule.key: rule for rule in EXPERT_RULES}
    # Every rule a single message can break is exercised by the vectors and the extra exchanges.
    assert set(rules) - set(shown) == {"counter_size", "operation_mismatch", "size_over_limit"} - set(shown)
    for key, texts in shown.items():
        assert rules[key].message in texts
        assert all(rid in rules[key].message for rid in rules[key].requirements)
