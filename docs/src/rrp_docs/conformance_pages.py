"""The conformance page and the catalogue's coverage column, read from the conformance suite's check registry."""

from __future__ import annotations

from .markdown import PageContext


def checks_by_requirement() -> dict[str, list[str]] | None:
    """Check names per requirement ID, or ``None`` while the suite has no registry to read."""
    return None


def checks_by_area(ctx: PageContext) -> str:
    """The suite's checks grouped by area."""
    raise NotImplementedError


def cli_usage() -> str:
    """``rrp-conformance --help``."""
    raise NotImplementedError


def reference_report() -> str:
    """The reference implementation's latest report."""
    raise NotImplementedError
