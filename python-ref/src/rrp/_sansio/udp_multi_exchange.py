"""Asking several UDP servers at once, sans-IO: one :class:`~rrp._sansio.udp_exchange.UdpExchange` per server.

Each server gets its own request with its own request ID, and a datagram is routed
to the exchange of the server it came from (by address *and* port), so each reply
is matched to the server that sent it and to the request that server was sent. A
datagram from any other source is ignored (UDP-CLI-1, UDP-CLI-2). The exchanges
share one timer: the earliest of theirs.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence

from rrp_spec import DEFAULT_RETRY_POLICY, RetryPolicy

from .addresses import Address, address_key
from .client_errors import GaveUp
from .client_events import DatagramIgnored, ExchangeEvent, IgnoreReason
from .reply import Reply
from .request_ids import RequestIdSource, new_request_id
from .udp_exchange import JitterSource, UdpExchange


class UdpMultiExchange:
    """The same operation and payload asked of every server in ``servers``; same driving API as UdpExchange."""

    def __init__(
        self,
        servers: Sequence[Address],
        operation: int,
        payload: bytes = b"",
        *,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        request_ids: RequestIdSource = new_request_id,
        jitter: JitterSource = random.random,
        give_up_after: float | None = None,
    ) -> None:
        if not servers:
            raise ValueError("at least one server is needed")
        self._exchanges: dict[Address, UdpExchange] = {}
        for server in servers:
            key = address_key(server)
            if key in self._exchanges:
                raise ValueError(f"server {key} is listed twice")
            self._exchanges[key] = UdpExchange(
                key,
                operation,
                payload,
                policy=policy,
                request_ids=request_ids,
                jitter=jitter,
                give_up_after=give_up_after,
            )
        self._events: deque[ExchangeEvent] = deque()

    @property
    def exchanges(self) -> dict[Address, UdpExchange]:
        """Each server's exchange, in the order the servers were given."""
        return dict(self._exchanges)

    @property
    def finished(self) -> bool:
        """True once every server has answered or been given up on."""
        return all(exchange.finished for exchange in self._exchanges.values())

    @property
    def outcomes(self) -> dict[Address, Reply | GaveUp | None]:
        """Each server's reply, reason for giving up, or ``None`` while it is still pending."""
        return {server: exchange.outcome for server, exchange in self._exchanges.items()}

    def start(self, now: float) -> None:
        """Send every server its first attempt."""
        for exchange in self._exchanges.values():
            exchange.start(now)
        self._collect_events()

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """Datagrams to transmit now, each with its destination."""
        return [datagram for exchange in self._exchanges.values() for datagram in exchange.datagrams_to_send()]

    def next_event(self) -> ExchangeEvent | None:
        """The oldest unread event of any exchange, or ``None``."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest pending timer of any exchange."""
        timers = [t for exchange in self._exchanges.values() if (t := exchange.get_timer()) is not None]
        return min(timers, default=None)

    def handle_timer(self, now: float) -> None:
        """Fire every exchange whose timer is due at ``now``."""
        for exchange in self._exchanges.values():
            timer = exchange.get_timer()
            if timer is not None and timer <= now:
                exchange.handle_timer(now)
        self._collect_events()

    def receive_datagram(self, data: bytes, source: tuple[object, ...], now: float) -> None:
        """Route one datagram to the exchange of the server it came from, or ignore it."""
        exchange = self._exchanges.get(address_key(source))
        if exchange is None:
            self._events.append(DatagramIgnored(address_key(source), IgnoreReason.WRONG_SOURCE))
            return
        exchange.receive_datagram(data, source, now)
        self._collect_events()

    def _collect_events(self) -> None:
        for exchange in self._exchanges.values():
            while (event := exchange.next_event()) is not None:
                self._events.append(event)
