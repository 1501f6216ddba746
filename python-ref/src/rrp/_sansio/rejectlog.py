"""The operator's log of rejected input: one line per rejection, rate-limited so a flood cannot fill a disk.

It is an observer of the server cores' events (:meth:`RateLimitedLog.observe`):
rejected input and failed handlers are logged. Each line names the requirement the
input broke and the peer, never payload bytes (the spec's violation details only quote header fields). Past
``max_per_second`` lines in one second, lines are counted instead of written and
the next second starts with ``suppressed K log lines``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rrp_spec import ProtocolViolation

from .server_events import HandlerFailed, Rejected, SecureDropped, ServerEvent

#: Default number of log lines written per second before the rest are only counted.
DEFAULT_LOG_LINES_PER_SECOND = 20


class RateLimitedLog:
    """Writes at most ``max_per_second`` lines per second of ``now``, and a summary of the rest."""

    __slots__ = ("_count", "_suppressed", "_window", "_write", "max_per_second")

    def __init__(self, write: Callable[[str], None], max_per_second: int = DEFAULT_LOG_LINES_PER_SECOND) -> None:
        self._write = write
        #: Lines written per one-second window at most.
        self.max_per_second = max_per_second
        self._window = float("-inf")
        self._count = 0
        self._suppressed = 0

    @property
    def suppressed(self) -> int:
        """Lines held back in the current window."""
        return self._suppressed

    def line(self, text: str, now: float) -> None:
        """Write ``text`` unless this window's budget is spent."""
        if self._admit(now):
            self._write(text)

    def rejection(self, violation: ProtocolViolation, peer: str, now: float) -> None:
        """Log one rejected input: the requirement, the peer, what was wrong and what the server did.

        The line is formatted only when it will be written: under a flood nearly every rejection is only
        counted, and formatting each one cost more than judging it.
        """
        if self._admit(now):
            self._write(f"rejected input from {peer}: {violation}")

    def _admit(self, now: float) -> bool:
        """Take one line of this window's budget; False (and counted as suppressed) when it is spent."""
        if now - self._window >= 1.0:
            self.flush()
            self._window = now
            self._count = 0
        if self._count < self.max_per_second:
            self._count += 1
            return True
        self._suppressed += 1
        return False

    def observe(self, events: Iterable[ServerEvent], now: float) -> None:
        """Log what the operator must hear of: rejected input, and handlers that failed (SRV-15: type only)."""
        for event in events:
            if isinstance(event, Rejected):
                self.rejection(event.violation, f"{event.transport} {event.peer}", now)
            elif isinstance(event, HandlerFailed):
                self.line(f"handler for operation 0x{event.operation:04x} failed: {type(event.error).__name__}", now)
            elif isinstance(event, SecureDropped):
                key = "no key ID" if event.key_id is None else f"key ID {event.key_id}"
                self.line(f"SUDP-SRV-1: dropped a datagram from sudp {event.peer} ({key}): {event.reason}", now)

    def flush(self) -> None:
        """Write the count of held-back lines, if any."""
        if self._suppressed:
            self._write(f"suppressed {self._suppressed} log lines")
            self._suppressed = 0
