"""The UDP duplicate-reply cache: a retransmission gets the reply already sent, and is not carried out again.

Keyed by (source address, source port, request_id) (UDP-SRV-7). Each reply is
kept for the duplicate-reply window (UDP-SRV-8) and the cache is bounded in
entries and in reply bytes (UDP-SRV-9).

Why "oldest out first" is not enough. A cache that evicts its oldest entry to make
room lets anyone push an entry out before the client's retransmission arrives: at
160k small requests/s a 65,536-entry cache keeps an entry 0.4 s, while a client on
the default schedule retransmits 0.7-2.25 s after its first attempt, so a flood
sent between the two made a retransmitted INCREMENT run twice. Here an entry
younger than ``min_age`` (the spec's minimum window) is never evicted to make
room: when every entry is that young, :meth:`DedupCache.reserve` says no, and the
core answers the new request BUSY without carrying it out (the client retries
later, into a cache that has aged). Between ``min_age`` and ``window`` an entry
answers retransmissions but may give way to a new one.

A per-source share keeps one flooder from taking the whole cache: one source (an
IPv4 address or IPv6 /64) holds at most ``source_share`` of the entries and bytes,
so its excess is answered BUSY while other clients keep their room.

Room is reserved before a request is carried out (the reply's size is bounded in
advance), so an async handler that finishes later always finds its place.
Entries are kept in insertion order, which is also expiry order because every
entry lives exactly one window, so expiry and eviction only ever look at the
oldest entry: O(1) amortised per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class DedupCache:
    """Replies by (peer, request ID), each kept for ``window`` seconds, bounded in entries and bytes.

    Entries younger than ``min_age`` are never evicted to make room; a source holds at
    most ``source_share`` of the entries and of the bytes.
    """

    __slots__ = (
        "_by_source",
        "_bytes",
        "_entries",
        "_reserved",
        "max_bytes",
        "max_entries",
        "min_age",
        "source_bytes",
        "source_entries",
        "window",
    )

    def __init__(
        self,
        *,
        window: float,
        max_entries: int,
        max_bytes: int,
        min_age: float = 0.0,
        source_share: float = 1.0,
        largest_reply: int = 0,
    ) -> None:
        if not 0 < source_share <= 1:
            raise ValueError("source_share must be above 0 and at most 1")
        #: How long an entry answers retransmissions, in seconds.
        self.window = window
        #: Entries younger than this are never evicted to make room (UDP-SRV-9).
        self.min_age = min(min_age, window)
        #: Most entries held at once.
        self.max_entries = max_entries
        #: Most reply bytes held (or reserved) at once.
        self.max_bytes = max_bytes
        #: Most entries one source holds at once.
        self.source_entries = max(1, int(max_entries * source_share))
        #: Most reply bytes one source holds at once (never less than one reply of ``largest_reply`` bytes).
        self.source_bytes = min(max_bytes, max(int(max_bytes * source_share), largest_reply))
        # key -> (expires, reply, source); oldest first.
        self._entries: OrderedDict[Hashable, tuple[float, bytes, Hashable]] = OrderedDict()
        # source -> [entries, bytes], reservations included.
        self._by_source: dict[Hashable, list[int]] = {}
        self._bytes = 0  # reply bytes held plus bytes reserved
        self._reserved = 0  # reservations not yet turned into entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes_used(self) -> int:
        """Reply bytes held now, and bytes reserved for replies still being made."""
        return self._bytes

    @property
    def reserved(self) -> int:
        """Reservations not yet stored or released."""
        return self._reserved

    def keys(self) -> list[Hashable]:
        """The keys held, oldest first."""
        return list(self._entries)

    def held_by(self, source: Hashable) -> tuple[int, int]:
        """(entries, bytes) that ``source`` holds or has reserved."""
        used = self._by_source.get(source)
        return (used[0], used[1]) if used else (0, 0)

    def next_expiry(self) -> float | None:
        """When the oldest entry expires, or ``None`` when the cache is empty."""
        for expires, _, _ in self._entries.values():
            return expires
        return None

    def get(self, key: Hashable, now: float) -> bytes | None:
        """The reply cached for ``key``, or ``None`` when there is none or it has expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    def reserve(self, source: Hashable, size: int, now: float) -> bool:
        """Reserve room for one reply of at most ``size`` bytes from ``source``; False when there is none.

        Makes room by evicting entries at least ``min_age`` old, oldest first, and
        never a younger one. A True answer must be followed by :meth:`put` or
        :meth:`release` with the same ``source`` and ``size``.
        """
        used = self._by_source.get(source)
        if used is not None and (used[0] >= self.source_entries or used[1] + size > self.source_bytes):
            self.expire(now)
            used = self._by_source.get(source)
            if used is not None and (used[0] >= self.source_entries or used[1] + size > self.source_bytes):
                return False  # this source has its share; its entries age out at their window
        if size > self.source_bytes:
            return False
        entries = self._entries
        if len(entries) + self._reserved >= self.max_entries or self._bytes + size > self.max_bytes:
            self.expire(now)
            evictable_before = now - self.min_age + self.window  # entries expiring by then are old enough
            while len(entries) + self._reserved >= self.max_entries or self._bytes + size > self.max_bytes:
                if not entries:
                    return False
                oldest = next(iter(entries))
                if entries[oldest][0] > evictable_before:
                    return False  # every entry is younger than the minimum window: evicting one breaks UDP-SRV-8
                self._forget(oldest)
        used = self._by_source.get(source)  # expiry and eviction may have emptied (and dropped) its count
        if used is None:
            used = self._by_source[source] = [0, 0]
        used[0] += 1
        used[1] += size
        self._bytes += size
        self._reserved += 1
        return True

    def release(self, source: Hashable, size: int) -> None:
        """Give back a reservation that will not be stored."""
        self._reserved -= 1
        self._bytes -= size
        self._uncount(source, 1, size)

    def put(self, key: Hashable, reply: bytes, source: Hashable, reserved: int, now: float) -> None:
        """Store ``reply`` for ``key`` until ``now + window``, in the room :meth:`reserve` made (``reserved`` bytes)."""
        if len(reply) > reserved:
            raise ValueError(f"a reply of {len(reply)} bytes does not fit the {reserved} reserved for it")
        if key in self._entries:
            self._forget(key)
        self._reserved -= 1
        self._bytes -= reserved - len(reply)
        used = self._by_source[source]
        used[1] -= reserved - len(reply)
        self._entries[key] = (now + self.window, reply, source)

    def expire(self, now: float) -> None:
        """Forget every entry whose window has passed."""
        entries = self._entries
        while entries:
            key = next(iter(entries))
            if entries[key][0] > now:
                return
            self._forget(key)

    def _forget(self, key: Hashable) -> None:
        _, reply, source = self._entries.pop(key)
        self._bytes -= len(reply)
        self._uncount(source, 1, len(reply))

    def _uncount(self, source: Hashable, entries: int, size: int) -> None:
        used = self._by_source[source]
        used[0] -= entries
        used[1] -= size
        if not used[0]:
            del self._by_source[source]
