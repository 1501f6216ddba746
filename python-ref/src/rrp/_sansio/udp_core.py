"""The UDP server core, sans-IO: one datagram, its source and ``now`` in; the reply datagram (or nothing) out.

Theory of operation. Every datagram goes through the same steps, in this order:

1. ``--drop-rate`` may drop it on purpose, as if the network had lost it.
2. :func:`rrp_spec.decode_request_datagram` judges it (the spec owns the order of the
   checks and the action for each): a violation is dropped silently or answered
   with a bare error reply, exactly as the :class:`~rrp_spec.ProtocolViolation` says.
3. A retransmission, same (source address, source port, request_id) inside the
   duplicate-reply window, gets the reply sent before and is not carried out
   again (UDP-SRV-7); one whose original is still running is dropped, and the
   client's next retransmission finds the reply. Only requests whose outcome
   depends on state are cached: INCREMENT and application operations. NOOP and
   ECHO are carried out again, which gives the same reply byte for byte, so a
   flood of them cannot push anything out of the cache.
4. The response rate limiter, when on, may hold the reply back (UDP-SRV-10).
5. A cached operation needs room in the cache first; when every entry is younger
   than the minimum window (or its source has its share), the request is answered
   BUSY and not carried out (UDP-SRV-9).
6. The :class:`~rrp._sansio.dispatch.Dispatcher` carries the request out; a reply larger
   than :data:`~rrp_spec.AMPLIFICATION_FACTOR` times the request datagram is
   replaced by TOO_LARGE (UDP-SRV-5); the reply is cached when it must be, and returned.

An ``async`` handler cannot finish inside :meth:`UdpServerCore.handle_datagram`:
the core returns a :class:`~rrp._sansio.server_events.CallRequested` instead, the
adapter has the handler carry it out and hands the outcome to
:meth:`UdpServerCore.complete`, which returns the reply. At most ``max_udp_calls``
run at once; a request beyond that is answered BUSY.

What else happens leaves as events (:mod:`rrp._sansio.server_events`), drained with
:meth:`UdpServerCore.take_events` after each batch: rejections with the requirement
broken, failed handlers, and one :class:`~rrp._sansio.server_events.Tally` of the
batch's requests, replies and drops, counted in place on the per-datagram path.

Time. Nothing the UDP core does is due by itself: a duplicate-reply entry only has
to stop answering when its window has passed, which the cache checks with each
datagram's ``now``, and it forgets expired entries as new ones arrive (it is bounded
in entries and bytes whatever the traffic). So the core has no timer: the ``now`` of
each datagram is the one clock that drives it.

The core never touches a socket or a clock; the adapter sends what it returns to
the datagram's source, from the address the datagram arrived on (UDP-SRV-6).
"""

from __future__ import annotations

import random
from collections import Counter

from rrp_spec import (
    AMPLIFICATION_FACTOR,
    CONNECTION_SOURCE_PREFIX_V4,
    CONNECTION_SOURCE_PREFIX_V6,
    COUNTER_SIZE,
    HEADER_SIZE,
    MIN_DEDUP_WINDOW,
    Action,
    Op,
    ProtocolViolation,
    Result,
    Transport,
    decode_request_datagram,
    is_plain_request,
    pack_reply_to,
    reply_result,
    unpack_header_fields,
)
from rrp_spec.addresses import format_address

from .dedup import DedupCache
from .dispatch import Dispatcher, HandlerError, HandlerFailure
from .prefixes import source_prefix
from .ratelimit import RateVerdict, ResponseRateLimiter
from .server_events import CallRequested, DropReason, HandlerFailed, Rejected, ServerEvent, Tally
from .settings import ServerSettings

#: A peer as the core sees it: (host, port).
Peer = tuple[str, int]
_OK = int(Result.OK)
_BUSY = int(Result.BUSY)
_INCREMENT = int(Op.INCREMENT)
_UDP = Transport.UDP
#: Operations whose reply depends only on the request: carrying one out again answers a retransmission
#: with the same bytes, so they need no cache entry (UDP-SRV-7).
_STATELESS = frozenset({int(Op.NOOP), int(Op.ECHO)})


class UdpServerCore:
    """Judges and answers UDP datagrams. One instance serves every UDP socket of a server."""

    def __init__(
        self,
        settings: ServerSettings | None = None,
        dispatcher: Dispatcher | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings = settings or ServerSettings()
        #: Carries requests out; shared with the TCP side so both see one counter.
        self.dispatcher = dispatcher or Dispatcher()
        #: Replies by (host, port, request_id), for retransmissions.
        self.dedup = DedupCache(
            window=settings.dedup_window,
            max_entries=settings.dedup_entries,
            max_bytes=settings.dedup_bytes,
            min_age=MIN_DEDUP_WINDOW,
            source_share=settings.dedup_source_share,
            largest_reply=AMPLIFICATION_FACTOR * (HEADER_SIZE + settings.udp_max_payload),
        )
        #: Per-prefix reply budget, or ``None`` when rate limiting is off.
        self.rate_limiter = (
            ResponseRateLimiter(
                rate=settings.rate_limit, slip=settings.rate_limit_slip, max_prefixes=settings.rate_limit_prefixes
            )
            if settings.rate_limit
            else None
        )
        self._max_payload = settings.udp_max_payload
        self._max_calls = settings.max_udp_calls
        self._drop_rate = settings.drop_rate
        self._rng = rng or random.Random(settings.seed)
        self._in_progress: set[tuple[str, int, int]] = set()
        # Room reserved in the cache for the replies of calls in progress: key -> (source, bytes).
        self._reserved: dict[tuple[str, int, int], tuple[int, int]] = {}
        self._events: list[ServerEvent] = []
        # This batch's tally, counted in place (see the module docstring).
        self._requests: Counter[int] = Counter()
        self._replies: Counter[int] = Counter()
        self._drops: Counter[DropReason] = Counter()
        self._dedup_hits = 0

    def handle_datagram(self, data: bytes, peer: Peer, now: float) -> bytes | CallRequested | None:
        """The reply to send back to ``peer`` for ``data``, a :class:`CallRequested`, or ``None`` for silence."""
        if self._drop_rate and self._rng.random() < self._drop_rate:
            self._drops[DropReason.DELIBERATE] += 1
            return None
        length = len(data)
        if length >= HEADER_SIZE:
            magic, version, flags, operation, result, request_id, size = unpack_header_fields(data)
            # The spec's fast path: the common case skips building and judging a Header.
            if is_plain_request(magic, version, flags, operation, result, request_id, size, self._max_payload, length):
                return self._serve(data, operation, request_id, peer, now)
        try:
            message = decode_request_datagram(data, self._max_payload)
        except ProtocolViolation as violation:
            return self._rejected(violation, peer, now)
        header = message.header
        return self._serve(data, header.operation, header.request_id, peer, now)

    def _serve(
        self, data: bytes, operation: int, request_id: int, peer: Peer, now: float
    ) -> bytes | CallRequested | None:
        if operation in _STATELESS:
            # Nothing to remember: a retransmission is carried out again, with the same reply (UDP-SRV-7).
            limiter = self.rate_limiter
            if limiter is not None:
                verdict = limiter.judge(peer[0], now)
                if verdict is not RateVerdict.SEND:
                    return self._over_rate(operation, request_id, verdict)
            self._requests[operation] += 1
            out = self.dispatcher.execute(operation, data[HEADER_SIZE:])
            assert out is not None  # NOOP and ECHO are synchronous
            self._replies[_OK] += 1
            return pack_reply_to(operation, request_id, _OK, out)
        key = (peer[0], peer[1], request_id)
        dedup = self.dedup
        cached = dedup.get(key, now)
        if cached is not None:
            self._dedup_hits += 1
            if len(cached) > AMPLIFICATION_FACTOR * len(data):
                # UDP-SRV-5 binds the cache too: a short datagram reusing a big request's ID (a spoofer's
                # trick; a real retransmission is the same size) gets a bare TOO_LARGE, not the big reply.
                cached = pack_reply_to(operation, request_id, Result.TOO_LARGE)
            return self._limited(operation, request_id, cached, peer, now)
        if key in self._in_progress:
            self._drops[DropReason.IN_PROGRESS] += 1
            return None
        limiter = self.rate_limiter
        if limiter is not None:
            verdict = limiter.judge(peer[0], now)
            if verdict is not RateVerdict.SEND:
                # Not carried out: the client's retransmission will be, once the rate allows.
                return self._over_rate(operation, request_id, verdict)
        source = source_prefix(peer[0], CONNECTION_SOURCE_PREFIX_V4, CONNECTION_SOURCE_PREFIX_V6)
        reserved = HEADER_SIZE + COUNTER_SIZE if operation == _INCREMENT else AMPLIFICATION_FACTOR * len(data)
        if not dedup.reserve(source, reserved, now):
            # UDP-SRV-9: no room without forgetting a reply a client may still ask for again. Not carried
            # out, so the BUSY needs no entry either: the client's retransmission is served later.
            self._replies[_BUSY] += 1
            return pack_reply_to(operation, request_id, _BUSY)
        self._requests[operation] += 1
        payload = data[HEADER_SIZE:]
        try:
            out = self.dispatcher.execute(operation, payload)
        except HandlerError as error:
            if type(error) is HandlerFailure:
                self._events.append(HandlerFailed(operation, error.error))
            return self._finish(key, operation, request_id, error.result, b"", len(data), (source, reserved), now)
        if out is None:
            if len(self._in_progress) >= self._max_calls:
                # Every async slot is taken: answer BUSY (a bare header, never an amplifier) rather than
                # start one more call; nothing is cached, so the client's retransmission is served later.
                dedup.release(source, reserved)
                self._replies[_BUSY] += 1
                return pack_reply_to(operation, request_id, _BUSY)
            self._in_progress.add(key)
            self._reserved[key] = (source, reserved)
            return CallRequested(operation, request_id, payload, peer, len(data))
        return self._finish(key, operation, request_id, _OK, out, len(data), (source, reserved), now)

    def complete(self, call: CallRequested, value: object, error: BaseException | None, now: float) -> bytes:
        """The reply to a :class:`CallRequested`: ``value`` its handler returned, or ``error`` it raised."""
        peer: Peer = call._peer  # type: ignore[assignment]
        operation, request_id = call.operation, call.request_id
        key = (peer[0], peer[1], request_id)
        self._in_progress.discard(key)
        room = self._reserved.pop(key)
        try:
            out = self.dispatcher.outcome_of(value, error)
        except HandlerError as failure:
            if type(failure) is HandlerFailure:
                self._events.append(HandlerFailed(operation, failure.error))
            return self._finish(key, operation, request_id, failure.result, b"", call._length, room, now)
        return self._finish(key, operation, request_id, _OK, out, call._length, room, now)

    def note_send_failures(self, count: int) -> None:
        """The operating system would not take ``count`` reply datagrams."""
        self._drops[DropReason.SEND_FAILED] += count

    def take_events(self) -> list[ServerEvent]:
        """What happened since the last call (:mod:`rrp._sansio.server_events`), oldest first; drained."""
        events = self._events
        if self._requests or self._replies or self._drops or self._dedup_hits:
            events.append(Tally(self._requests, self._replies, self._drops, self._dedup_hits))
            self._requests, self._replies, self._drops, self._dedup_hits = Counter(), Counter(), Counter(), 0
        if events:
            self._events = []
        return events

    @property
    def in_progress(self) -> int:
        """Requests whose async handler is still running."""
        return len(self._in_progress)

    def _finish(
        self,
        key: tuple[str, int, int],
        operation: int,
        request_id: int,
        result: int,
        payload: bytes,
        request_length: int,
        room: tuple[int, int],
        now: float,
    ) -> bytes:
        reply = pack_reply_to(operation, request_id, result, payload)
        if len(reply) > AMPLIFICATION_FACTOR * request_length:
            # UDP-SRV-5: never reflect more than AMPLIFICATION_FACTOR times what arrived.
            result = Result.TOO_LARGE
            reply = pack_reply_to(operation, request_id, result)
        source, reserved = room
        self.dedup.put(key, reply, source, reserved, now)
        self._replies[result] += 1
        return reply

    def _limited(self, operation: int, request_id: int, reply: bytes, peer: Peer, now: float) -> bytes | None:
        limiter = self.rate_limiter
        if limiter is not None:
            verdict = limiter.judge(peer[0], now)
            if verdict is not RateVerdict.SEND:
                return self._over_rate(operation, request_id, verdict)
        self._replies[reply_result(reply)] += 1
        return reply

    def _over_rate(self, operation: int, request_id: int, verdict: RateVerdict) -> bytes | None:
        if verdict is RateVerdict.SLIP:
            self._replies[Result.BUSY] += 1
            return pack_reply_to(operation, request_id, Result.BUSY)
        self._drops[DropReason.RATE_LIMITED] += 1
        return None

    def _rejected(self, violation: ProtocolViolation, peer: Peer, now: float) -> bytes | None:
        self._events.append(Rejected(_UDP, format_address(peer), violation))
        if violation.action is not Action.REPLY or violation.header is None or violation.result is None:
            self._drops[DropReason.INVALID] += 1
            return None
        if self.rate_limiter is not None:
            verdict = self.rate_limiter.judge(peer[0], now)
            if verdict is not RateVerdict.SEND:
                header = violation.header
                return self._over_rate(header.operation, header.request_id, verdict)
        self._replies[violation.result] += 1
        return violation.error_reply()
