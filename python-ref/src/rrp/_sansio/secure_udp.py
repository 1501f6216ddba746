"""RRP/1-S over UDP without I/O: sequences, the replay window, and the server's protection layer.

The protection layer sits between the socket and the RRP/1 server core: it opens each protected
request into the plain RRP/1 message the core judges and answers, and seals the core's reply bound
to that request. What it drops, it drops silently (SUDP-SRV-1); what it has answered, it answers
again byte for byte when the same protected bytes come back (SUDP-SRV-3).

Two clocks come in: ``now`` (monotonic, for the duplicate-reply window, like every other core) and
``wall_now`` (seconds since the Unix epoch), because a sequence number is a time that both peers
must read the same way. Neither is read here: the adapters pass them in.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rrp_spec import HEADER_SIZE, MIN_DEDUP_WINDOW, unpack_header
from rrp_spec.addresses import format_address
from rrp_spec.secure import SecureContext
from rrp_spec.secure_wire import (
    FRESHNESS_WINDOW,
    MAX_FAILED_OPENINGS_PER_KEY,
    MAX_SEALED_PER_KEY,
    SECURE_HEADER_SIZE,
    SEQUENCE_TICKS_PER_SECOND,
    Drop,
    Dropped,
    parse_clear_header,
    sequence_at,
    sequence_time,
)

from .server_events import SecureDropped, ServerEvent

#: Sequences reserved ahead of use when a sender persists its high-water mark (SUDP-2), in seconds of clock.
DEFAULT_SEQUENCE_RESERVE = 60.0
#: Sequences one key's replay window remembers above its floor; past this the oldest raise the floor.
DEFAULT_REPLAY_ENTRIES = 65536
#: Protected replies the server keeps for retransmissions, all keys together.
DEFAULT_SECURE_CACHE_ENTRIES = 65536


class SequenceSource:
    """A sender's sequence numbers under one key (SUDP-2): its clock in microseconds, strictly increasing.

    With ``persist``, the source never hands out a sequence above the last high-water mark it
    persisted: before crossing it, it calls ``persist(mark)`` with a mark ``reserve`` seconds ahead.
    After a crash, a sender that starts from the persisted mark (``floor``) cannot repeat a sequence,
    even if its clock stepped back.
    """

    __slots__ = ("_last", "_persist", "_reserve", "_reserved")

    def __init__(
        self,
        floor: int = 0,
        *,
        persist: Callable[[int], None] | None = None,
        reserve: float = DEFAULT_SEQUENCE_RESERVE,
    ) -> None:
        self._last = floor
        self._persist = persist
        self._reserve = int(reserve * SEQUENCE_TICKS_PER_SECOND)
        self._reserved = floor

    @property
    def last(self) -> int:
        """The last sequence handed out (or the floor)."""
        return self._last

    def next(self, wall_now: float) -> int:
        """The next sequence at wall-clock time ``wall_now``."""
        sequence = max(sequence_at(wall_now), self._last + 1)
        if self._persist is not None and sequence > self._reserved:
            self._reserved = sequence + self._reserve
            self._persist(self._reserved)
        self._last = sequence
        return sequence


class ReplayWindow:
    """The sequences one key has had accepted (SUDP-SRV-2, SUDP-SRV-3): a floor and the set seen above it.

    A sequence is fresh when it is within the freshness window of the server's clock, above the
    floor and not seen. The floor starts at the server's start, so nothing sealed before a restart is
    accepted after it, and rises as remembered sequences age out of the freshness window or, past
    ``capacity``, as the oldest are forgotten: memory is bounded, and forgetting only ever refuses.
    """

    __slots__ = ("_capacity", "_floor", "_heap", "_seen")

    def __init__(self, floor: int, capacity: int = DEFAULT_REPLAY_ENTRIES) -> None:
        self._floor = floor
        self._capacity = capacity
        self._seen: set[int] = set()
        self._heap: list[int] = []

    @property
    def floor(self) -> int:
        """Sequences at or below this are refused."""
        return self._floor

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, sequence: int, wall_now: float) -> Drop | None:
        """Why ``sequence`` must be dropped at ``wall_now``, or ``None`` when it may be opened."""
        if abs(sequence_time(sequence) - wall_now) > FRESHNESS_WINDOW:
            return Drop.STALE
        if sequence <= self._floor or sequence in self._seen:
            return Drop.REPLAYED
        return None

    def accept(self, sequence: int, wall_now: float) -> None:
        """Record ``sequence``, whose datagram authenticated, and forget what can no longer be fresh."""
        self._seen.add(sequence)
        heapq.heappush(self._heap, sequence)
        horizon = sequence_at(wall_now - FRESHNESS_WINDOW)
        while self._heap and (self._heap[0] < horizon or len(self._heap) > self._capacity):
            oldest = heapq.heappop(self._heap)
            self._seen.discard(oldest)
            self._floor = max(self._floor, oldest)


@dataclass(frozen=True, slots=True)
class Opened:
    """A protected request that authenticated: the RRP/1 message inside, for the server core."""

    #: The plain RRP/1 request.
    message: bytes


@dataclass(slots=True)
class _Binding:
    request_clear: bytes
    key_id: int
    cache_key: tuple[object, int, int]
    digest: bytes


def _label(peer: object) -> str:
    return format_address(peer) if isinstance(peer, tuple) else str(peer)


def _digest(datagram: bytes) -> bytes:
    return hashlib.blake2b(datagram, digest_size=16).digest()


class SecureUdpServer:
    """The server's protection layer for one secure UDP port.

    ``contexts`` maps each key ID the server holds to its :class:`~rrp_spec.secure.SecureContext`;
    ``started`` is the server's start on the wall clock (the replay floor of every key). Drops are
    counted in :attr:`drops` by reason, never answered.
    """

    def __init__(
        self,
        contexts: Mapping[int, SecureContext],
        *,
        started: float,
        sequences: SequenceSource,
        dedup_window: float = 2 * MIN_DEDUP_WINDOW,
        cache_entries: int = DEFAULT_SECURE_CACHE_ENTRIES,
        replay_entries: int = DEFAULT_REPLAY_ENTRIES,
        max_sealed: int = MAX_SEALED_PER_KEY,
        max_failed: int = MAX_FAILED_OPENINGS_PER_KEY,
    ) -> None:
        self._contexts = dict(contexts)
        # SUDP-4: per key, datagrams sealed and openings failed; a key past either limit is retired.
        self._max_sealed, self._max_failed = max_sealed, max_failed
        self._sealed: Counter[int] = Counter()
        self._failed: Counter[int] = Counter()
        self._windows = {key_id: ReplayWindow(sequence_at(started), replay_entries) for key_id in self._contexts}
        self._sequences = sequences
        self._dedup_window = dedup_window
        self._cache_entries = cache_entries
        # (peer, key ID, sequence) -> (request digest, protected reply, expiry); oldest first.
        self._cache: OrderedDict[tuple[object, int, int], tuple[bytes, bytes, float]] = OrderedDict()
        # (peer, RRP/1 request ID) -> the protected request the core is answering.
        self._pending: dict[tuple[object, int], _Binding] = {}
        #: Datagrams dropped, by reason (SUDP-SRV-1).
        self.drops: Counter[Drop] = Counter()
        self._events: list[ServerEvent] = []

    def receive(self, datagram: bytes, peer: object, now: float, wall_now: float) -> Opened | bytes | None:
        """Judge one datagram from ``peer``.

        Returns the RRP/1 request to hand to the server core (:class:`Opened`), a protected reply to
        send again for a retransmission (``bytes``), or ``None`` when the datagram is dropped.
        """
        header = None
        try:
            header = parse_clear_header(datagram)
            if header.is_reply:
                raise Dropped(Drop.WRONG_DIRECTION)
            context = self._contexts.get(header.key_id)
            if context is None:
                raise Dropped(Drop.UNKNOWN_KEY)
            cache_key = (peer, header.key_id, header.sequence)
            digest = _digest(datagram)
            cached = self._cached(cache_key, digest, now)
            if cached is not None:
                return cached
            window = self._windows[header.key_id]
            verdict = window.check(header.sequence, wall_now)
            if verdict is not None:
                raise Dropped(verdict)
            try:
                message = context.open_request(datagram, header)
            except Dropped:
                self._failed[header.key_id] += 1
                if self._failed[header.key_id] >= self._max_failed:
                    self._retire(header.key_id)
                raise
            if len(message) < HEADER_SIZE:
                raise Dropped(Drop.TOO_SHORT)
        except Dropped as dropped:
            self.drops[dropped.reason] += 1
            key_id = None if header is None else header.key_id
            self._events.append(SecureDropped(_label(peer), key_id, dropped.reason.value))
            return None
        window.accept(header.sequence, wall_now)
        request_id = unpack_header(message).request_id
        self._pending[(peer, request_id)] = _Binding(datagram[:SECURE_HEADER_SIZE], header.key_id, cache_key, digest)
        return Opened(message)

    def seal(self, reply: bytes, peer: object, now: float, wall_now: float) -> bytes | None:
        """The protected form of the server core's ``reply`` to ``peer``, bound to its request and cached.

        ``None`` when no protected request from ``peer`` is waiting for that reply.
        """
        if len(reply) < HEADER_SIZE:
            return None
        binding = self._pending.pop((peer, unpack_header(reply).request_id), None)
        if binding is None or binding.key_id not in self._contexts:
            return None
        context = self._contexts[binding.key_id]
        self._sealed[binding.key_id] += 1
        if self._sealed[binding.key_id] >= self._max_sealed:
            self._retire(binding.key_id)
        sealed = context.seal_reply(binding.request_clear, self._sequences.next(wall_now), reply)
        self._cache[binding.cache_key] = (binding.digest, sealed, now + self._dedup_window)
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)
        return sealed

    def take_events(self) -> list[ServerEvent]:
        """The drops since the last call (:class:`SecureDropped`), for the counters and the operator's log."""
        events, self._events = self._events, []
        return events

    @property
    def retired(self) -> frozenset[int]:
        """Key IDs no longer accepted because they reached a usage limit (SUDP-4); the operator must rotate them."""
        return frozenset(self._windows) - frozenset(self._contexts)

    def _retire(self, key_id: int) -> None:
        # Past its limit a key is treated as unknown from the next datagram on: the operator rotates it.
        self._contexts.pop(key_id, None)

    def forget(self, request: bytes, peer: object) -> None:
        """Drop the binding of a request the core chose not to answer (it will never be sealed)."""
        if len(request) >= HEADER_SIZE:
            self._pending.pop((peer, unpack_header(request).request_id), None)

    def _cached(self, cache_key: tuple[object, int, int], digest: bytes, now: float) -> bytes | None:
        entry = self._cache.get(cache_key)
        if entry is None:
            return None
        stored_digest, sealed, expires = entry
        if now >= expires:
            del self._cache[cache_key]
            return None
        # Different bytes under an accepted sequence are no retransmission: the replay window drops them.
        return sealed if stored_digest == digest else None


class SecureClientKey:
    """A client's key for RRP/1-S: seals each request once (SUDP-CLI-2) and opens only its replies (SUDP-CLI-1).

    ``wall_clock`` is read once per request, when it is sealed, to draw its sequence.
    """

    __slots__ = ("_context", "_sequences", "_wall_clock")

    def __init__(self, context: SecureContext, sequences: SequenceSource, wall_clock: Callable[[], float]) -> None:
        self._context = context
        self._sequences = sequences
        self._wall_clock = wall_clock

    def seal(self, message: bytes) -> tuple[bytes, bytes]:
        """The protected request for ``message`` and its clear header (the binding its reply must carry)."""
        datagram = self._context.seal_request(self._sequences.next(self._wall_clock()), message)
        return datagram, datagram[:SECURE_HEADER_SIZE]

    def open(self, datagram: bytes, request_clear: bytes) -> bytes:
        """The RRP/1 reply inside ``datagram``, a reply bound to the request ``request_clear``; raises Dropped."""
        return self._context.open_reply(datagram, request_clear)
