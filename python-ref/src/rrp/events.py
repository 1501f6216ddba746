"""Events the reference reports: what a verbose client prints, what an observer counts, what tests assert on.

Pass an :data:`EventObserver` to a client (``Client.udp(host, port, on_event=print)``) to see every attempt,
every ignored datagram and why it was ignored (UDP-CLI-2), and the reply that was accepted.
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

__all__ = [
    "AttemptStarted",
    "ClientEvent",
    "Connected",
    "DatagramIgnored",
    "EventObserver",
    "ExchangeGaveUp",
    "IgnoreReason",
    "ReplyAccepted",
    "RequestSent",
]
