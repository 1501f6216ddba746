"""Every TCP connection of one server, sans-IO: admission at accept, and the slot each connection holds.

The adapter asks :meth:`TcpServerCore.accept` the moment a connection is accepted,
before a single byte is read (TCP-SRV-7, TCP-SRV-11, TCP-SRV-12: see
:class:`~rrp._sansio.connlimits.ConnectionLimits`). The answer is a
:class:`~rrp._sansio.tcp_core.TcpConnection` to serve the connection with (one that
answers BUSY when it is over a limit), or ``None``: refused, reset it at once. The
connection's slot is given back when its core learns that the transport is gone.
Both outcomes are events: the connection reports its
:class:`~rrp._sansio.server_events.ConnectionOpened` first, a refusal is a
:class:`~rrp._sansio.server_events.ConnectionRefused` of :meth:`TcpServerCore.take_events`.
"""

from __future__ import annotations

from collections.abc import Callable

from rrp_spec.addresses import format_address

from .connlimits import Admission, ConnectionLimits
from .dispatch import Dispatcher
from .memory import MemoryBudget
from .server_events import ConnectionRefused, ServerEvent
from .settings import ServerSettings
from .tcp_core import TcpConnection


class TcpServerCore:
    """Admits TCP connections within the limits and gives each its :class:`TcpConnection`."""

    __slots__ = ("_admissions", "_by_slot", "_dispatcher", "_events", "budget", "limits", "on_reclaim", "settings")

    def __init__(self, settings: ServerSettings, dispatcher: Dispatcher) -> None:
        self.settings = settings
        #: Open TCP connections, globally, per source and per network.
        self.limits = ConnectionLimits(settings)
        #: Buffered request payloads and unsent replies of every connection, against one limit (TCP-SRV-14).
        self.budget = MemoryBudget(settings.memory_budget)
        #: Told about a connection whose slot went to a newcomer (its core now says reset): the adapter carries
        #: that out at once (TCP-SRV-13).
        self.on_reclaim: Callable[[TcpConnection], None] | None = None
        self._dispatcher = dispatcher
        # connection -> (its slot in the limits, its admission); slot -> connection.
        self._admissions: dict[TcpConnection, tuple[object, Admission]] = {}
        self._by_slot: dict[object, TcpConnection] = {}
        self._events: list[ServerEvent] = []

    def accept(self, host: str, port: int, now: float) -> TcpConnection | None:
        """A connection from ``host``:``port`` was accepted at ``now``: its core, or ``None`` to reset it at once.

        At the global limit this may reclaim another connection's slot (TCP-SRV-13): that connection's core is
        told to reset, and :attr:`on_reclaim` is told about it.
        """
        peer = format_address((host, port))
        slot = object()
        admission, victim = self.limits.admit(slot, host, self._idle_since)
        if victim is not None:
            reclaimed = self._by_slot.pop(victim)
            reclaimed.reclaim(now)
            if self.on_reclaim is not None:
                self.on_reclaim(reclaimed)
        if admission is Admission.REFUSE:
            self._events.append(ConnectionRefused(peer))
            return None
        busy = admission is Admission.BUSY
        connection = TcpConnection(
            self.settings, self._dispatcher, now, peer=peer, busy=busy, on_lost=self._release, budget=self.budget
        )
        self._admissions[connection] = (slot, admission)
        self._by_slot[slot] = connection
        return connection

    def take_events(self) -> list[ServerEvent]:
        """The refusals since the last call; drained."""
        events = self._events
        if events:
            self._events = []
        return events

    def __len__(self) -> int:
        return len(self._admissions)

    def _idle_since(self, slot: object) -> float | None:
        return self._by_slot[slot].idle_since

    def _release(self, connection: TcpConnection) -> None:
        slot, admission = self._admissions.pop(connection)
        self._by_slot.pop(slot, None)
        self.limits.release(slot, admission)
