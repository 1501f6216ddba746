"""The server-wide budget for buffered request payloads and unsent replies (TCP-SRV-14).

Every per-connection bound held and their product was still the machine's memory:
1,024 connections each declaring a 1 MiB payload and holding back its last byte took
the reference from 27 MiB to 1.1 GiB, and 1,024 connections pipelining 1 MiB ECHOs
without reading the replies took it to 2.7 GiB. So the connections share one budget:
each charges it with the payload it is collecting (reserved in full when the header
arrives) and the reply bytes waiting in its transport. Past the budget, a request
larger than :data:`SMALL_REQUEST` is answered BUSY and its payload discarded unread
into memory, and the connections holding at least :data:`SMALL_REQUEST` of unsent
replies stop being read (they hold the most; a client that reads its replies holds
almost nothing and goes on being served). The charges fall as replies go out and
connections end, so memory returns toward its baseline after an attack.
"""

from __future__ import annotations

from rrp_spec.limits import MAX_SMALL_PAYLOAD

#: Requests up to this size are admitted even past the budget (at most this much per connection; TCP-SRV-14 says
#: which are small), and connections holding less than this in unsent replies keep being read: honest small
#: exchanges never wait.
SMALL_REQUEST = MAX_SMALL_PAYLOAD


class MemoryBudget:
    """Bytes charged by every TCP connection of a server, against one limit."""

    __slots__ = ("limit", "peak", "used")

    def __init__(self, limit: int) -> None:
        #: The budget, in bytes.
        self.limit = limit
        #: Bytes charged now.
        self.used = 0
        #: The most ever charged at once.
        self.peak = 0

    @property
    def over(self) -> bool:
        """True while the charges exceed the budget."""
        return self.used > self.limit

    def admits(self, size: int) -> bool:
        """Whether a request payload of ``size`` bytes may be collected now."""
        return size <= SMALL_REQUEST or self.used + size <= self.limit

    def charge(self, delta: int) -> None:
        """Add ``delta`` bytes (negative: give them back)."""
        self.used += delta
        if self.used > self.peak:
            self.peak = self.used
