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

from rrp_spec.addresses import format_address

from .connlimits import Admission, ConnectionLimits
from .dispatch import Dispatcher
from .server_events import ConnectionRefused, ServerEvent
from .settings import ServerSettings
from .tcp_core import TcpConnection


class TcpServerCore:
    """Admits TCP connections within the limits and gives each its :class:`TcpConnection`."""

    __slots__ = ("_admissions", "_dispatcher", "_events", "limits", "settings")

    def __init__(self, settings: ServerSettings, dispatcher: Dispatcher) -> None:
        self.settings = settings
        #: Open TCP connections, globally and per source.
        self.limits = ConnectionLimits(settings)
        self._dispatcher = dispatcher
        self._admissions: dict[TcpConnection, tuple[str, Admission]] = {}
        self._events: list[ServerEvent] = []

    def accept(self, host: str, port: int, now: float) -> TcpConnection | None:
        """A connection from ``host``:``port`` was accepted at ``now``: its core, or ``None`` to reset it at once."""
        peer = format_address((host, port))
        admission = self.limits.admit(host)
        if admission is Admission.REFUSE:
            self._events.append(ConnectionRefused(peer))
            return None
        busy = admission is Admission.BUSY
        connection = TcpConnection(self.settings, self._dispatcher, now, peer=peer, busy=busy, on_lost=self._release)
        self._admissions[connection] = (host, admission)
        return connection

    def take_events(self) -> list[ServerEvent]:
        """The refusals since the last call; drained."""
        events = self._events
        if events:
            self._events = []
        return events

    def __len__(self) -> int:
        return len(self._admissions)

    def _release(self, connection: TcpConnection) -> None:
        host, admission = self._admissions.pop(connection)
        self.limits.release(host, admission)
