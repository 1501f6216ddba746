"""Test vectors for RRP/1-S: fixed keys, so another language can check its sealing byte for byte.

``make vectors`` writes ``rrp-v1-secure.json`` beside the RRP/1 vectors; ``make test`` fails when the
checked-in file differs. The file gives the master secret and key ID, every derived key and IV, then
protected requests and replies with the RRP/1 message inside, and tampered datagrams with the reason a
receiver drops each (SUDP-SRV-1, SUDP-CLI-1).
"""

from __future__ import annotations

import json
from typing import Any

from .codes import Op, Result
from .header import pack_reply, pack_request, unpack_header
from .secure import KeySchedule, SecureContext, nonce
from .secure_wire import SECURE_HEADER_SIZE, ClearHeader, Dropped, parse_clear_header
from .vectors import VECTORS_PATH, write_or_check

#: The file name, in the vectors directory.
SECURE_VECTORS_NAME = "rrp-v1-secure.json"

#: The vectors' master secret: 32 bytes 0x00..0x1f (never use a secret like this).
MASTER_SECRET = bytes(range(32))
#: The vectors' key ID.
KEY_ID = 0x0000_2A01
#: A sequence: 2026-01-01T00:00:00Z in microseconds.
REQUEST_SEQUENCE = 1_767_225_600_000_000
#: The server's sequence for the reply, 1.5 ms later.
REPLY_SEQUENCE = REQUEST_SEQUENCE + 1_500


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _drop_reason(attempt: Any) -> str:
    try:
        attempt()
    except Dropped as dropped:
        return dropped.reason.name
    raise AssertionError("a tampered vector opened")


def build_secure_vectors() -> dict[str, Any]:
    """The whole vector document."""
    schedule = KeySchedule.derive(MASTER_SECRET, KEY_ID)
    context = SecureContext(schedule)
    request = pack_request(Op.ECHO, 0x0123_4567_89AB_CDEF, b"hello")
    sealed_request = context.seal_request(REQUEST_SEQUENCE, request)
    request_clear = sealed_request[:SECURE_HEADER_SIZE]
    reply = pack_reply(unpack_header(request), Result.OK, b"hello")
    sealed_reply = context.seal_reply(request_clear, REPLY_SEQUENCE, reply)
    other_request_clear = ClearHeader(0, KEY_ID, REQUEST_SEQUENCE + 1).pack()
    other_secret = SecureContext.from_secret(bytes(range(1, 33)), KEY_ID)
    tampered = [
        ("request-ciphertext-bit", "a request with one ciphertext bit flipped", _flip(sealed_request, 20), None),
        ("request-tag-bit", "a request with one tag bit flipped", _flip(sealed_request, len(sealed_request) - 1), None),
        ("request-key-id", "a request whose clear key ID was changed", _flip(sealed_request, 7), None),
        ("request-sequence", "a request whose clear sequence was changed", _flip(sealed_request, 15), None),
        ("reply-other-request", "a reply opened as the answer to another request", sealed_reply, other_request_clear),
        ("reply-ciphertext-bit", "a reply with one ciphertext bit flipped", _flip(sealed_reply, 20), request_clear),
    ]
    negatives = []
    for name, description, data, binding in tampered:
        if binding is None:
            reason = _drop_reason(lambda d=data: context.open_request(d, parse_clear_header(d)))
        else:
            reason = _drop_reason(lambda d=data, b=binding: context.open_reply(d, b))
        entry: dict[str, Any] = {"name": name, "description": description, "hex": data.hex(), "drop": reason}
        if binding is not None:
            entry["request_clear_hex"] = binding.hex()
        negatives.append(entry)
    under_other_secret = other_secret.seal_reply(request_clear, REPLY_SEQUENCE, reply)
    negatives.append(
        {
            "name": "reply-other-secret",
            "description": "the same reply sealed with the same key ID under another master secret",
            "hex": under_other_secret.hex(),
            "request_clear_hex": request_clear.hex(),
            "drop": _drop_reason(lambda: context.open_reply(under_other_secret, request_clear)),
        }
    )
    return {
        "profile": "RRP/1-S over UDP",
        "aead": "ChaCha20-Poly1305 (RFC 8439)",
        "kdf": "HKDF-SHA256 (RFC 5869), empty salt, info = 'RRP/1-S ' || key_id (4 bytes) || label",
        "master_secret_hex": MASTER_SECRET.hex(),
        "key_id": KEY_ID,
        "derived": {
            "client_key_hex": schedule.client_key.hex(),
            "server_key_hex": schedule.server_key.hex(),
            "client_iv_hex": schedule.client_iv.hex(),
            "server_iv_hex": schedule.server_iv.hex(),
        },
        "request": {
            "sequence": REQUEST_SEQUENCE,
            "nonce_hex": nonce(schedule.client_iv, REQUEST_SEQUENCE).hex(),
            "message_hex": request.hex(),
            "hex": sealed_request.hex(),
        },
        "reply": {
            "sequence": REPLY_SEQUENCE,
            "nonce_hex": nonce(schedule.server_iv, REPLY_SEQUENCE).hex(),
            "associated_data_hex": (sealed_reply[:SECURE_HEADER_SIZE] + request_clear).hex(),
            "message_hex": reply.hex(),
            "hex": sealed_reply.hex(),
        },
        "dropped": negatives,
    }


def render() -> str:
    """The vector file's text."""
    return json.dumps(build_secure_vectors(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m rrp_spec.secure_vectors [--check]``: write the secure vector file, or check it is current."""
    path = VECTORS_PATH.parent / SECURE_VECTORS_NAME
    return write_or_check(path, render(), "the RRP/1-S vectors", argv, "rrp_spec.secure_vectors")


if __name__ == "__main__":
    raise SystemExit(main())
