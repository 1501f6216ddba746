"""What a report claims to be graded by: the suite's version, the spec package's version and the protocol version.

Every report carries these, so that a user can say "passes rrp-conformance X.Y against RRP/1".
Framework module. The package versions come from the installed distributions' metadata
(:mod:`importlib.metadata`), the one place ``pyproject.toml`` puts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from rrp_spec import VERSION

#: The distribution names, as in each package's ``pyproject.toml``.
SUITE_DISTRIBUTION = "rrp-conformance"
SPEC_DISTRIBUTION = "rrp-spec"
#: Shown for a package whose metadata cannot be found (run from a source tree that was never installed).
UNKNOWN = "unknown"


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNKNOWN


@dataclass(frozen=True, slots=True)
class Versions:
    """The versions a report states."""

    #: The ``rrp-conformance`` package.
    suite: str
    #: The ``rrp-spec`` package the suite was run with.
    spec: str
    #: The protocol version the suite grades (the header's ``version`` field), e.g. 1 for RRP/1.
    protocol: int

    @property
    def protocol_name(self) -> str:
        """``RRP/1``."""
        return f"RRP/{self.protocol}"

    def line(self) -> str:
        """``rrp-conformance 1.0.0 (rrp-spec 1.0.0) for RRP/1``."""
        return f"{SUITE_DISTRIBUTION} {self.suite} ({SPEC_DISTRIBUTION} {self.spec}) for {self.protocol_name}"


def current_versions() -> Versions:
    """The versions of the running suite."""
    return Versions(_installed(SUITE_DISTRIBUTION), _installed(SPEC_DISTRIBUTION), VERSION)
