"""The one exception every harness raises when the code under test broke its contract or the spec."""

from __future__ import annotations


class ContractBroken(AssertionError):
    """The code under test answered an input in a way its contract or the spec forbids."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`ContractBroken` with ``message`` unless ``condition`` holds.

    An explicit raise rather than ``assert``, so that the fuzzers catch it under ``python -O`` too.
    """
    if not condition:
        raise ContractBroken(message)
