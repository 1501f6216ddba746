"""Normative limits and the reference implementation's defaults live in two modules, so a reader can tell them apart."""

from __future__ import annotations

import rrp_spec
from rrp_spec import limits, reference_defaults


def _public_constants(module: object) -> set[str]:
    return {name for name in vars(module) if name.isupper() and not name.startswith("_")}


def test_limits_hold_no_reference_default() -> None:
    """Only the recommended retry schedule is a DEFAULT_ in limits: clients SHOULD follow it (UDP-CLI-4)."""
    assert {name for name in _public_constants(limits) if name.startswith("DEFAULT_")} == {"DEFAULT_RETRY_POLICY"}


def test_reference_defaults_are_all_named_as_defaults_and_exported() -> None:
    """Every reference default says so in its name, and each is importable from rrp_spec as before."""
    names = _public_constants(reference_defaults) - _public_constants(limits)
    assert names and all(name.startswith("DEFAULT_") for name in names)
    assert names <= set(rrp_spec.__all__)


def test_reference_defaults_lie_within_the_normative_bounds() -> None:
    """A default the spec quotes is itself conforming."""
    assert 0 < reference_defaults.DEFAULT_REQUEST_DEADLINE <= limits.MAX_REQUEST_DEADLINE
    assert 0 < reference_defaults.DEFAULT_SEND_TIMEOUT <= limits.MAX_SEND_TIMEOUT
    assert reference_defaults.DEFAULT_DEDUP_WINDOW >= limits.MIN_DEDUP_WINDOW
    assert reference_defaults.DEFAULT_UDP_MAX_PAYLOAD <= limits.MAX_UDP_PAYLOAD
    assert reference_defaults.DEFAULT_TCP_MAX_PAYLOAD <= limits.MAX_SIZE_FIELD
