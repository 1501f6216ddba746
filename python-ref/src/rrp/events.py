"""Events the reference reports: what a verbose client prints, what an observer counts, what tests assert on.

Pass an :data:`EventObserver` to a client (``Client.udp(host, port, on_event=print)``) to see every attempt,
every ignored datagram and why it was ignored (UDP-CLI-2), and the reply that was accepted.

The server cores (:class:`~rrp.UdpServerCore`, :class:`~rrp.TcpConnection`) report events
from ``take_events()``: a :class:`CallRequested` for an async handler (answered with the core's
``complete()``), each :class:`Rejected` input with the requirement it broke, failed handlers, TCP
connections opened, refused, closed (with a :class:`CloseReason`) and gone, and a :class:`Tally` of the
requests, replies and drops in between. The server's counters and its log are observers of them.
"""

from __future__ import annotations

from ._sansio.client_events import (
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
from ._sansio.server_events import (
    CallRequested,
    CloseReason,
    ConnectionClosed,
    ConnectionGone,
    ConnectionOpened,
    ConnectionRefused,
    DropReason,
    HandlerFailed,
    Rejected,
    ServerEvent,
    Tally,
)

__all__ = [
    "AttemptStarted",
    "CallRequested",
    "ClientEvent",
    "CloseReason",
    "Connected",
    "ConnectionClosed",
    "ConnectionGone",
    "ConnectionOpened",
    "ConnectionRefused",
    "DatagramIgnored",
    "DropReason",
    "EventObserver",
    "ExchangeGaveUp",
    "HandlerFailed",
    "IgnoreReason",
    "Rejected",
    "ReplyAccepted",
    "RequestSent",
    "ServerEvent",
    "Tally",
]
