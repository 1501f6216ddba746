"""Request IDs for clients: 64 bits from the operating system's CSPRNG, never 0, fresh per request (CLI-1).

An off-path attacker who wants to inject a forged reply must guess the ID; with
all 64 bits random that is as hard as RRP can make it (after DNS, RFC 5452
section 9.2). Retransmissions reuse their request's ID (UDP-CLI-3), so a new ID is
drawn per request, never per attempt. Tests inject their own source.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from rrp_spec import MAX_REQUEST_ID

#: Where a client gets request IDs: a callable returning an int in 1..2^64-1.
RequestIdSource = Callable[[], int]

_ID_BITS = MAX_REQUEST_ID.bit_length()


def new_request_id() -> int:
    """A fresh request ID: uniform over 1..2^64-1, from :mod:`secrets`."""
    while True:
        # 0 is invalid (SRV-5); redrawing keeps the others uniform. It comes up once in 2^64 draws.
        request_id = secrets.randbits(_ID_BITS)
        if request_id:
            return request_id


def checked_request_id(request_id: int) -> int:
    """``request_id`` itself, or ``ValueError`` when an injected source produced an invalid one."""
    if not 1 <= request_id <= MAX_REQUEST_ID:
        raise ValueError(f"request ID {request_id} is outside 1..{MAX_REQUEST_ID}")
    return request_id
