"""The UDP duplicate-reply cache: a retransmission gets the reply already sent, and is not carried out again.

Keyed by (source address, source port, request_id) (UDP-SRV-7). Each reply is
kept for the duplicate-reply window (UDP-SRV-8) and the cache is bounded in
entries and in reply bytes, evicting the oldest entries first (UDP-SRV-9).
Entries are kept in insertion order, which is also expiry order because every
entry lives exactly one window, so both expiry and eviction only ever look at the
oldest entry: O(1) amortised per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class DedupCache:
    """Replies by (peer, request ID), each kept for ``window`` seconds, bounded in entries and bytes."""

    __slots__ = ("_bytes", "_entries", "max_bytes", "max_entries", "window")

    def __init__(self, *, window: float, max_entries: int, max_bytes: int) -> None:
        #: How long an entry answers retransmissions, in seconds.
        self.window = window
        #: Most entries held at once.
        self.max_entries = max_entries
        #: Most reply bytes held at once.
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes_used(self) -> int:
        """Reply bytes held now."""
        return self._bytes

    def keys(self) -> list[Hashable]:
        """The keys held, oldest first."""
        return list(self._entries)

    def next_expiry(self) -> float | None:
        """When the oldest entry expires, or ``None`` when the cache is empty."""
        for expires, _ in self._entries.values():
            return expires
        return None

    def get(self, key: Hashable, now: float) -> bytes | None:
        """The reply cached for ``key``, or ``None`` when there is none or it has expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    def put(self, key: Hashable, reply: bytes, now: float) -> None:
        """Remember ``reply`` for ``key`` until ``now + window``, evicting the oldest entries to stay in bounds."""
        entries = self._entries
        if entries and next(iter(entries.values()))[0] <= now:
            self.expire(now)
        if key in entries:
            self._bytes -= len(entries.pop(key)[1])
        size = len(reply)
        if size > self.max_bytes:
            return  # could never fit: the retransmission is carried out again, as if the cache had evicted it
        entries[key] = (now + self.window, reply)
        self._bytes += size
        while len(entries) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, evicted) = entries.popitem(last=False)
            self._bytes -= len(evicted)

    def expire(self, now: float) -> None:
        """Forget every entry whose window has passed."""
        entries = self._entries
        while entries:
            key = next(iter(entries))
            expires, reply = entries[key]
            if expires > now:
                return
            del entries[key]
            self._bytes -= len(reply)
