"""The normative sizes, bounds and timing constants of RRP/1, defined once.

Every value here binds every implementation: a field's range, a bound no setting
may cross, a prefix length the rules group addresses by. The reference
implementation's own choices within these bounds (its defaults) are not here;
see :mod:`rrp_spec.reference_defaults` and the reference server's settings.

The retry schedule is data too (:class:`RetryPolicy`): clients follow it, servers
size their duplicate-reply window from it, and the conformance suite measures
clients against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .wire import HEADER_STRUCT
from .wire import MAGIC as MAGIC  # defined with the wire format; re-exported with the other constants

#: Bytes of the fixed header that starts every message.
HEADER_SIZE: int = HEADER_STRUCT.sizeof()
#: The only protocol version this specification defines.
VERSION = 1
#: Largest value of a 16-bit IP length field: the IPv4 total length, the IPv6 payload length, the UDP length.
MAX_IP_LENGTH = 0xFFFF
#: Bytes of an IPv4 header without options (RFC 791).
IPV4_HEADER_SIZE = 20
#: Bytes of a UDP header (RFC 768).
UDP_HEADER_SIZE = 8
#: Largest UDP payload over IPv4: the largest IPv4 packet less the IPv4 and UDP headers (65507).
MAX_UDP_DATAGRAM = MAX_IP_LENGTH - IPV4_HEADER_SIZE - UDP_HEADER_SIZE
#: A receive buffer this large holds any UDP datagram whole, over IPv4 or IPv6 (without jumbograms): the
#: largest UDP length less the UDP header (65527). Smaller buffers silently truncate what they cannot hold.
UDP_RECEIVE_BUFFER_SIZE = MAX_IP_LENGTH - UDP_HEADER_SIZE
#: Largest RRP payload that fits one UDP datagram: the datagram minus the RRP header.
MAX_UDP_PAYLOAD = MAX_UDP_DATAGRAM - HEADER_SIZE
#: Largest value of the 32-bit ``size`` field.
MAX_SIZE_FIELD = 0xFFFF_FFFF
#: Largest 64-bit request ID.
MAX_REQUEST_ID = 0xFFFF_FFFF_FFFF_FFFF
#: Bytes of an INCREMENT reply's payload: the counter as a big-endian u64.
COUNTER_SIZE = 8

#: A UDP reply datagram is never larger than this many times its request datagram.
AMPLIFICATION_FACTOR = 3

#: No server may allow a request more than this long to arrive, whatever its setting.
MAX_REQUEST_DEADLINE = 10.0
#: Prefix length that groups IPv4 sources for the per-source connection limit (one address).
CONNECTION_SOURCE_PREFIX_V4 = 32
#: Prefix length that groups IPv6 sources for the per-source connection limit.
CONNECTION_SOURCE_PREFIX_V6 = 64
#: Prefix length that groups IPv4 sources into one network, for the per-network limit and slot reclaiming.
CONNECTION_NETWORK_PREFIX_V4 = 24
#: Prefix length that groups IPv6 sources into one network (a typical site allocation).
CONNECTION_NETWORK_PREFIX_V6 = 48
#: Largest request payload that counts as small where a server's memory budget is concerned (TCP-SRV-14): past
#: its budget a server answers a request with a larger payload BUSY at its header, and goes on serving small
#: ones, so that honest small requests are served through a memory attack. About one UDP datagram's worth.
MAX_SMALL_PAYLOAD = 64 * 1024
#: No server may let a write stay blocked longer than this (CIS recommends at most 10 s for nginx's send_timeout).
MAX_SEND_TIMEOUT = 10.0
#: Prefix length that groups IPv4 clients for UDP response rate limiting (after BIND's RRL).
RATE_LIMIT_PREFIX_V4 = 24
#: Prefix length that groups IPv6 clients for UDP response rate limiting.
RATE_LIMIT_PREFIX_V6 = 56


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A UDP client's retransmission schedule.

    Attempt ``n`` (1-based) waits ``base_timeout(n) * U(1, jitter_max)`` for a
    reply, where ``base_timeout(n) = min(initial_timeout * backoff ** (n - 1),
    max_timeout)``. After ``max_attempts`` attempts the client gives up. Every
    attempt carries the same request ID.
    """

    #: T_1, the first attempt's base timeout in seconds.
    initial_timeout: float = 0.1
    #: Each attempt's base timeout is this many times the previous one's.
    backoff: float = 2.0
    #: Cap on any attempt's base timeout, in seconds.
    max_timeout: float = 2.0
    #: Attempts in all, the first transmission included.
    max_attempts: int = 5
    #: Upper bound (exclusive) of the uniform jitter multiplier; the lower bound is 1.
    jitter_max: float = 1.5

    def __post_init__(self) -> None:
        if not self.initial_timeout > 0:
            raise ValueError("initial_timeout must be positive")
        if not self.backoff >= 1:
            raise ValueError("backoff must be at least 1")
        if not self.max_timeout >= self.initial_timeout:
            raise ValueError("max_timeout must be at least initial_timeout")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.jitter_max >= 1:
            raise ValueError("jitter_max must be at least 1")

    def base_timeout(self, attempt: int) -> float:
        """T_n: the timeout of attempt ``attempt`` (1-based) before jitter."""
        if not 1 <= attempt <= self.max_attempts:
            raise ValueError(f"attempt must be between 1 and {self.max_attempts}")
        exponent = attempt - 1
        # Compare in log space so that huge attempt counts cannot overflow a float.
        if exponent * math.log(self.backoff) >= math.log(self.max_timeout / self.initial_timeout):
            return self.max_timeout
        return self.initial_timeout * self.backoff**exponent

    def timeout_bounds(self, attempt: int) -> tuple[float, float]:
        """The interval ``[T_n, T_n * jitter_max)`` that attempt ``attempt``'s timeout falls in."""
        base = self.base_timeout(attempt)
        return base, base * self.jitter_max

    def timeout(self, attempt: int, jitter: float) -> float:
        """Attempt ``attempt``'s timeout for a jitter draw ``jitter`` in ``[0, 1)``."""
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        base = self.base_timeout(attempt)
        return base * (1 + (self.jitter_max - 1) * jitter)

    def best_case_span(self) -> float:
        """Shortest time from the first transmission until the client gives up."""
        return sum(self.base_timeout(n) for n in range(1, self.max_attempts + 1))

    def worst_case_span(self) -> float:
        """Longest time from the first transmission until the client gives up."""
        return self.best_case_span() * self.jitter_max


#: The schedule RRP/1 recommends; clients SHOULD use it unless configured otherwise.
DEFAULT_RETRY_POLICY = RetryPolicy()

#: The shortest duplicate-reply window a server may use: a client on the default
#: schedule may still retransmit until this long after its first transmission.
MIN_DEDUP_WINDOW = DEFAULT_RETRY_POLICY.worst_case_span()
