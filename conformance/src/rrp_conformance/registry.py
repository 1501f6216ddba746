"""The check registry: each check's name, the requirements it covers, its transport and area, and its function.

Framework module, shared by the server and client suites. Checks are plain data
(:class:`Check`); a :class:`Registry` keeps them in run order, refuses duplicate
names and unknown requirement IDs, and :class:`Selection` applies ``--select``,
``--exclude`` and ``--expect-fail``.

Every check of both suites is declared the same way, its metadata on the function::

    @UDP_CHECKS.check("udp/max-payload", f"ECHO with {MAX_UDP_PAYLOAD} bytes ...", requirements=("UDP-SRV-4",))
    def max_payload(ctx: CheckContext[ServerEnv]) -> None: ...

(:meth:`Registry.check_each` declares one check per transport). Titles that state a
number build it from the constant the check uses. :mod:`rrp_conformance.catalogue`
collects every suite's registry for tools that list checks (the site, ``--list``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic

from rrp_spec import BY_ID

from .context import CheckContext, EnvT

#: A check: records what it finds on the context.
Run = Callable[[CheckContext[EnvT]], None]
#: A check declared for several transports: also told which one it runs over.
TransportRun = Callable[[CheckContext[EnvT], str], None]
#: What a check name may start with: the transport the check needs.
#: ``sudp`` is RRP/1-S on the secure UDP port, ``tls`` RRP/1 over TLS on the TLS port.
TRANSPORTS = ("udp", "tcp", "any", "sudp", "tls")


def _bound(run: TransportRun[EnvT], transport: str) -> Run[EnvT]:
    def run_over(ctx: CheckContext[EnvT]) -> None:
        run(ctx, transport)

    return run_over


def _transport_of(name: str) -> str:
    transport = name.split("/", 1)[0]
    if transport not in TRANSPORTS or "/" not in name:
        raise ValueError(f"check name {name!r} does not start with a transport ({', '.join(TRANSPORTS)}) and a slash")
    return transport


@dataclass(frozen=True, slots=True)
class Check(Generic[EnvT]):
    """One conformance check."""

    #: Unique, stable, path-like name, e.g. ``tcp/idle-timeout``; usable with ``--select``.
    name: str
    #: One line saying what the check does.
    title: str
    #: Report grouping (``header``, ``udp``, ``tcp``, ...).
    area: str
    #: ``udp``, ``tcp`` or ``any``: the transport that must be reachable for the check to run.
    transport: str
    #: Requirement IDs the check covers, most specific first.
    requirements: tuple[str, ...]
    #: The check itself.
    run: Run[EnvT]
    #: True when the check may leave the target dead or full (floods, connection limits).
    destructive: bool = False
    #: True when the check's point is a measurement: it ends INFO rather than PASS.
    informational: bool = False


class Registry(Generic[EnvT]):
    """Checks in the order they run."""

    def __init__(self) -> None:
        self._checks: dict[str, Check[EnvT]] = {}

    def add(self, check: Check[EnvT]) -> Check[EnvT]:
        """Register ``check``; its name must be new and every requirement ID must exist."""
        if check.name in self._checks:
            raise ValueError(f"duplicate check name {check.name!r}")
        unknown = [r for r in check.requirements if r not in BY_ID]
        if unknown or not check.requirements:
            raise ValueError(f"check {check.name!r} cites unknown or no requirements: {unknown}")
        self._checks[check.name] = check
        return check

    def check(
        self,
        name: str,
        title: str,
        *,
        requirements: Iterable[str],
        area: str | None = None,
        destructive: bool = False,
        informational: bool = False,
    ) -> Callable[[Run[EnvT]], Run[EnvT]]:
        """Declare the decorated function a check, with its metadata beside it.

        ``name`` starts with the transport the check needs (``udp/max-payload``); ``area``
        (the report grouping) defaults to that transport.
        """

        def register(run: Run[EnvT]) -> Run[EnvT]:
            transport = _transport_of(name)
            self.add(
                Check(name, title, area or transport, transport, tuple(requirements), run, destructive, informational)
            )
            return run

        return register

    def check_each(
        self,
        transports: Iterable[str],
        name: str,
        title: str,
        *,
        requirements: Iterable[str],
        area: str | None = None,
        destructive: bool = False,
        informational: bool = False,
    ) -> Callable[[TransportRun[EnvT]], TransportRun[EnvT]]:
        """Declare the decorated function one check per transport, named ``{transport}/{name}``.

        The function takes the context and the transport it runs over.
        """
        requirements = tuple(requirements)

        def register(run: TransportRun[EnvT]) -> TransportRun[EnvT]:
            for transport in transports:
                self.check(
                    f"{transport}/{name}",
                    title,
                    requirements=requirements,
                    area=area,
                    destructive=destructive,
                    informational=informational,
                )(_bound(run, transport))
            return run

        return register

    @classmethod
    def joined(cls, *registries: Registry[EnvT]) -> Registry[EnvT]:
        """One registry running the checks of ``registries`` one after another (names stay unique)."""
        joined: Registry[EnvT] = cls()
        for registry in registries:
            for check in registry:
                joined.add(check)
        return joined

    def __iter__(self) -> Iterator[Check[EnvT]]:
        return iter(self._checks.values())

    def __len__(self) -> int:
        return len(self._checks)


def matches(check: Check[EnvT], pattern: str) -> bool:
    """True when ``pattern`` names the check: one of its requirement IDs, its name, a glob, or a name prefix."""
    return (
        pattern in check.requirements
        or fnmatch.fnmatchcase(check.name, pattern)
        or check.name.startswith(pattern.rstrip("/") + "/")
    )


@dataclass(frozen=True, slots=True)
class Selection:
    """``--select``, ``--exclude`` and ``--expect-fail``: requirement IDs, check names, globs or name prefixes."""

    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    expect_fail: tuple[str, ...] = ()

    def wants(self, check: Check[EnvT]) -> bool:
        """True when the check runs."""
        if self.select and not any(matches(check, p) for p in self.select):
            return False
        return not any(matches(check, p) for p in self.exclude)

    def expects_failure(self, check: Check[EnvT]) -> bool:
        """True when the user marked the check as a known failure."""
        return any(matches(check, p) for p in self.expect_fail)

    def unknown_patterns(self, checks: Iterable[Check[EnvT]]) -> list[str]:
        """Patterns that name neither a catalogue requirement nor any check (a typo, most likely)."""
        listed = list(checks)
        return [
            p
            for p in (*self.select, *self.exclude, *self.expect_fail)
            if p not in BY_ID and not any(matches(c, p) for c in listed)
        ]
