"""Carrying out requests: the three operations of RRP/1, and application handlers for 0x8000-0xFFFF.

A handler takes the request's payload and returns the reply's payload (result
OK). To answer with an error result it raises :class:`HandlerError`; any other
exception becomes a bare INTERNAL_ERROR reply that discloses nothing (SRV-15), and
the server goes on serving. Handlers may be plain functions or ``async`` ones; an
async handler's coroutine is handed to the adapter to run, and its outcome is fed
back to the core, so the core itself never awaits anything.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeAlias

from rrp_spec import COUNTER_SIZE, Op, Result, is_application_value

#: A synchronous handler: request payload in, OK reply payload out.
SyncHandler: TypeAlias = Callable[[bytes], bytes]
#: An asynchronous handler: request payload in, OK reply payload out, awaited by the adapter.
AsyncHandler: TypeAlias = Callable[[bytes], Awaitable[bytes]]
#: What :meth:`Dispatcher.execute` returns for a request an async handler carries out.
HandlerCoroutine: TypeAlias = Coroutine[Any, Any, bytes]

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


class Dispatcher:
    """The server's operations and its INCREMENT counter, shared by every transport."""

    __slots__ = ("_async", "_counter", "_sync", "on_handler_failure")

    def __init__(self) -> None:
        self._sync: dict[int, SyncHandler] = {}
        self._async: dict[int, AsyncHandler] = {}
        self._counter = 0
        #: Called with the operation and the exception when a handler fails (for the operator's log).
        self.on_handler_failure: Callable[[int, BaseException], None] | None = None

    @property
    def counter(self) -> int:
        """The INCREMENT counter's current value."""
        return self._counter

    def register(self, operation: int, handler: SyncHandler | AsyncHandler) -> None:
        """Serve ``operation`` (0x8000-0xFFFF) with ``handler``; ``async def`` handlers are awaited."""
        if not is_application_value(operation):
            raise ValueError(f"operation 0x{operation:04x} is not in the application range 0x8000-0xFFFF")
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

    def execute(self, operation: int, payload: bytes) -> bytes | HandlerCoroutine:
        """Carry out a request that passed :func:`rrp_spec.check_request`.

        Returns the OK reply's payload, or the coroutine of an async handler for
        the adapter to run (its outcome goes through :meth:`outcome_of`). Raises
        :class:`HandlerError` for an error reply.
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
                self._report(operation, exc)
                raise HandlerError(Result.INTERNAL_ERROR) from None
            return self._checked(operation, out)
        async_handler = self._async.get(operation)
        if async_handler is not None:
            try:
                coroutine = async_handler(payload)
            except Exception as exc:
                self._report(operation, exc)
                raise HandlerError(Result.INTERNAL_ERROR) from None
            return coroutine  # type: ignore[return-value]
        raise HandlerError(Result.UNKNOWN_OPERATION)

    def outcome_of(self, operation: int, value: object, error: BaseException | None) -> bytes:
        """Judge an async handler's outcome like a sync one's: the OK payload, or :class:`HandlerError`."""
        if error is None:
            return self._checked(operation, value)
        if isinstance(error, HandlerError):
            raise error
        self._report(operation, error)
        raise HandlerError(Result.INTERNAL_ERROR)

    def _checked(self, operation: int, out: object) -> bytes:
        if type(out) is bytes:
            return out
        if isinstance(out, bytes | bytearray | memoryview):
            return bytes(out)
        self._report(operation, TypeError(f"handler returned {type(out).__name__}, not bytes"))
        raise HandlerError(Result.INTERNAL_ERROR)

    def _report(self, operation: int, exc: BaseException) -> None:
        if self.on_handler_failure is not None:
            self.on_handler_failure(operation, exc)
