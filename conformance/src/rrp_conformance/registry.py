"""The check registry: each check's name, the requirements it covers, its transport and area, and its function.

Framework module, shared by the server and client suites. Checks are plain data
(:class:`Check`); a :class:`Registry` keeps them in run order, refuses duplicate
names and unknown requirement IDs, and :class:`Selection` applies ``--select``,
``--exclude`` and ``--expect-fail``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic

from rrp_spec import BY_ID

from .context import CheckContext, EnvT


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
    run: Callable[[CheckContext[EnvT]], None]
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
        area: str,
        transport: str,
        requirements: Iterable[str],
        destructive: bool = False,
        informational: bool = False,
    ) -> Callable[[Callable[[CheckContext[EnvT]], None]], Callable[[CheckContext[EnvT]], None]]:
        """Decorator form of :meth:`add`."""

        def register(run: Callable[[CheckContext[EnvT]], None]) -> Callable[[CheckContext[EnvT]], None]:
            self.add(Check(name, title, area, transport, tuple(requirements), run, destructive, informational))
            return run

        return register

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
