"""Writing log lines without ever blocking the event loop (SRV-17).

A write to stderr blocks when stderr is a pipe whose reader has stalled (a hung log
shipper, ``rrp serve 2>&1 | slow-consumer``). Written on the event loop, such a write
froze the whole server: about 500 rejected datagrams a second filled a 64 KiB pipe in
36 s, and from then on neither UDP nor TCP answered anything, even after the attack
stopped. The rate limit of :class:`~rrp._sansio.rejectlog.RateLimitedLog` bounds the
volume of lines, not the time a write takes.

So the loop only puts lines into a bounded queue (the stdlib's ``QueueHandler`` /
``QueueListener`` pattern, without the ``logging`` machinery): a thread of its own
writes them out and is the only one that ever waits for the reader. When the queue is
full, the line is dropped and counted, and once the output moves again the writer says
how many were lost. A stalled reader costs log lines, never service.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from typing import TextIO

#: Lines waiting for the writer at most; more are dropped and counted.
DEFAULT_QUEUE_LINES = 1024
_STOP = None
#: How the count of dropped lines is introduced in the log.
DROPPED = "log output blocked: dropped"


class LogSink:
    """A line writer for the event loop: :meth:`write` never blocks; a thread writes to ``stream``."""

    def __init__(self, stream: TextIO | None = None, capacity: int = DEFAULT_QUEUE_LINES) -> None:
        self._stream = stream
        self._queue: queue.Queue[str | None] = queue.Queue(capacity)
        self._dropped = 0  # dropped since the last line that found room, not yet reported
        #: Lines dropped in all because the output was blocked.
        self.dropped_total = 0
        self._thread = threading.Thread(target=self._run, name="rrp-log-writer", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        """Queue one line; when the queue is full, drop it and count it.

        Call from one thread (the event loop's). The count of dropped lines goes into the queue as a line of its
        own, at the place where they were lost, as soon as there is room again.
        """
        put = self._queue.put_nowait
        try:
            if self._dropped:
                put(f"{DROPPED} {self._dropped} log lines")
                self._dropped = 0
            put(line)
        except queue.Full:
            self._dropped += 1
            self.dropped_total += 1

    def write_final(self, lines: list[str], timeout: float) -> None:
        """At exit: the count of lines still unreported as dropped, then ``lines``, waiting up to ``timeout`` in all.

        Unlike :meth:`write` this waits for room, so a reader that has come back (or was only slow) gets the last
        word; a reader that stays stalled costs these lines after ``timeout``, never the exit.
        """
        deadline = time.monotonic() + timeout
        pending = [f"{DROPPED} {self._dropped} log lines", *lines] if self._dropped else list(lines)
        self._dropped = 0
        for index, line in enumerate(pending):
            try:
                self._queue.put(line, timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Full:
                self.dropped_total += len(pending) - index
                return

    def close(self, timeout: float = 1.0) -> bool:
        """Write what is queued, waiting at most ``timeout`` seconds for a stalled reader; True when all was written.

        The writer thread is a daemon: when the output stays blocked, the lines still queued are abandoned and the
        process may exit anyway.
        """
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            line = self._queue.get()
            if line is _STOP:
                return
            stream = self._stream or sys.stderr
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):
                return  # the output is gone (closed pipe, closed file): nothing more can be written
