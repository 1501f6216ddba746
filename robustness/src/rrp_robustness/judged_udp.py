"""A python-ref UDP server core fed datagrams and time, and judged after every datagram.

:class:`JudgedUdpCore` raises :class:`~rrp_robustness.contract.ContractBroken` as soon
as :class:`rrp.UdpServerCore` gives an answer the spec does not allow
(:class:`rrp_robustness.oracle.DatagramServer`), runs INCREMENT a different number of
times than the spec's server (so never twice for one source and ID inside the window),
or sends a reply over three times its datagram. The core has no timer: time reaches
it only as each datagram's ``now``, so a cached reply served after its window shows
as an answer the spec does not allow. The state-machine test and the ``udp-core``
fuzz target both drive it.
"""

from __future__ import annotations

from collections.abc import Callable

from rrp import ServerSettings, UdpServerCore
from rrp_spec import AMPLIFICATION_FACTOR

from .contract import require
from .oracle import DatagramServer

Peer = tuple[str, int]


class JudgedUdpCore:
    """One UDP server core and the spec's model of it, side by side."""

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        handlers: dict[int, Callable[[bytes], bytes]] | None = None,
        now: float = 1000.0,
    ) -> None:
        settings = settings or ServerSettings()
        self.now = now
        self.core = UdpServerCore(settings)
        self.model = DatagramServer(window=settings.dedup_window, max_payload=settings.udp_max_payload)
        for operation, handler in (handlers or {}).items():
            self.core.dispatcher.register(operation, handler)
            self.model.operations.handlers[operation] = handler

    def deliver(self, datagram: bytes, peer: Peer) -> bytes | None:
        """Hand ``datagram`` from ``peer`` to the core at ``now``; returns its answer after judging it."""
        answer = self.core.handle_datagram(datagram, peer, self.now)
        require(answer is None or isinstance(answer, bytes), "only synchronous handlers are registered")
        assert answer is None or isinstance(answer, bytes)  # for mypy, after the check above
        if answer is not None:
            require(
                len(answer) <= AMPLIFICATION_FACTOR * len(datagram),
                f"UDP-SRV-5: a {len(datagram)}-byte datagram drew a {len(answer)}-byte reply",
            )
        acceptable = self.model.acceptable(datagram, peer, self.now)
        require(answer in acceptable, f"answered {answer!r}, the spec allows {acceptable!r}")
        require(
            self.core.dispatcher.counter == self.model.operations.counter,
            f"INCREMENT ran to {self.core.dispatcher.counter}, the spec's server to {self.model.operations.counter}",
        )
        return answer

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: the core has no timer; the next datagram's ``now`` is all it learns of time."""
        self.now += seconds
