"""Carrying out requests: the three operations of RRP/1, and application handlers for 0x8000-0xFFFF.

A handler takes the request's payload and returns the reply's payload (result
OK). To answer with an error result it raises :class:`HandlerError`; any other
exception becomes a bare INTERNAL_ERROR reply that discloses nothing (SRV-15), and
the server goes on serving; the failure reaches the operator as a
:class:`~rrp._sansio.server_events.HandlerFailed` event, from the exception
:class:`HandlerFailure` carries. Handlers may be plain functions or ``async`` ones:
:meth:`Dispatcher.execute` runs a plain one at once and answers ``None`` for an async
one, which the core then reports as a
:class:`~rrp._sansio.server_events.CallRequested` for the adapter to run with
:meth:`Dispatcher.start`; the outcome goes back to the core, which judges it with
:meth:`Dispatcher.outcome_of`. The core itself never awaits anything.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from rrp_spec import APPLICATION_RANGE_END, APPLICATION_RANGE_START, COUNTER_SIZE, Op, Result, is_application_value

#: A synchronous handler: request payload in, OK reply payload out.
SyncHandler: TypeAlias = Callable[[bytes], bytes]
#: An asynchronous handler: request payload in, OK reply payload out, awaited by the adapter.
AsyncHandler: TypeAlias = Callable[[bytes], Awaitable[bytes]]

#: The counter on the wire: a big-endian u64 (SRV-11).
_COUNTER = struct.Struct(">Q")
assert _COUNTER.size == COUNTER_SIZE
_COUNTER_MODULUS = 1 << (8 * COUNTER_SIZE)


class HandlerError(Exception):
    """Raised by a handler to answer with an error result instead of OK.

    The reply is a bare header carrying ``result`` (SRV-13); the exception's
    message never reaches the wire.
    """

    def __init__(self, result: int) -> None:
        if result == Result.OK or not (result in Result._value2member_map_ or is_application_value(result)):
            raise ValueError(f"{result} is not an error result of RRP/1 or the application range")
        super().__init__(f"handler answered result {result}")
        #: The error result to reply with.
        self.result = result


class HandlerFailure(HandlerError):
    """A handler failed (raised, or returned something other than bytes): INTERNAL_ERROR, and ``error`` for the log."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(Result.INTERNAL_ERROR)
        #: What the handler raised, or the TypeError describing what it returned.
        self.error = error


class Dispatcher:
    """The server's operations and its INCREMENT counter, shared by every transport."""

    __slots__ = ("_async", "_counter", "_sync")

    def __init__(self) -> None:
        self._sync: dict[int, SyncHandler] = {}
        self._async: dict[int, AsyncHandler] = {}
        self._counter = 0

    @property
    def counter(self) -> int:
        """The INCREMENT counter's current value."""
        return self._counter

    def register(self, operation: int, handler: SyncHandler | AsyncHandler) -> None:
        """Serve ``operation`` (0x8000-0xFFFF) with ``handler``; ``async def`` handlers are awaited."""
        if not is_application_value(operation):
            raise ValueError(
                f"operation 0x{operation:04x} is not in the application range "
                f"0x{APPLICATION_RANGE_START:04x}-0x{APPLICATION_RANGE_END:04x}"
            )
        self._sync.pop(operation, None)
        self._async.pop(operation, None)
        if inspect.iscoroutinefunction(handler):
            self._async[operation] = handler
        else:
            self._sync[operation] = handler  # type: ignore[assignment]

    def unregister(self, operation: int) -> None:
        """Stop serving ``operation``; it is answered with UNKNOWN_OPERATION again."""
        self._sync.pop(operation, None)
        self._async.pop(operation, None)

    def execute(self, operation: int, payload: bytes) -> bytes | None:
        """Carry out a request that passed :func:`rrp_spec.check_request`.

        Returns the OK reply's payload, or ``None`` when an async handler must carry it
        out (:meth:`start`). Raises :class:`HandlerError` for an error reply
        (:class:`HandlerFailure` when the handler failed).
        """
        if operation == Op.ECHO:
            return payload
        if operation == Op.INCREMENT:
            self._counter = (self._counter + 1) % _COUNTER_MODULUS
            return _COUNTER.pack(self._counter)
        if operation == Op.NOOP:
            return b""
        handler = self._sync.get(operation)
        if handler is not None:
            try:
                out = handler(payload)
            except HandlerError:
                raise
            except Exception as exc:
                raise HandlerFailure(exc) from None
            return _checked(out)
        if operation in self._async:
            return None
        raise HandlerError(Result.UNKNOWN_OPERATION)

    def start(self, operation: int, payload: bytes) -> Awaitable[bytes]:
        """The awaitable of the async handler for a request :meth:`execute` answered ``None`` for."""
        handler = self._async.get(operation)
        if handler is None:
            raise HandlerError(Result.UNKNOWN_OPERATION)  # unregistered since
        return handler(payload)

    def outcome_of(self, value: object, error: BaseException | None) -> bytes:
        """Judge an async handler's outcome like a sync one's: the OK payload, or :class:`HandlerError`."""
        if error is None:
            return _checked(value)
        if isinstance(error, HandlerError):
            raise error
        raise HandlerFailure(error)


def _checked(out: object) -> bytes:
    if type(out) is bytes:
        return out
    if isinstance(out, bytes | bytearray | memoryview):
        return bytes(out)
    raise HandlerFailure(TypeError(f"handler returned {type(out).__name__}, not bytes"))
