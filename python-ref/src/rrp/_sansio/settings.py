"""The reference server's settings: every limit it enforces, each with a safe default from :mod:`rrp_spec`.

Memory bound. Under any input whatsoever, the server holds at most about::

    (max_connections + max_busy_connections)
        * (HEADER_SIZE + tcp_max_payload          # one connection's receive buffer (TCP-SRV-4)
           + 256 KiB                               # plus one read that arrived as the server stopped reading
           + max_buffered_reply_bytes              # replies its peer has not read yet (TCP-SRV-10)
           + HEADER_SIZE + tcp_max_payload         # plus the reply being written when the bound is crossed
           + max_unanswered_requests               # requests an async handler holds, and the replies
             * (HEADER_SIZE + tcp_max_payload))    #   queued behind it
    + dedup_bytes + dedup_entries * ~200 B         # the UDP duplicate-reply cache (UDP-SRV-9)
    + rate_limit_prefixes * ~150 B                 # the UDP response rate limiter's buckets (UDP-SRV-10)
    + per UDP socket, 64 receive slots of 64 KiB (4 MiB of address space for
      recvmmsg; only the pages datagrams are written into become resident)
    + max_udp_calls * udp_max_payload              # UDP requests held by async handlers

plus what application handlers allocate themselves. With the defaults that is
about 10 GiB in the theoretical worst case of every connection slot holding a
full 1 MiB request and 4 MiB of unread replies at once; lower ``tcp_max_payload``
or ``max_connections`` to bound it tighter.
"""

from __future__ import annotations

from dataclasses import dataclass

from rrp_spec import (
    DEFAULT_DEDUP_BYTES,
    DEFAULT_DEDUP_ENTRIES,
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BUFFERED_REPLY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RATE_LIMIT_SLIP,
    DEFAULT_REQUEST_DEADLINE,
    DEFAULT_SEND_TIMEOUT,
    DEFAULT_TCP_MAX_PAYLOAD,
    DEFAULT_UDP_MAX_PAYLOAD,
    MAX_REQUEST_DEADLINE,
    MAX_SEND_TIMEOUT,
    MAX_SIZE_FIELD,
    MAX_UDP_PAYLOAD,
    MIN_DEDUP_WINDOW,
)

#: Default number of connections over a limit that are kept open just long enough to read
#: their first header and answer BUSY (TCP-SRV-7, TCP-SRV-12); beyond it they are refused.
DEFAULT_MAX_BUSY_CONNECTIONS = 64
#: Default number of client prefixes the UDP response rate limiter tracks at once.
DEFAULT_RATE_LIMIT_PREFIXES = 65536
#: Default time a shutting-down server waits for requests in flight.
DEFAULT_GRACE = 5.0
#: Default number of UDP requests whose async handler may run at once; more are answered BUSY.
DEFAULT_MAX_UDP_CALLS = 1024
#: Default number of requests read from one TCP connection and not yet answered (waiting for an
#: async handler, or queued behind one) before the server stops reading that connection.
DEFAULT_MAX_UNANSWERED_REQUESTS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """Every limit of the reference server. Construction validates them; see the module docstring for the memory bound.

    Times are in seconds, sizes in bytes.
    """

    #: Largest TCP request payload accepted; larger sizes get TOO_LARGE and a close (TCP-SRV-4).
    tcp_max_payload: int = DEFAULT_TCP_MAX_PAYLOAD
    #: Largest UDP request payload accepted; larger ones get TOO_LARGE (SRV-8, UDP-SRV-4).
    udp_max_payload: int = DEFAULT_UDP_MAX_PAYLOAD
    #: TCP connections open at once, counted from accept (TCP-SRV-7, TCP-SRV-11).
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    #: TCP connections open at once from one IPv4 address or IPv6 /64 (TCP-SRV-12).
    max_connections_per_source: int = DEFAULT_MAX_CONNECTIONS_PER_SOURCE
    #: Over-limit connections held at once to answer BUSY; the rest are closed at accept.
    max_busy_connections: int = DEFAULT_MAX_BUSY_CONNECTIONS
    #: Whole-request deadline over TCP, counted from a request's first byte (TCP-SRV-5).
    request_deadline: float = DEFAULT_REQUEST_DEADLINE
    #: How long a TCP connection may sit idle between requests (TCP-SRV-6).
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    #: How long a write to a TCP peer may stay blocked before the connection is closed (TCP-SRV-10).
    send_timeout: float = DEFAULT_SEND_TIMEOUT
    #: Reply bytes buffered for one TCP connection above which the server stops reading it (TCP-SRV-10).
    max_buffered_reply_bytes: int = DEFAULT_MAX_BUFFERED_REPLY_BYTES
    #: Requests read from one TCP connection and not yet answered (async handlers running, or replies
    #: queued behind one) above which the server stops reading it until one is answered.
    max_unanswered_requests: int = DEFAULT_MAX_UNANSWERED_REQUESTS
    #: UDP requests whose async handler may run at once; more are answered BUSY.
    max_udp_calls: int = DEFAULT_MAX_UDP_CALLS
    #: How long a UDP reply is kept to answer retransmissions (UDP-SRV-7, UDP-SRV-8).
    dedup_window: float = DEFAULT_DEDUP_WINDOW
    #: Entries in the UDP duplicate-reply cache (UDP-SRV-9).
    dedup_entries: int = DEFAULT_DEDUP_ENTRIES
    #: Reply bytes in the UDP duplicate-reply cache (UDP-SRV-9).
    dedup_bytes: int = DEFAULT_DEDUP_BYTES
    #: UDP replies per second per client prefix; 0 turns response rate limiting off (UDP-SRV-10).
    rate_limit: float = DEFAULT_RATE_LIMIT
    #: Every n-th reply over the rate is sent as a bare BUSY; 0 drops them all (UDP-SRV-10).
    rate_limit_slip: int = DEFAULT_RATE_LIMIT_SLIP
    #: Client prefixes the rate limiter tracks at once; the least recently seen is forgotten first.
    rate_limit_prefixes: int = DEFAULT_RATE_LIMIT_PREFIXES
    #: Share of incoming UDP requests dropped on purpose, to exercise clients' retries (0 = none).
    drop_rate: float = 0.0
    #: Seed of the deliberate drops, for reproducible runs; ``None`` seeds from the OS.
    seed: int | None = None
    #: How long a shutting-down server lets requests in flight finish.
    grace: float = DEFAULT_GRACE

    def __post_init__(self) -> None:
        _in_range("tcp_max_payload", self.tcp_max_payload, 0, MAX_SIZE_FIELD)
        _in_range("udp_max_payload", self.udp_max_payload, 0, MAX_UDP_PAYLOAD)
        _in_range("max_connections", self.max_connections, 1, None)
        _in_range("max_connections_per_source", self.max_connections_per_source, 1, None)
        _in_range("max_busy_connections", self.max_busy_connections, 0, None)
        _positive("request_deadline", self.request_deadline, MAX_REQUEST_DEADLINE)
        _positive("idle_timeout", self.idle_timeout, None)
        _positive("send_timeout", self.send_timeout, MAX_SEND_TIMEOUT)
        _in_range("max_buffered_reply_bytes", self.max_buffered_reply_bytes, 1, None)
        _in_range("max_unanswered_requests", self.max_unanswered_requests, 1, None)
        _in_range("max_udp_calls", self.max_udp_calls, 1, None)
        if not self.dedup_window >= MIN_DEDUP_WINDOW:
            raise ValueError(f"dedup_window must be at least {MIN_DEDUP_WINDOW:g} s (UDP-SRV-8)")
        _in_range("dedup_entries", self.dedup_entries, 1, None)
        _in_range("dedup_bytes", self.dedup_bytes, 0, None)
        if not self.rate_limit >= 0:
            raise ValueError("rate_limit must be 0 (off) or a positive number of replies per second")
        _in_range("rate_limit_slip", self.rate_limit_slip, 0, None)
        _in_range("rate_limit_prefixes", self.rate_limit_prefixes, 1, None)
        if not 0 <= self.drop_rate <= 1:
            raise ValueError("drop_rate must be between 0 and 1")
        if not self.grace >= 0:
            raise ValueError("grace must not be negative")


def _in_range(name: str, value: int, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}, not {value}")


def _positive(name: str, value: float, high: float | None) -> None:
    # Written as "not (... )" so that NaN fails too.
    if not value > 0 or (high is not None and not value <= high):
        bound = f"above 0 and at most {high:g} s" if high is not None else "above 0"
        raise ValueError(f"{name} must be {bound}, not {value}")
