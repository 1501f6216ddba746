"""RRP/1 reference implementation: sans-IO server and client cores, asyncio and blocking adapters, the ``rrp`` command.

The protocol itself (wire format, codes, limits, requirements) lives in :mod:`rrp_spec`.
"""

from __future__ import annotations

# --- server ---
from .connlimits import Admission, ConnectionLimits
from .counters import CloseReason, CounterSnapshot, DropReason, ServerCounters
from .dedup import DedupCache
from .dispatch import Dispatcher, HandlerError
from .ratelimit import RateVerdict, ResponseRateLimiter
from .server import Endpoint, Server
from .settings import ServerSettings
from .tcp_core import Phase, TcpCall, TcpConnection
from .udp_core import PendingCall, UdpServerCore

__all__ = [
    "Admission",
    "CloseReason",
    "ConnectionLimits",
    "CounterSnapshot",
    "DedupCache",
    "Dispatcher",
    "DropReason",
    "Endpoint",
    "HandlerError",
    "PendingCall",
    "Phase",
    "RateVerdict",
    "ResponseRateLimiter",
    "Server",
    "ServerCounters",
    "ServerSettings",
    "TcpCall",
    "TcpConnection",
    "UdpServerCore",
]
