"""What a successful call returns."""

from __future__ import annotations

from dataclasses import dataclass

from rrp_spec import Result

from .addresses import Address
from .client_errors import RrpError


@dataclass(frozen=True, slots=True)
class Reply:
    """An accepted reply, with what it took to get it."""

    #: The operation the request asked for (the reply repeats it).
    operation: int
    #: The reply's result code; :attr:`Result.OK` unless the call was made with ``check=False``.
    result: int
    #: The reply's payload bytes.
    payload: bytes
    #: The request ID the request and its reply carried.
    request_id: int
    #: Transmissions it took (always 1 over TCP).
    attempts: int
    #: Seconds from the first transmission to the reply.
    elapsed: float

    @property
    def ok(self) -> bool:
        """True when the server carried the request out."""
        return self.result == Result.OK


@dataclass(frozen=True, slots=True)
class ServerOutcome:
    """What one server of a multi-server call did."""

    #: The server, as a numeric address.
    server: Address
    #: Its reply, whatever its result; ``None`` when none was accepted.
    reply: Reply | None
    #: Why the call did not succeed with this server (no reply, or an error result), or ``None``.
    error: RrpError | None

    @property
    def ok(self) -> bool:
        """True when this server answered OK."""
        return self.error is None
