"""RRP/1-S over UDP: authenticated encryption of RRP/1 messages with a pre-shared key.

This module is the one definition of the secure UDP profile: its clear header (a construct
definition, documented field by field like :data:`rrp_spec.wire.HEADER_STRUCT`), its key schedule,
its nonces and associated data, and the sealing and opening of requests and replies. The design
follows OSCORE (RFC 8613): a pre-shared master secret per client, keys derived with HKDF for each
direction, an AEAD nonce built from a sequence number that never repeats under a key, a reply bound
to its request through the associated data, and a replay window on the server. The AEAD is
ChaCha20-Poly1305 (RFC 8439) and the KDF HKDF-SHA256 (RFC 5869), both from the ``cryptography``
package: nothing cryptographic is written here by hand.

A protected datagram is::

    clear header (16 bytes, authenticated, not encrypted) || AEAD(RRP/1 message) || tag (16 bytes)

The clear header carries just what a receiver needs to route the datagram and to drop garbage before
spending any cryptography on it: magic, version, the REPLY flag, the key ID and the sequence number.
Everything RRP/1 says (operation, result, request ID, payload) is inside the ciphertext.

The rules that bind senders and receivers are numbered in :mod:`rrp_spec.requirements` (``SUDP-*``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .codes import Flag
from .secure_wire import (
    KEY_SIZE,
    MAX_KEY_ID,
    MIN_MASTER_SECRET_SIZE,
    NONCE_SIZE,
    SECURE_HEADER_SIZE,
    ClearHeader,
    Drop,
    Dropped,
    parse_clear_header,
)

# HKDF labels: one per direction and purpose, so no two derived values can ever coincide.
_LABEL_PREFIX = b"RRP/1-S "
_CLIENT_KEY, _SERVER_KEY = b"client key", b"server key"
_CLIENT_IV, _SERVER_IV = b"client iv", b"server iv"


@dataclass(frozen=True, slots=True)
class KeySchedule:
    """The keys and IVs derived from one master secret and key ID: one of each per direction."""

    #: The key ID they belong to.
    key_id: int
    #: Seals requests (client to server).
    client_key: bytes
    #: Seals replies (server to client).
    server_key: bytes
    #: Mixed into request nonces.
    client_iv: bytes
    #: Mixed into reply nonces.
    server_iv: bytes

    @classmethod
    def derive(cls, master_secret: bytes, key_id: int) -> KeySchedule:
        """HKDF-SHA256 (RFC 5869) with an empty salt and info ``"RRP/1-S " || key_id || label``."""
        if len(master_secret) < MIN_MASTER_SECRET_SIZE:
            raise ValueError(f"a master secret needs at least {MIN_MASTER_SECRET_SIZE} bytes, not {len(master_secret)}")
        if not 0 < key_id <= MAX_KEY_ID:
            raise ValueError(f"a key ID is between 1 and {MAX_KEY_ID}, not {key_id}")

        def expand(label: bytes, length: int) -> bytes:
            info = _LABEL_PREFIX + key_id.to_bytes(4, "big") + label
            return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(master_secret)

        return cls(
            key_id,
            expand(_CLIENT_KEY, KEY_SIZE),
            expand(_SERVER_KEY, KEY_SIZE),
            expand(_CLIENT_IV, NONCE_SIZE),
            expand(_SERVER_IV, NONCE_SIZE),
        )


def nonce(iv: bytes, sequence: int) -> bytes:
    """The AEAD nonce: the direction's IV XOR the sequence number, left-padded to 12 bytes (as TLS 1.3)."""
    return (int.from_bytes(iv, "big") ^ sequence).to_bytes(NONCE_SIZE, "big")


class SecureContext:
    """Seals and opens the datagrams of one key: ChaCha20-Poly1305 objects built once, reused per datagram."""

    __slots__ = ("_client", "_client_iv", "_server", "_server_iv", "schedule")

    def __init__(self, schedule: KeySchedule) -> None:
        #: The derived keys and IVs.
        self.schedule = schedule
        self._client = ChaCha20Poly1305(schedule.client_key)
        self._server = ChaCha20Poly1305(schedule.server_key)
        # The IVs as integers: a nonce is then one XOR (see nonce()), not a loop over 12 bytes per datagram.
        self._client_iv = int.from_bytes(schedule.client_iv, "big")
        self._server_iv = int.from_bytes(schedule.server_iv, "big")

    @classmethod
    def from_secret(cls, master_secret: bytes, key_id: int) -> SecureContext:
        """The context of ``key_id`` with ``master_secret``."""
        return cls(KeySchedule.derive(master_secret, key_id))

    def seal_request(self, sequence: int, message: bytes) -> bytes:
        """A protected request carrying the RRP/1 ``message``; associated data: its clear header."""
        clear = ClearHeader(0, self.schedule.key_id, sequence).pack()
        return clear + self._client.encrypt((self._client_iv ^ sequence).to_bytes(NONCE_SIZE, "big"), message, clear)

    def open_request(self, datagram: bytes, header: ClearHeader | None = None) -> bytes:
        """The RRP/1 message inside a protected request; raises :class:`Dropped`.

        ``header`` is the datagram's already parsed clear header, when the caller has it.
        """
        header = header or parse_clear_header(datagram)
        if header.is_reply:
            raise Dropped(Drop.WRONG_DIRECTION)
        if header.key_id != self.schedule.key_id:
            raise Dropped(Drop.UNKNOWN_KEY)
        clear = datagram[:SECURE_HEADER_SIZE]
        try:
            return self._client.decrypt(
                (self._client_iv ^ header.sequence).to_bytes(NONCE_SIZE, "big"), datagram[SECURE_HEADER_SIZE:], clear
            )
        except InvalidTag:
            raise Dropped(Drop.FORGED) from None

    def seal_reply(self, request_clear: bytes, sequence: int, message: bytes) -> bytes:
        """A protected reply; associated data: its clear header, then its request's (binding the two)."""
        clear = ClearHeader(int(Flag.REPLY), self.schedule.key_id, sequence).pack()
        sealed = self._server.encrypt(
            (self._server_iv ^ sequence).to_bytes(NONCE_SIZE, "big"), message, clear + request_clear
        )
        return clear + sealed

    def open_reply(self, datagram: bytes, request_clear: bytes) -> bytes:
        """The RRP/1 message inside a protected reply to the request whose clear header is ``request_clear``.

        Raises :class:`Dropped` for anything but an authentic reply to exactly that request.
        """
        header = parse_clear_header(datagram)
        if not header.is_reply:
            raise Dropped(Drop.WRONG_DIRECTION)
        if header.key_id != self.schedule.key_id:
            raise Dropped(Drop.UNKNOWN_KEY)
        clear = datagram[:SECURE_HEADER_SIZE]
        try:
            return self._server.decrypt(
                (self._server_iv ^ header.sequence).to_bytes(NONCE_SIZE, "big"),
                datagram[SECURE_HEADER_SIZE:],
                clear + request_clear,
            )
        except InvalidTag:
            raise Dropped(Drop.FORGED) from None
