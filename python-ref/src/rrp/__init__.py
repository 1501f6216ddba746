"""RRP/1 reference implementation: sans-IO server and client cores, asyncio and blocking adapters, the ``rrp`` command.

The protocol itself (wire format, codes, limits, requirements) lives in :mod:`rrp_spec`.
"""

from __future__ import annotations

from .addresses import Address, address_key, format_address
from .async_client import AsyncClient
from .client import Client, call_many
from .client_errors import (
    ConnectionClosed,
    ConnectionFailed,
    DeadlineExceeded,
    ErrorResult,
    GaveUp,
    ReplyRejected,
    RrpError,
    TimedOut,
)
from .client_events import (
    AttemptStarted,
    ClientEvent,
    Connected,
    DatagramIgnored,
    EventObserver,
    ExchangeGaveUp,
    IgnoreReason,
    ReplyAccepted,
    RequestSent,
)
from .connlimits import Admission, ConnectionLimits
from .counters import CloseReason, CounterSnapshot, DropReason, ServerCounters
from .dedup import DedupCache
from .dispatch import Dispatcher, HandlerError
from .ratelimit import RateVerdict, ResponseRateLimiter
from .reply import Reply, ServerOutcome
from .request_ids import RequestIdSource, new_request_id
from .server import Endpoint, Server
from .settings import ServerSettings
from .tcp_core import Phase, TcpCall, TcpConnection
from .tcp_reply_reader import TcpReplyReader
from .udp_core import PendingCall, UdpServerCore
from .udp_exchange import ExchangeState, UdpExchange
from .udp_multi_exchange import UdpMultiExchange

__all__ = [
    "Address",
    "Admission",
    "AsyncClient",
    "AttemptStarted",
    "Client",
    "ClientEvent",
    "CloseReason",
    "Connected",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionLimits",
    "CounterSnapshot",
    "DatagramIgnored",
    "DeadlineExceeded",
    "DedupCache",
    "Dispatcher",
    "DropReason",
    "Endpoint",
    "ErrorResult",
    "EventObserver",
    "ExchangeGaveUp",
    "ExchangeState",
    "GaveUp",
    "HandlerError",
    "IgnoreReason",
    "PendingCall",
    "Phase",
    "RateVerdict",
    "Reply",
    "ReplyAccepted",
    "ReplyRejected",
    "RequestIdSource",
    "RequestSent",
    "ResponseRateLimiter",
    "RrpError",
    "Server",
    "ServerCounters",
    "ServerOutcome",
    "ServerSettings",
    "TcpCall",
    "TcpConnection",
    "TcpReplyReader",
    "TimedOut",
    "UdpExchange",
    "UdpMultiExchange",
    "UdpServerCore",
    "address_key",
    "call_many",
    "format_address",
    "new_request_id",
]
