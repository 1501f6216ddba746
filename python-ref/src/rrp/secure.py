"""The secure profiles: RRP/1 over TLS, and RRP/1-S (authenticated encryption over UDP with pre-shared keys).

TLS::

    from rrp import Client
    from rrp.secure import tls_client_context

    with Client.tls("rrp.example", 7374, context=tls_client_context(cafile="ca.pem")) as client: ...

RRP/1-S::

    from rrp.secure import client_key, read_key_file

    keys = read_key_file("keys.txt")            # lines "KEY_ID HEX_SECRET"
    key = client_key(42, keys[42], state_file="rrp-42.seq")
    with Client.secure_udp("127.0.0.1", 7374, key) as client: ...

Key files are read with :func:`rrp_spec.secure_wire.read_key_file` (one ``KEY_ID SECRET_HEX`` per line).
Give each client its own key ID and secret (SUDP-3), and the server every client's line.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from rrp_spec.secure import SecureContext
from rrp_spec.secure_wire import KeyFileError, read_key_file

from ._sansio.secure_udp import SecureClientKey, SequenceSource
from ._sansio.tls_policy import client_context as tls_client_context
from ._sansio.tls_policy import server_context as tls_server_context

__all__ = [
    "KeyFileError",
    "SecureClientKey",
    "client_key",
    "load_key_file",
    "persisted_sequences",
    "read_key_file",
    "tls_client_context",
    "tls_server_context",
]


def load_key_file(path: str) -> dict[int, bytes]:
    """The keys in the file at ``path``; ``ValueError`` with one sentence (as ``--key-file ...``) when unusable."""
    try:
        keys = read_key_file(path)
    except OSError as error:
        raise ValueError(f"--key-file {path}: {error.strerror or error}") from None
    except KeyFileError as error:
        raise ValueError(f"--key-file {error}") from None
    if not keys:
        raise ValueError(f"--key-file {path} holds no key")
    return keys


def persisted_sequences(state_file: str | os.PathLike[str] | None) -> SequenceSource:
    """A sequence source that never repeats across restarts (SUDP-2).

    With ``state_file``, the high-water mark is read from it at start and rewritten atomically (and
    synced to disk) before any sequence above the previous mark is used. Without one, sequences rely
    on the wall clock never stepping back.
    """
    if state_file is None:
        return SequenceSource()
    path = Path(state_file)
    floor = int(path.read_text().strip() or 0) if path.exists() else 0

    def persist(mark: int) -> None:
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, prefix=path.name) as temporary:
            temporary.write(f"{mark}\n")
            temporary.flush()
            os.fsync(temporary.fileno())
        os.replace(temporary.name, path)

    return SequenceSource(floor, persist=persist)


def client_key(key_id: int, secret: bytes, *, state_file: str | os.PathLike[str] | None = None) -> SecureClientKey:
    """The client's key ``key_id`` with master ``secret``, sequencing from the wall clock (and ``state_file``)."""
    return SecureClientKey(SecureContext.from_secret(secret, key_id), persisted_sequences(state_file), time.time)
