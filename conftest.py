"""Test settings shared by every package's tests: the ``needs_ipv6_loopback`` marker.

A test marked ``@pytest.mark.needs_ipv6_loopback`` is skipped, with that reason, on a
machine where no socket can bind ``::1`` (containers often have IPv6 switched off).
"""

from __future__ import annotations

import functools
import socket

import pytest


@functools.cache
def ipv6_loopback() -> bool:
    """Whether a UDP socket can bind ``::1`` here."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_ipv6_loopback: skip where ::1 cannot be bound")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_ipv6_loopback") and not ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this machine")
