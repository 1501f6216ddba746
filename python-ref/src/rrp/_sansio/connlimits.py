"""TCP connection limits, global, per source and per network, counted from accept (TCP-SRV-7, -11, -12, -13).

Sans-IO bookkeeping: the adapter asks :meth:`ConnectionLimits.admit` the moment a
connection is accepted, before a single byte is read, so a connection stalling in
its header counts like any other (nginx's ``limit_conn`` only counts after the
header, which leaves that phase open to slowloris).

Two groupings. A *source* is one IPv4 address or IPv6 /64 (one IPv6 host owns a
whole /64); a *network* is an IPv4 /24 or IPv6 /48, what one attacker renting
addresses typically holds. Each has its own limit below the global one.

Reclaiming. Per-source limits alone do not protect the global limit: 17 sources
with 64 connections each fill 1,024 slots, and a keep-alive every few seconds holds
them forever, so every newcomer was refused. At the global limit a newcomer whose
network holds fewer slots than the network holding the most takes a slot from that
network instead: the longest-open connection there is named for the adapter to
reset, and its slot is the newcomer's at once. An attacker can then hold at most
an equal share with everyone else who asks; the newcomer from the largest network
itself is answered BUSY or refused, as before (TCP-SRV-13). The same rule holds one
level down, at a network's own limit: a newcomer whose source holds fewer slots than
the source holding the most in its network takes that source's longest-open slot, so
17 addresses of one /24 cannot lock the other hosts of that /24 out either. And a
newcomer from a network holding at most one slot is never turned away at the global
limit: when no network holds two more, it takes the slot of the longest-idle of the
longest-open connections (or else of the longest-open), so an attacker holding one
connection in each of a thousand networks cannot lock everyone else out; it can only
make its own slots turn over, while connections in use keep theirs (TCP-SRV-16).

A connection over a limit is not served; a bounded number of them are held just
long enough to read one header and answer BUSY, and the rest are refused (closed
at once), so the over-limit path cannot itself exhaust descriptors.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from enum import Enum
from itertools import islice

from rrp_spec import (
    CONNECTION_NETWORK_PREFIX_V4,
    CONNECTION_NETWORK_PREFIX_V6,
    CONNECTION_SOURCE_PREFIX_V4,
    CONNECTION_SOURCE_PREFIX_V6,
)

from .prefixes import source_prefix
from .settings import ServerSettings

#: How many of the longest-open connections are searched for the longest-idle one to reclaim (a bound on the work
#: per accept).
_IDLE_SEARCH = 16
#: A network holding at most this many slots is not hoarding: at the global limit, a newcomer from it is not turned
#: away even when no network holds two more (TCP-SRV-16).
_SMALL_NETWORK = 1


class Admission(Enum):
    """What to do with a newly accepted connection."""

    #: Within the limits (possibly after reclaiming another connection's slot): serve it.
    SERVE = "serve"
    #: Over a limit: read one header, answer BUSY, close.
    BUSY = "busy"
    #: Over a limit and no room to answer BUSY: close at once.
    REFUSE = "refuse"


class ConnectionLimits:
    """Counts open connections, globally, per source and per network; reclaims slots at the global and network limits.

    Connections are named by any hashable token the adapter chooses (its protocol
    object): :meth:`admit` may return one to reset, and :meth:`release` takes it back.
    """

    __slots__ = (
        "_busy",
        "_by_network",
        "_by_source",
        "_served",
        "max_busy",
        "max_connections",
        "max_per_network",
        "max_per_source",
        "reclaimed",
    )

    def __init__(self, settings: ServerSettings) -> None:
        self.max_connections = settings.max_connections
        self.max_per_source = settings.max_connections_per_source
        self.max_per_network = settings.max_connections_per_network
        self.max_busy = settings.max_busy_connections
        self._busy = 0
        self._by_source: dict[int, int] = {}
        # network -> its served connections' tokens, oldest first (a dict keeps insertion order).
        self._by_network: dict[int, dict[Hashable, None]] = {}
        # token -> (source, network) of every connection being served.
        self._served: dict[Hashable, tuple[int, int]] = {}
        #: Connections whose slot went to a newcomer (TCP-SRV-13).
        self.reclaimed = 0

    @property
    def open(self) -> int:
        """Connections being served."""
        return len(self._served)

    @property
    def busy(self) -> int:
        """Over-limit connections held to answer BUSY."""
        return self._busy

    def from_source(self, host: str) -> int:
        """Connections being served from ``host``'s source (IPv4 address, IPv6 /64)."""
        return self._by_source.get(_source(host), 0)

    def from_network(self, host: str) -> int:
        """Connections being served from ``host``'s network (IPv4 /24, IPv6 /48)."""
        return len(self._by_network.get(_network(host), ()))

    def admit(
        self, token: Hashable, host: str, idle_since: Callable[[Hashable], float | None] | None = None
    ) -> tuple[Admission, Hashable | None]:
        """Decide about connection ``token`` from ``host``, just accepted.

        Returns the admission and, when a slot was reclaimed for it, the token of the
        connection to reset (already released here). Call :meth:`release` with the
        token and the admission when the connection ends. ``idle_since`` tells since
        when a served connection has been between requests with nothing in flight
        (``None`` when it is not): the longest-idle is preferred when a slot is taken
        from the longest-open connections.
        """
        source, network = _source(host), _network(host)
        from_source = self._by_source.get(source, 0)
        if from_source >= self.max_per_source:
            return self._over_limit(), None
        tokens = self._by_network.get(network)
        from_network = len(tokens) if tokens else 0
        victim = None
        if from_network >= self.max_per_network:
            assert tokens is not None
            victim = self._reclaimable_in_network(tokens, from_source)
        elif len(self._served) >= self.max_connections:
            victim = self._reclaimable(from_network)
            if victim is None and from_network <= _SMALL_NETWORK:
                victim = self._longest_idle(network, idle_since)
        else:
            self._serve(token, source, network)
            return Admission.SERVE, None
        if victim is None:
            return self._over_limit(), None
        self._forget(victim)
        self.reclaimed += 1
        self._serve(token, source, network)
        return Admission.SERVE, victim

    def release(self, token: Hashable, admission: Admission) -> None:
        """Connection ``token``, admitted as ``admission``, has closed (a reclaimed one is already released)."""
        if admission is Admission.SERVE:
            if token in self._served:
                self._forget(token)
        elif admission is Admission.BUSY:
            self._busy -= 1

    def _reclaimable(self, from_network: int) -> Hashable | None:
        """The longest-open connection of the network holding the most slots, if that is more than the newcomer's
        network would hold with one more (so reclaiming never just moves the excess around)."""
        largest = max(self._by_network.values(), key=len)
        if len(largest) <= from_network + 1:
            return None
        return next(iter(largest))

    def _longest_idle(self, network: int, idle_since: Callable[[Hashable], float | None] | None) -> Hashable | None:
        """For a newcomer from a network holding at most one slot, when no network holds two more: the longest-idle
        connection of another network among the longest-open ones, or else the longest-open. Otherwise an attacker
        holding one connection in each of a thousand networks would lock every other network out. Longest-idle,
        not just longest-open: an honest client's long-lived connection, in use, is then not the one to go."""
        served = self._served
        oldest = list(islice((token for token in served if served[token][1] != network), _IDLE_SEARCH))
        if not oldest:
            return None
        if idle_since is not None:
            idle = [(since, n) for n, token in enumerate(oldest) if (since := idle_since(token)) is not None]
            if idle:
                return oldest[min(idle)[1]]
        return oldest[0]

    def _reclaimable_in_network(self, tokens: dict[Hashable, None], from_source: int) -> Hashable | None:
        """At a network's own limit, the same rule one level down: the longest-open connection of the source
        holding the most in that network, if that is more than the newcomer's source would hold with one more.
        (Otherwise 17 addresses in one /24 fill its 256 slots and lock out every other host of that /24.)"""
        held: dict[int, int] = {}
        for other in tokens:
            other_source = self._served[other][0]
            held[other_source] = held.get(other_source, 0) + 1
        largest = max(held, key=held.__getitem__)
        if held[largest] <= from_source + 1:
            return None
        return next(other for other in tokens if self._served[other][0] == largest)

    def _over_limit(self) -> Admission:
        if self._busy < self.max_busy:
            self._busy += 1
            return Admission.BUSY
        return Admission.REFUSE

    def _serve(self, token: Hashable, source: int, network: int) -> None:
        self._served[token] = (source, network)
        self._by_source[source] = self._by_source.get(source, 0) + 1
        self._by_network.setdefault(network, {})[token] = None

    def _forget(self, token: Hashable) -> None:
        source, network = self._served.pop(token)
        left = self._by_source[source] - 1
        if left:
            self._by_source[source] = left
        else:
            del self._by_source[source]
        tokens = self._by_network[network]
        del tokens[token]
        if not tokens:
            del self._by_network[network]


def _source(host: str) -> int:
    return source_prefix(host, CONNECTION_SOURCE_PREFIX_V4, CONNECTION_SOURCE_PREFIX_V6)


def _network(host: str) -> int:
    return source_prefix(host, CONNECTION_NETWORK_PREFIX_V4, CONNECTION_NETWORK_PREFIX_V6)
