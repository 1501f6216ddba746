"""The reference server's settings: every limit it enforces, each with a safe default from :mod:`rrp_spec`.

Memory bound. Under any input whatsoever, the server holds at most about::

    (max_connections + max_busy_connections)
        * (HEADER_SIZE + tcp_max_payload          # one connection's receive buffer (TCP-SRV-4)
           + 256 KiB                               # plus one read that arrived as the server stopped reading
           + max_buffered_reply_bytes              # replies its peer has not read yet (TCP-SRV-10)
           + HEADER_SIZE + tcp_max_payload         # plus the reply being written when the bound is crossed
           + max_unanswered_requests               # requests an async handler holds, and the replies
             * (HEADER_SIZE + tcp_max_payload))    #   queued behind it
    + dedup_bytes + dedup_entries * ~250 B         # the UDP duplicate-reply cache (UDP-SRV-9)
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

# The spec's bounds, which no setting may cross...
from rrp_spec.limits import (
    MAX_REQUEST_DEADLINE,
    MAX_SEND_TIMEOUT,
    MAX_SIZE_FIELD,
    MAX_SMALL_PAYLOAD,
    MAX_UDP_PAYLOAD,
    MIN_DEDUP_WINDOW,
)

# ...and the few defaults the spec and the conformance suite quote; every other default is declared below.
from rrp_spec.reference_defaults import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_NETWORK,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_REQUEST_DEADLINE,
    DEFAULT_SEND_TIMEOUT,
    DEFAULT_TCP_MAX_PAYLOAD,
    DEFAULT_UDP_MAX_PAYLOAD,
)

from .setting import DeclaredSetting, Unit, declared_settings, setting, validate


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """Every limit of the reference server. Construction validates them; see the module docstring for the memory bound.

    Each field is declared once, with :func:`~rrp._sansio.setting.setting`: its default, meaning, unit and
    bounds. The ``rrp serve`` flags (``--tcp-max-payload`` for ``tcp_max_payload``), their help and their
    error sentences, and the settings table on the reference page (flag, default, allowed values and
    meaning of each field) are all derived from these declarations.
    Times are in seconds, sizes in bytes.
    """

    tcp_max_payload: int = setting(
        DEFAULT_TCP_MAX_PAYLOAD,
        help="Largest TCP request payload accepted; larger sizes get TOO_LARGE and a close (TCP-SRV-4).",
        unit=Unit.BYTES,
        low=0,
        high=MAX_SIZE_FIELD,
    )
    udp_max_payload: int = setting(
        DEFAULT_UDP_MAX_PAYLOAD,
        help="Largest UDP request payload accepted; larger ones get TOO_LARGE (SRV-8, UDP-SRV-4).",
        unit=Unit.BYTES,
        low=0,
        high=MAX_UDP_PAYLOAD,
        bound_by="UDP-SRV-4",
    )
    max_connections: int = setting(
        DEFAULT_MAX_CONNECTIONS,
        help="TCP connections open at once, counted from accept (TCP-SRV-7, TCP-SRV-11).",
        unit=Unit.COUNT,
        low=1,
    )
    max_connections_per_source: int = setting(
        DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
        help="TCP connections open at once from one IPv4 address or IPv6 /64 (TCP-SRV-12).",
        unit=Unit.COUNT,
        low=1,
    )
    max_connections_per_network: int = setting(
        DEFAULT_MAX_CONNECTIONS_PER_NETWORK,
        help="TCP connections open at once from one IPv4 /24 or IPv6 /48 (TCP-SRV-12); at the global limit, the "
        "network holding the most gives up its oldest slot to a newcomer from one holding fewer (TCP-SRV-13).",
        unit=Unit.COUNT,
        low=1,
    )
    max_busy_connections: int = setting(
        64,
        help="Connections over a limit held at once just long enough to read their first header and answer "
        "BUSY (TCP-SRV-7, TCP-SRV-12); the rest are closed at accept.",
        unit=Unit.COUNT,
        low=0,
    )
    request_deadline: float = setting(
        DEFAULT_REQUEST_DEADLINE,
        help="Whole-request deadline over TCP, counted from a request's first byte (TCP-SRV-5).",
        unit=Unit.SECONDS,
        low=0,
        above=True,
        high=MAX_REQUEST_DEADLINE,
        bound_by="TCP-SRV-5",
    )
    idle_timeout: float = setting(
        DEFAULT_IDLE_TIMEOUT,
        help="How long a TCP connection may sit idle between requests (TCP-SRV-6).",
        unit=Unit.SECONDS,
        low=0,
        above=True,
    )
    send_timeout: float = setting(
        DEFAULT_SEND_TIMEOUT,
        help="How long a write to a TCP peer may stay blocked before the connection is closed (TCP-SRV-10).",
        unit=Unit.SECONDS,
        low=0,
        above=True,
        high=MAX_SEND_TIMEOUT,
        bound_by="TCP-SRV-10",
    )
    max_buffered_reply_bytes: int = setting(
        4 << 20,
        help="Reply bytes buffered for one TCP connection above which the server stops reading it (TCP-SRV-10).",
        unit=Unit.BYTES,
        low=1,
    )
    memory_budget: int = setting(
        DEFAULT_MEMORY_BUDGET,
        help="Request payload bytes being collected plus reply bytes waiting to be sent, over every TCP "
        f"connection together; past it, requests over {MAX_SMALL_PAYLOAD // 1024} KiB are answered BUSY and "
        f"connections holding unsent replies are not read (TCP-SRV-14). {DEFAULT_MEMORY_BUDGET >> 20} MiB is "
        f"{DEFAULT_MEMORY_BUDGET // DEFAULT_TCP_MAX_PAYLOAD} full-size requests in flight, far more than honest "
        "traffic needs, and keeps the server under 512 MiB of memory on a small machine.",
        unit=Unit.BYTES,
        low=1 << 20,
    )
    max_unanswered_requests: int = setting(
        64,
        help="Requests read from one TCP connection and not yet answered (async handlers running, or replies "
        "queued behind one) above which the server stops reading it until one is answered.",
        unit=Unit.COUNT,
        low=1,
    )
    max_udp_calls: int = setting(
        1024,
        help="UDP requests whose async handler may run at once; more are answered BUSY.",
        unit=Unit.COUNT,
        low=1,
    )
    dedup_window: float = setting(
        DEFAULT_DEDUP_WINDOW,
        help="How long a UDP reply is kept to answer retransmissions (UDP-SRV-7, UDP-SRV-8).",
        unit=Unit.SECONDS,
        low=MIN_DEDUP_WINDOW,
        bound_by="UDP-SRV-8",
    )
    dedup_entries: int = setting(
        65536,
        help="Entries in the UDP duplicate-reply cache (UDP-SRV-9).",
        unit=Unit.COUNT,
        low=1,
    )
    dedup_bytes: int = setting(
        64 << 20,
        help="Reply bytes in the UDP duplicate-reply cache (UDP-SRV-9).",
        unit=Unit.BYTES,
        low=0,
    )
    dedup_source_share: float = setting(
        1 / 16,
        help="Share of the duplicate-reply cache's entries and bytes one IPv4 address or IPv6 /64 may hold; its "
        "requests beyond it are answered BUSY, so one flooder cannot take the whole cache (UDP-SRV-9).",
        unit=Unit.SHARE,
        low=0,
        above=True,
        high=1,
    )
    rate_limit: float = setting(
        0.0,
        help="UDP replies per second per client prefix, IPv4 /24 or IPv6 /56 (UDP-SRV-10).",
        unit=Unit.PER_SECOND,
        low=0,
        zero_means="off",
    )
    rate_limit_slip: int = setting(
        2,
        help="Every n-th reply over the rate is sent anyway as a bare BUSY, so that a real client behind a "
        "spoofed prefix still learns to retry (UDP-SRV-10).",
        unit=Unit.COUNT,
        low=0,
        zero_means="drop them all",
    )
    rate_limit_prefixes: int = setting(
        65536,
        help="Client prefixes the rate limiter tracks at once; the least recently seen is forgotten first.",
        unit=Unit.COUNT,
        low=1,
    )
    drop_rate: float = setting(
        0.0,
        help="Share of incoming UDP requests dropped on purpose, to exercise clients' retries.",
        unit=Unit.SHARE,
        low=0,
        high=1,
        zero_means="none",
    )
    seed: int | None = setting(
        None,
        help="Seed of the deliberate drops, for reproducible runs; unset seeds from the OS.",
        unit=Unit.NUMBER,
    )
    grace: float = setting(
        5.0,
        help="How long a shutting-down server lets requests in flight finish.",
        unit=Unit.SECONDS,
        low=0,
    )

    def __post_init__(self) -> None:
        validate(self, SETTINGS)


#: Every setting of :class:`ServerSettings`, in declaration order, as declared.
SETTINGS: tuple[DeclaredSetting, ...] = declared_settings(ServerSettings)
