"""RRP/1 reference implementation: a server and clients built on sans-IO protocol cores.

The public surface is what this module exports, and :mod:`rrp.events` for the events the clients
report. Everything under a leading underscore is private and may change without notice:

- ``rrp._sansio``: the protocol itself, no sockets, no clock (bytes, transport facts and ``now`` in;
  replies, closes, events and the next deadline out). :class:`UdpServerCore`, :class:`TcpConnection`,
  :class:`UdpExchange` and :class:`TcpReplyReader` are its public entry points, the API to read
  when reimplementing RRP.
- ``rrp._aio``: the asyncio adapters (the :class:`Server`, :class:`AsyncClient`), which only move bytes
  and arm timers.
- ``rrp._blocking``: the blocking :class:`Client`.
- ``rrp._cli``: the ``rrp`` command.

The protocol's definitions (wire format, codes, limits, requirements) live in :mod:`rrp_spec`.
"""

from __future__ import annotations

from . import events
from ._aio.async_client import AsyncClient
from ._aio.server import Server
from ._blocking.client import Client, call_many
from ._sansio.client_errors import (
    ConnectionClosed,
    ConnectionFailed,
    DeadlineExceeded,
    ErrorResult,
    GaveUp,
    ReplyRejected,
    RrpError,
    TimedOut,
)
from ._sansio.dispatch import HandlerError
from ._sansio.reply import Reply, ServerOutcome
from ._sansio.settings import ServerSettings
from ._sansio.tcp_core import TcpConnection
from ._sansio.tcp_reply_reader import TcpReplyReader
from ._sansio.udp_core import UdpServerCore
from ._sansio.udp_exchange import UdpExchange

__all__ = [
    "AsyncClient",
    "Client",
    "ConnectionClosed",
    "ConnectionFailed",
    "DeadlineExceeded",
    "ErrorResult",
    "GaveUp",
    "HandlerError",
    "Reply",
    "ReplyRejected",
    "RrpError",
    "Server",
    "ServerOutcome",
    "ServerSettings",
    "TcpConnection",
    "TcpReplyReader",
    "TimedOut",
    "UdpExchange",
    "UdpServerCore",
    "call_many",
    "events",
]
