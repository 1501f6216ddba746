"""What a running check sees: its target environment, its wire log, its timing bounds, and how to report.

Framework module, shared by the server and client suites. A check is a function
``run(ctx)`` that records failures with :meth:`CheckContext.fail` (as many as it
finds), measurements with :meth:`CheckContext.measure`, and gives up with
:meth:`CheckContext.skip` when it cannot judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar

from rrp_spec import BY_ID

from .outcomes import Failure, Measurement
from .wirelog import WireLog

EnvT = TypeVar("EnvT")

#: Seconds added to every timing bound before scaling: scheduling delay on a loaded machine.
DEFAULT_GRACE = 1.0


class CheckSkipped(Exception):
    """Raised by :meth:`CheckContext.skip`: the check cannot judge the target, for the reason given."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Timing:
    """Every timing bound a check uses comes from here, so ``--timeout-scale`` reaches all of them."""

    #: Multiplies every bound (``--timeout-scale``).
    scale: float = 1.0
    #: Slack added to a claimed time before scaling.
    grace: float = DEFAULT_GRACE

    def scaled(self, seconds: float) -> float:
        """``seconds`` times the scale: for waits that are not a claim of the target."""
        return seconds * self.scale

    def limit(self, claimed: float) -> float:
        """The latest a target claiming ``claimed`` seconds may act: ``(claimed + grace) * scale``."""
        return (claimed + self.grace) * self.scale

    def at_most(self, claimed: float, spec_maximum: float) -> float:
        """:meth:`limit` of a claim, but never past the spec's own maximum for that setting.

        Grace and ``--timeout-scale`` forgive a target's claim; they never stretch a bound the spec sets, so a
        target whose timer runs past the spec's maximum fails however the suite is scaled. A target set
        exactly to the maximum can then fail by the suite's measurement noise: set a margin below it.
        """
        return min(self.limit(claimed), spec_maximum)


class CheckContext(Generic[EnvT]):
    """Handed to each check; collects what it finds."""

    def __init__(self, env: EnvT, timing: Timing) -> None:
        #: The suite's view of the target (addresses, claimed settings, shared meters).
        self.env = env
        self.timing = timing
        self.log = WireLog()
        self.failures: list[Failure] = []
        self.measurements: list[Measurement] = []
        self.notes: list[str] = []

    def fail(self, requirement: str, expected: str, observed: str) -> None:
        """Record that the target broke ``requirement``; the check goes on.

        ``observed`` gets the place in the wire log the verdict points at (:meth:`WireLog.where`).
        """
        if requirement not in BY_ID:
            raise KeyError(f"check cites {requirement!r}, which is not in the catalogue")
        observed = f"{observed} ({self.log.where()})"
        self.failures.append(Failure(requirement, expected, observed))
        self.log.event("verdict", f"FAILED {requirement}: expected {expected}; observed {observed}")

    def expect(self, condition: bool, requirement: str, expected: str, observed: str) -> bool:
        """:meth:`fail` unless ``condition``; returns ``condition``."""
        if not condition:
            self.fail(requirement, expected, observed)
        return condition

    def measure(self, name: str, value: float, unit: str, note: str = "") -> None:
        """Record a number for the report (outcome INFO for informational checks)."""
        self.measurements.append(Measurement(name, value, unit, note))

    def note(self, text: str) -> None:
        """Record a remark for the report."""
        self.notes.append(text)

    def skip(self, reason: str) -> NoReturn:
        """Stop the check: it cannot judge the target, for ``reason``."""
        raise CheckSkipped(reason)
