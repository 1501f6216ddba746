"""TCP connection limits, global and per source, counted from accept (TCP-SRV-7, TCP-SRV-11, TCP-SRV-12).

Sans-IO bookkeeping: the adapter asks :meth:`ConnectionLimits.admit` the moment a
connection is accepted, before a single byte is read, so a connection stalling in
its header counts like any other (nginx's ``limit_conn`` only counts after the
header, which leaves that phase open to slowloris). Sources are grouped by IPv4
address and IPv6 /64, because one IPv6 host owns a whole /64.

A connection over either limit is not served; a bounded number of them are held
just long enough to read one header and answer BUSY, and the rest are refused
(closed at once), so the over-limit path cannot itself exhaust descriptors.
"""

from __future__ import annotations

from enum import Enum

from rrp_spec import CONNECTION_SOURCE_PREFIX_V4, CONNECTION_SOURCE_PREFIX_V6

from .prefixes import source_prefix
from .settings import ServerSettings


class Admission(Enum):
    """What to do with a newly accepted connection."""

    #: Within the limits: serve it.
    SERVE = "serve"
    #: Over a limit: read one header, answer BUSY, close.
    BUSY = "busy"
    #: Over a limit and no room to answer BUSY: close at once.
    REFUSE = "refuse"


class ConnectionLimits:
    """Counts open connections, globally and per source prefix."""

    __slots__ = ("_busy", "_by_source", "_open", "max_busy", "max_connections", "max_per_source")

    def __init__(self, settings: ServerSettings) -> None:
        self.max_connections = settings.max_connections
        self.max_per_source = settings.max_connections_per_source
        self.max_busy = settings.max_busy_connections
        self._open = 0
        self._busy = 0
        self._by_source: dict[int, int] = {}

    @property
    def open(self) -> int:
        """Connections being served."""
        return self._open

    @property
    def busy(self) -> int:
        """Over-limit connections held to answer BUSY."""
        return self._busy

    def from_source(self, host: str) -> int:
        """Connections being served from ``host``'s prefix."""
        return self._by_source.get(_key(host), 0)

    def admit(self, host: str) -> Admission:
        """Decide about a connection from ``host`` just accepted; call :meth:`release` with the answer when it ends."""
        key = _key(host)
        from_source = self._by_source.get(key, 0)
        if self._open < self.max_connections and from_source < self.max_per_source:
            self._open += 1
            self._by_source[key] = from_source + 1
            return Admission.SERVE
        if self._busy < self.max_busy:
            self._busy += 1
            return Admission.BUSY
        return Admission.REFUSE

    def release(self, host: str, admission: Admission) -> None:
        """A connection admitted as ``admission`` has closed."""
        if admission is Admission.SERVE:
            self._open -= 1
            key = _key(host)
            left = self._by_source[key] - 1
            if left:
                self._by_source[key] = left
            else:
                del self._by_source[key]
        elif admission is Admission.BUSY:
            self._busy -= 1


def _key(host: str) -> int:
    return source_prefix(host, CONNECTION_SOURCE_PREFIX_V4, CONNECTION_SOURCE_PREFIX_V6)
