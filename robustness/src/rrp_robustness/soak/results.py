"""Naming result codes that arrive from the network, where any 16-bit value may appear."""

from __future__ import annotations

from rrp_spec import Result

_NAMES = {int(r): r.name for r in Result}


def result_name(code: int) -> str:
    """The result code's name, or its number when RRP/1 does not define it."""
    return _NAMES.get(code, str(code))
