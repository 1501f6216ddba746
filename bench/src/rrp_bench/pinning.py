"""Which CPUs the servers and the load generator run on.

The server under test gets one core and the generator (and the attacker) another, so that the busy-polling
generator never steals the server's time slice. On a one-CPU machine nothing is pinned, and the report
says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pinning:
    """CPU sets for the server and the client side; ``None`` means not pinned."""

    server: frozenset[int] | None
    client: frozenset[int] | None

    @property
    def pinned(self) -> bool:
        """True when servers and clients run on separate cores."""
        return self.server is not None

    def describe(self) -> str:
        """One line for the report."""
        if self.server is None or self.client is None:
            return "not pinned (fewer than 2 CPUs available)"
        return f"server on CPU {sorted(self.server)}, load generator on CPU {sorted(self.client)}"


def choose_pinning() -> Pinning:
    """The last available CPU for servers, the one before it for clients; no pinning below two CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return Pinning(None, None)
    return Pinning(frozenset({cpus[-1]}), frozenset({cpus[-2]}))


def pin_current_process(cpus: frozenset[int] | None) -> None:
    """Restrict the calling process to ``cpus`` (a ``preexec_fn`` for subprocesses); no-op for ``None``."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
