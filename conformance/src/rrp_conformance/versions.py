"""What a report claims to be graded by: the suite's version, the spec package's version and the protocol version.

Every report carries these, so that a user can say "passes rrp-conformance X.Y against RRP/1".
Framework module. The package versions come from the installed distributions' metadata
(:func:`rrp_spec.versions.installed_version`, which ``--version`` uses too).
"""

from __future__ import annotations

from dataclasses import dataclass

from rrp_spec import VERSION
from rrp_spec.versions import SPEC_DISTRIBUTION, installed_version

#: The suite's distribution name, as in its ``pyproject.toml``.
SUITE_DISTRIBUTION = "rrp-conformance"


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
    return Versions(installed_version(SUITE_DISTRIBUTION), installed_version(SPEC_DISTRIBUTION), VERSION)
