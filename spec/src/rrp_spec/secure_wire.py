"""RRP/1-S over UDP, the wire: the clear header, its constants, and the checks that need no key.

This part of the secure profile needs no cryptography library, so that the catalogue, the site and
tools that only read headers (a dissector, a suite that lists its checks) can import it anywhere.
The key schedule, nonces and sealing are in :mod:`rrp_spec.secure`.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from construct import Const, Int8ub, Int32ub, Int64ub, Struct

from .codes import Flag
from .layout import FieldLayout, layout_of, struct_format

#: The magic bytes of a protected datagram: ASCII "RS". A plain RRP/1 receiver drops it as bad magic.
SECURE_MAGIC = b"RS"
#: The version of the secure profile.
SECURE_VERSION = 1

#: The clear header of every protected datagram, every integer big-endian.
SECURE_HEADER_STRUCT = Struct(
    "magic" / Const(SECURE_MAGIC) * 'ASCII "RS" (0x52 0x53); anything else is not RRP/1-S',
    "version" / Int8ub * "version of the secure profile; 1",
    "flags" / Int8ub * "bit 0 (0x01) REPLY, as in RRP/1; bits 1-7 reserved, MUST be 0",
    "key_id" / Int32ub * "which pre-shared key protects the datagram; one key belongs to one client",
    "sequence"
    / Int64ub
    * "the sender's sequence number under this key and direction: never repeats, strictly increasing; "
    "microseconds since the Unix epoch when the datagram was sealed (or later, never earlier)",
)

#: Bytes of the clear header.
SECURE_HEADER_SIZE: int = SECURE_HEADER_STRUCT.sizeof()
#: Bytes of the AEAD tag after the ciphertext.
TAG_SIZE = 16
#: Bytes a protected datagram adds to the RRP/1 message it carries.
SECURE_OVERHEAD = SECURE_HEADER_SIZE + TAG_SIZE
#: Bytes of a master secret at least (256 bits, the AEAD's key size).
MIN_MASTER_SECRET_SIZE = 32
#: Bytes of each derived key (ChaCha20-Poly1305's key size).
KEY_SIZE = 32
#: Bytes of the AEAD nonce (and of each derived IV).
NONCE_SIZE = 12
#: The largest key ID; 0 is reserved and never identifies a key.
MAX_KEY_ID = 0xFFFF_FFFF
#: A request whose sequence (as a time) is further than this from the server's clock is stale, in seconds.
#: It must exceed the retry span (a retransmission repeats the same sealed bytes) plus clock skew.
FRESHNESS_WINDOW = 30.0
#: Sequence numbers per second of time: the sequence is a count of microseconds.
SEQUENCE_TICKS_PER_SECOND = 1_000_000
#: Messages sealed under one key before it must be replaced (confidentiality limit; RFC 8446 section 5.5 and
#: the CFRG AEAD-limits analysis put ChaCha20-Poly1305 far beyond this, so it is a conservative round number).
MAX_SEALED_PER_KEY = 1 << 32
#: Failed openings under one key before the key must no longer be accepted (integrity limit, as DTLS 1.3's
#: for ChaCha20-Poly1305, RFC 9147 section 4.5.3).
MAX_FAILED_OPENINGS_PER_KEY = 1 << 36
#: The ALPN protocol identifier of RRP/1 over TLS (RFC 7301).
TLS_ALPN = "rrp/1"
#: Port the secure profiles use when none is given: RRP/1 over TLS on TCP, RRP/1-S on UDP.
DEFAULT_SECURE_PORT = 7374

#: The clear header's fields in wire order, derived from the construct definition.
SECURE_HEADER_LAYOUT: tuple[FieldLayout, ...] = layout_of(SECURE_HEADER_STRUCT)
#: The clear header's ``struct`` format (``>2sBBLQ``).
CLEAR_HEADER_FORMAT: str = struct_format(SECURE_HEADER_LAYOUT)
_CLEAR = struct.Struct(CLEAR_HEADER_FORMAT)
assert _CLEAR.size == SECURE_HEADER_SIZE, "struct format and construct definition disagree on the clear header"


class Drop(StrEnum):
    """Why a receiver dropped a protected datagram without answering (SUDP-SRV-3, SUDP-CLI-1)."""

    #: Shorter than a clear header, a tag and an RRP/1 header.
    TOO_SHORT = "shorter than a protected RRP/1 header"
    #: Not ``"RS"``.
    BAD_MAGIC = "not RRP/1-S (bad magic)"
    #: Not version 1.
    BAD_VERSION = "unknown RRP/1-S version"
    #: A reserved flag bit is set.
    RESERVED_FLAGS = "reserved flag bits set"
    #: A request where a reply was expected, or the reverse.
    WRONG_DIRECTION = "REPLY flag does not match the direction"
    #: A key ID the receiver does not hold.
    UNKNOWN_KEY = "unknown key ID"
    #: The sequence number is too far from the receiver's clock.
    STALE = "sequence outside the freshness window"
    #: The sequence number was already accepted under this key, or is below the replay floor.
    REPLAYED = "sequence already seen (replay)"
    #: The tag does not verify: tampered, forged, or sealed under another key or for another request.
    FORGED = "authentication failed"


class Dropped(Exception):
    """A protected datagram that must be dropped silently; ``reason`` says why (for counters and logs)."""

    def __init__(self, reason: Drop) -> None:
        super().__init__(reason.value)
        #: Why it was dropped.
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ClearHeader:
    """The clear header of a protected datagram, field for field."""

    #: Flag bits: REPLY and the reserved bits.
    flags: int
    #: The key the datagram is protected with.
    key_id: int
    #: The sender's sequence number.
    sequence: int

    def pack(self) -> bytes:
        """The 16 bytes on the wire."""
        return _CLEAR.pack(SECURE_MAGIC, SECURE_VERSION, self.flags, self.key_id, self.sequence)

    @property
    def is_reply(self) -> bool:
        """True when the REPLY flag is set."""
        return bool(self.flags & Flag.REPLY)


def parse_clear_header(datagram: bytes) -> ClearHeader:
    """The clear header of ``datagram``, checked for everything that needs no key; raises :class:`Dropped`."""
    if len(datagram) < SECURE_HEADER_SIZE + TAG_SIZE:
        raise Dropped(Drop.TOO_SHORT)
    magic, version, flags, key_id, sequence = _CLEAR.unpack_from(datagram)
    if magic != SECURE_MAGIC:
        raise Dropped(Drop.BAD_MAGIC)
    if version != SECURE_VERSION:
        raise Dropped(Drop.BAD_VERSION)
    if flags & ~int(Flag.REPLY) & 0xFF:
        raise Dropped(Drop.RESERVED_FLAGS)
    return ClearHeader(flags, key_id, sequence)


def sequence_at(now: float) -> int:
    """The sequence number a clock reading ``now`` (seconds since the Unix epoch) stands for."""
    return int(now * SEQUENCE_TICKS_PER_SECOND)


def sequence_time(sequence: int) -> float:
    """The time (seconds since the Unix epoch) a sequence number stands for."""
    return sequence / SEQUENCE_TICKS_PER_SECOND


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the line and what is wrong with it."""


def read_key_file(path: str | os.PathLike[str]) -> dict[int, bytes]:
    """The keys in the file at ``path``: key ID to master secret.

    A key file holds one key per line, ``KEY_ID SECRET_HEX``: the key ID in decimal, the master secret as at
    least 64 hex digits; ``#`` starts a comment. Every RRP/1-S implementation can read the same files.
    """
    keys: dict[int, bytes] = {}
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        where = f"{path}, line {number}"
        if len(fields) != 2 or not fields[0].isdigit():
            raise KeyFileError(f"{where}: expected 'KEY_ID SECRET_HEX'")
        key_id = int(fields[0])
        if not 0 < key_id <= MAX_KEY_ID:
            raise KeyFileError(f"{where}: key ID {key_id} is not between 1 and {MAX_KEY_ID}")
        try:
            secret = bytes.fromhex(fields[1])
        except ValueError:
            raise KeyFileError(f"{where}: the secret is not hex") from None
        if len(secret) < MIN_MASTER_SECRET_SIZE:
            raise KeyFileError(f"{where}: the secret has {len(secret)} bytes; at least {MIN_MASTER_SECRET_SIZE}")
        if key_id in keys:
            raise KeyFileError(f"{where}: key ID {key_id} appears twice")
        keys[key_id] = secret
    return keys
