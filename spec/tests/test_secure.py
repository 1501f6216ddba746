"""RRP/1-S: the clear header matches its construct definition, sealing round-trips, and nothing else opens."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rrp_spec import Flag, Op, pack_request
from rrp_spec.secure import KeySchedule, SecureContext
from rrp_spec.secure_vectors import KEY_ID, MASTER_SECRET, SECURE_VECTORS_NAME, build_secure_vectors, render
from rrp_spec.secure_wire import (
    MAX_KEY_ID,
    SECURE_HEADER_SIZE,
    SECURE_HEADER_STRUCT,
    SECURE_OVERHEAD,
    ClearHeader,
    Drop,
    Dropped,
    parse_clear_header,
)
from rrp_spec.vectors import data_file

CONTEXT = SecureContext.from_secret(MASTER_SECRET, KEY_ID)
sequences = st.integers(min_value=0, max_value=(1 << 64) - 1)
messages = st.binary(min_size=20, max_size=300)


@given(flags=st.integers(0, 255), key_id=st.integers(0, MAX_KEY_ID), sequence=sequences)
def test_the_clear_header_is_its_construct_definition(flags: int, key_id: int, sequence: int) -> None:
    packed = ClearHeader(flags, key_id, sequence).pack()
    built = SECURE_HEADER_STRUCT.build({"version": 1, "flags": flags, "key_id": key_id, "sequence": sequence})
    assert packed == built
    assert len(packed) == SECURE_HEADER_SIZE


def test_every_derived_value_differs() -> None:
    schedule = KeySchedule.derive(MASTER_SECRET, KEY_ID)
    values = [schedule.client_key, schedule.server_key, schedule.client_iv, schedule.server_iv]
    assert len(set(values)) == 4
    assert KeySchedule.derive(MASTER_SECRET, KEY_ID + 1).client_key != schedule.client_key


@pytest.mark.parametrize(("secret", "key_id"), [(bytes(31), 1), (bytes(32), 0), (bytes(32), MAX_KEY_ID + 1)])
def test_weak_secrets_and_invalid_key_ids_are_refused(secret: bytes, key_id: int) -> None:
    with pytest.raises(ValueError, match=r"master secret|key ID"):
        KeySchedule.derive(secret, key_id)


@given(sequence=sequences, message=messages, reply_sequence=sequences, reply=messages)
def test_a_request_and_its_reply_round_trip(sequence: int, message: bytes, reply_sequence: int, reply: bytes) -> None:
    sealed = CONTEXT.seal_request(sequence, message)
    assert len(sealed) == len(message) + SECURE_OVERHEAD
    assert CONTEXT.open_request(sealed) == message
    sealed_reply = CONTEXT.seal_reply(sealed[:SECURE_HEADER_SIZE], reply_sequence, reply)
    assert parse_clear_header(sealed_reply).flags == Flag.REPLY
    assert CONTEXT.open_reply(sealed_reply, sealed[:SECURE_HEADER_SIZE]) == reply


@given(sequence=sequences, message=messages, data=st.data())
def test_any_flipped_bit_is_dropped(sequence: int, message: bytes, data: st.DataObject) -> None:
    sealed = bytearray(CONTEXT.seal_request(sequence, message))
    index = data.draw(st.integers(0, len(sealed) - 1))
    sealed[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(Dropped):
        CONTEXT.open_request(bytes(sealed))


@given(sequence=sequences, other=sequences, message=messages)
def test_a_reply_opens_only_for_its_own_request(sequence: int, other: int, message: bytes) -> None:
    request_clear = ClearHeader(0, KEY_ID, sequence).pack()
    sealed_reply = CONTEXT.seal_reply(request_clear, 7, message)
    other_clear = ClearHeader(0, KEY_ID, other).pack()
    if other != sequence:
        with pytest.raises(Dropped) as caught:
            CONTEXT.open_reply(sealed_reply, other_clear)
        assert caught.value.reason is Drop.FORGED


def test_a_request_is_not_a_reply_and_a_reply_is_not_a_request() -> None:
    sealed = CONTEXT.seal_request(5, pack_request(Op.NOOP, 1))
    with pytest.raises(Dropped) as caught:
        CONTEXT.open_reply(sealed, sealed[:SECURE_HEADER_SIZE])
    assert caught.value.reason is Drop.WRONG_DIRECTION
    reply = CONTEXT.seal_reply(sealed[:SECURE_HEADER_SIZE], 6, pack_request(Op.NOOP, 1))
    with pytest.raises(Dropped) as caught:
        CONTEXT.open_request(reply)
    assert caught.value.reason is Drop.WRONG_DIRECTION


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"RS", Drop.TOO_SHORT),
        (b"RR" + bytes(40), Drop.BAD_MAGIC),
        (b"RS\x02" + bytes(40), Drop.BAD_VERSION),
        (b"RS\x01\x02" + bytes(40), Drop.RESERVED_FLAGS),
    ],
)
def test_garbage_is_dropped_before_any_cryptography(datagram: bytes, reason: Drop) -> None:
    with pytest.raises(Dropped) as caught:
        parse_clear_header(datagram)
    assert caught.value.reason is reason


def test_the_vector_file_is_current_and_every_vector_checks() -> None:
    text = data_file(SECURE_VECTORS_NAME).read_text()
    assert text == render(), "run 'make vectors'"
    document = json.loads(text)
    assert document == build_secure_vectors()
    request, reply = document["request"], document["reply"]
    assert CONTEXT.open_request(bytes.fromhex(request["hex"])).hex() == request["message_hex"]
    request_clear = bytes.fromhex(request["hex"])[:SECURE_HEADER_SIZE]
    assert CONTEXT.open_reply(bytes.fromhex(reply["hex"]), request_clear).hex() == reply["message_hex"]
    for vector in document["dropped"]:
        data = bytes.fromhex(vector["hex"])
        binding = vector.get("request_clear_hex")
        with pytest.raises(Dropped) as caught:
            _ = CONTEXT.open_reply(data, bytes.fromhex(binding)) if binding else CONTEXT.open_request(data)
        assert caught.value.reason.name == vector["drop"], vector["name"]
