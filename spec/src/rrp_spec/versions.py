"""Which release of each RRP package is running, for ``--version`` and for reports.

The version lives once, in each package's ``pyproject.toml``; this reads it back
from the installed metadata (``importlib.metadata``), which a wheel, an editable
install and the ``rrp-conformance.pyz`` zipapp all carry.
"""

from __future__ import annotations

from importlib import metadata

from .limits import VERSION

#: The distribution name of this package.
SPEC_DISTRIBUTION = "rrp-spec"


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution`` (``"1.0.0"``), or ``"unknown"`` when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def version_line(program: str, distribution: str) -> str:
    """``rrp-conformance 1.0.0 (rrp-spec 1.0.0, protocol RRP/1)``: what ``--version`` prints."""
    spec = installed_version(SPEC_DISTRIBUTION)
    return f"{program} {installed_version(distribution)} ({SPEC_DISTRIBUTION} {spec}, protocol RRP/{VERSION})"
