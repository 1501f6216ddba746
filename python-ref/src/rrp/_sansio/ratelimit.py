"""UDP response rate limiting (UDP-SRV-10), after BIND's RRL and Knot's ``rate-limit``.

A token bucket per client prefix (IPv4 /24, IPv6 /56) holds at most one second of
replies and refills at ``rate`` replies per second; each reply takes a token. A
reply with no token left is dropped, except every ``slip``-th, which goes out as
a bare BUSY error reply so that a real client behind an abused prefix still learns
to retry. With spoofed sources this caps what the server reflects at a victim to
``rate`` replies per second per prefix, whatever the attacker sends. The table of
buckets is bounded; the least recently seen prefix is forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from enum import IntEnum

from rrp_spec import RATE_LIMIT_PREFIX_V4, RATE_LIMIT_PREFIX_V6

from .prefixes import source_prefix


class RateVerdict(IntEnum):
    """What to do with one reply."""

    #: Within the rate: send it.
    SEND = 0
    #: Over the rate, but this one slips through as a bare BUSY.
    SLIP = 1
    #: Over the rate: send nothing.
    DROP = 2


class _Bucket:
    __slots__ = ("last", "over", "tokens")

    def __init__(self, tokens: float, last: float) -> None:
        self.tokens = tokens
        self.last = last
        self.over = 0


class ResponseRateLimiter:
    """Token buckets by client prefix; :meth:`judge` says whether a reply to ``host`` may go out."""

    __slots__ = ("_buckets", "burst", "max_prefixes", "rate", "slip")

    def __init__(self, *, rate: float, slip: int, max_prefixes: int) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        #: Replies per second per prefix.
        self.rate = rate
        #: Every slip-th reply over the rate is sent as BUSY; 0 drops them all.
        self.slip = slip
        #: Most prefixes tracked at once.
        self.max_prefixes = max_prefixes
        #: Tokens a bucket holds when full: one second of replies, at least one.
        self.burst = max(rate, 1.0)
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def judge(self, host: str, now: float) -> RateVerdict:
        """Take a token for one reply to ``host`` at ``now``, or say why not."""
        key = source_prefix(host, RATE_LIMIT_PREFIX_V4, RATE_LIMIT_PREFIX_V6)
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = _Bucket(self.burst, now)
            if len(buckets) > self.max_prefixes:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(key)
            elapsed = now - bucket.last
            if elapsed > 0:
                bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
                bucket.last = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return RateVerdict.SEND
        bucket.over += 1
        if self.slip and bucket.over % self.slip == 0:
            return RateVerdict.SLIP
        return RateVerdict.DROP
