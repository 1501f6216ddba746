"""Every TCP connection of one server, sans-IO: admission at accept, and the slot each connection holds.

The adapter asks :meth:`TcpServerCore.accept` the moment a connection is accepted,
before a single byte is read (TCP-SRV-7, TCP-SRV-11, TCP-SRV-12: see
:class:`~rrp._sansio.connlimits.ConnectionLimits`). The answer is a
:class:`~rrp._sansio.tcp_core.TcpConnection` to serve the connection with (one that
answers BUSY when it is over a limit), or ``None``: refused, reset it at once. The
connection's slot is given back when its core learns that the transport is gone.
"""

from __future__ import annotations

from rrp_spec.addresses import format_address

from .connlimits import Admission, ConnectionLimits
from .counters import CloseReason, ServerCounters
from .dispatch import Dispatcher
from .settings import ServerSettings
from .tcp_core import RejectHook, TcpConnection


class TcpServerCore:
    """Admits TCP connections within the limits and gives each its :class:`TcpConnection`."""

    __slots__ = ("_admissions", "_counters", "_dispatcher", "_on_reject", "limits", "settings")

    def __init__(
        self,
        settings: ServerSettings,
        dispatcher: Dispatcher,
        counters: ServerCounters,
        *,
        on_reject: RejectHook | None = None,
    ) -> None:
        self.settings = settings
        #: Open TCP connections, globally and per source.
        self.limits = ConnectionLimits(settings)
        self._dispatcher = dispatcher
        self._counters = counters
        self._on_reject = on_reject
        self._admissions: dict[TcpConnection, tuple[str, Admission]] = {}

    def accept(self, host: str, port: int, now: float) -> TcpConnection | None:
        """A connection from ``host``:``port`` was accepted at ``now``: its core, or ``None`` to reset it at once."""
        counters = self._counters
        counters.connections_accepted += 1
        admission = self.limits.admit(host)
        if admission is Admission.REFUSE:
            counters.connections_refused += 1
            counters.closes[CloseReason.BUSY] += 1
            return None
        connection = TcpConnection(
            self.settings,
            self._dispatcher,
            counters,
            now,
            peer=format_address((host, port)),
            busy=admission is Admission.BUSY,
            on_reject=self._on_reject,
            on_lost=self._release,
        )
        self._admissions[connection] = (host, admission)
        return connection

    def __len__(self) -> int:
        return len(self._admissions)

    def _release(self, connection: TcpConnection) -> None:
        host, admission = self._admissions.pop(connection)
        self.limits.release(host, admission)
