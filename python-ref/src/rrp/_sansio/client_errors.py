"""The client's one exception hierarchy; each message is one sentence a user can act on.

::

    RrpError
    ├── ErrorResult          the server answered with an error result
    ├── TimedOut
    │   ├── GaveUp           UDP: no acceptable reply after every attempt (UDP-CLI-6)
    │   └── DeadlineExceeded TCP: connect or reply deadline ran out (TCP-CLI-2)
    └── ConnectionFailed     refused or reset
        ├── ConnectionClosed the server closed before the whole reply arrived (TCP-CLI-4)
        └── ReplyRejected    the server sent a reply we must not accept (TCP-CLI-3, CLI-3)
"""

from __future__ import annotations

from rrp_spec import Result


class RrpError(Exception):
    """Base of every error an RRP client call raises."""


def result_name(result: int) -> str:
    """``MALFORMED`` for a defined result code, ``result 0x8001`` for any other."""
    try:
        return Result(result).name
    except ValueError:
        return f"result 0x{result:04x}"


class ErrorResult(RrpError):
    """The server answered, with a result other than OK."""

    def __init__(self, result: int, operation: int) -> None:
        super().__init__(f"server answered {result_name(result)}")
        #: The result code of the reply.
        self.result = result
        #: The operation that was asked for.
        self.operation = operation


class TimedOut(RrpError):
    """No acceptable reply arrived in time."""


class GaveUp(TimedOut):
    """A UDP exchange used every attempt (or its deadline) without an acceptable reply (UDP-CLI-6)."""

    def __init__(self, attempts: int, elapsed: float) -> None:
        noun = "attempt" if attempts == 1 else "attempts"
        super().__init__(f"no reply after {attempts} {noun} over {elapsed:.2f} s")
        #: Transmissions made.
        self.attempts = attempts
        #: Seconds from the first transmission until giving up.
        self.elapsed = elapsed


class DeadlineExceeded(TimedOut):
    """A TCP connect or reply took longer than its deadline (TCP-CLI-2)."""

    def __init__(self, waiting_for: str, timeout: float) -> None:
        super().__init__(f"no {waiting_for} within {timeout:.2f} s")
        #: What did not arrive: ``"connection"`` or ``"reply"``.
        self.waiting_for = waiting_for
        #: The deadline that ran out, in seconds.
        self.timeout = timeout


class ConnectionFailed(RrpError):
    """The connection could not be made or broke (refused, reset, unreachable)."""


class ConnectionClosed(ConnectionFailed):
    """The server closed the connection before the whole reply had arrived (TCP-CLI-4)."""

    def __init__(self, received: int, expected: int | None) -> None:
        if received == 0:
            message = "server closed the connection before replying"
        elif expected is None:
            message = f"server closed the connection after {received} bytes of a reply header"
        else:
            message = f"server closed the connection after {received} of {expected} reply bytes"
        super().__init__(message)
        #: Reply bytes that had arrived.
        self.received = received
        #: Bytes the reply's header announced (header + payload), when the header had arrived.
        self.expected = expected


class ReplyRejected(ConnectionFailed):
    """Over TCP, the server sent something that is not an acceptable reply to our request (TCP-CLI-3, CLI-3)."""

    def __init__(self, requirement: str | None, detail: str) -> None:
        reason = f"{requirement}: {detail}" if requirement else detail
        super().__init__(f"server sent an unacceptable reply ({reason})")
        #: The requirement the reply breaks, or ``None`` when it only exceeds this client's own limit.
        self.requirement = requirement
        #: What was wrong with it.
        self.detail = detail
