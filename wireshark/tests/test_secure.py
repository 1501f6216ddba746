"""tshark with the generated dissector over RRP/1-S datagrams: the clear fields decoded, the protected part marked.

The datagrams are the secure profile's published vectors (a sealed ECHO request and
its sealed reply), on the secure port and, for the heuristic, on another one; and
datagrams whose clear header breaks a rule a receiver can judge without the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rrp_conformance.packets import udp_packet
from rrp_conformance.pcapng import Packet, write_pcapng
from rrp_spec import HEADER_SIZE
from rrp_spec.secure_vectors import SECURE_VECTORS_NAME
from rrp_spec.secure_wire import DEFAULT_SECURE_PORT, SECURE_HEADER_SIZE, TAG_SIZE, ClearHeader
from rrp_spec.vectors import data_file
from rrp_wireshark.tshark import Decoded, Message, decode

VECTORS: dict[str, Any] = json.loads(data_file(SECURE_VECTORS_NAME).read_text())
CLIENT, SERVER, OTHER = ("127.0.0.1", 30001), ("127.0.0.1", DEFAULT_SECURE_PORT), ("127.0.0.1", 30002)
REQUEST, REPLY = bytes.fromhex(VECTORS["request"]["hex"]), bytes.fromhex(VECTORS["reply"]["hex"])
SEALED = b"\x55" * (HEADER_SIZE + TAG_SIZE)
#: Datagrams in the order written: frame numbers are their positions, from 1.
DATAGRAMS: list[tuple[str, tuple[str, int], tuple[str, int], bytes]] = [
    ("request", CLIENT, SERVER, REQUEST),
    ("reply", SERVER, CLIENT, REPLY),
    ("heuristic", CLIENT, OTHER, REQUEST),
    ("short", CLIENT, SERVER, REQUEST[: SECURE_HEADER_SIZE + TAG_SIZE]),
    ("bad-version", CLIENT, SERVER, REQUEST[:2] + b"\x02" + REQUEST[3:]),
    ("reserved-flags", CLIENT, SERVER, ClearHeader(0x80, 7, 1).pack() + SEALED),
    ("key-id-zero", CLIENT, SERVER, ClearHeader(0, 0, 1).pack() + SEALED),
]
FRAME = {name: index for index, (name, *_) in enumerate(DATAGRAMS, 1)}


@pytest.fixture(scope="module")
def decoded(tshark: str, dissector: Path, tmp_path_factory: pytest.TempPathFactory) -> Decoded:
    packets = []
    for index, (_, source, destination, data) in enumerate(DATAGRAMS):
        built = udp_packet(source, destination, data, len(data))
        packets.append(Packet(1_800_000_000 + index / 1000, built.data, built.original_length))
    path = tmp_path_factory.mktemp("secure") / "secure.pcapng"
    with path.open("wb") as out:
        write_pcapng(out, packets, application="rrp-wireshark tests", interface="secure")
    return decode(tshark, dissector, path, layer="rrps")


def _assert_clear_fields(message: Message, datagram: bytes, sequence: int, reply: bool) -> None:
    assert int(message.one("rrps.version")) == 1
    assert int(message.one("rrps.key_id")) == VECTORS["key_id"]
    assert int(message.one("rrps.sequence")) == sequence
    assert message.one("rrps.flags.reply") == ("1" if reply else "0")
    assert bytes.fromhex(message.one("rrps.tag").replace(":", "")) == datagram[-TAG_SIZE:]
    ciphertext = bytes.fromhex(message.one("rrps.ciphertext").replace(":", ""))
    assert ciphertext == datagram[SECURE_HEADER_SIZE:-TAG_SIZE]
    assert not message.experts


def test_a_sealed_request_and_reply_show_their_clear_fields_and_the_protected_part(decoded: Decoded) -> None:
    request, reply = decoded.message(FRAME["request"]), decoded.message(FRAME["reply"])
    _assert_clear_fields(request, REQUEST, VECTORS["request"]["sequence"], reply=False)
    _assert_clear_fields(reply, REPLY, VECTORS["reply"]["sequence"], reply=True)
    # The sequence is microseconds since the epoch: 1 767 225 600 s is 2026-01-01 00:00:00 UTC.
    assert request.one("rrps.sequence.time") == "Jan  1, 2026 00:00:00.000000000 UTC"
    assert "rrp" not in decoded.layers[FRAME["request"]], "nothing inside is read as plain RRP/1"


def test_the_heuristic_finds_rrp_s_on_another_port(decoded: Decoded) -> None:
    _assert_clear_fields(decoded.message(FRAME["heuristic"]), REQUEST, VECTORS["request"]["sequence"], reply=False)


@pytest.mark.parametrize(
    ("name", "expert"),
    [
        ("short", "short"),
        ("bad-version", "bad_version"),
        ("reserved-flags", "reserved_flags"),
        ("key-id-zero", "key_id_zero"),
    ],
)
def test_clear_header_rules_are_flagged(decoded: Decoded, name: str, expert: str) -> None:
    assert decoded.message(FRAME[name]).experts == {expert}
