"""Fixtures for the dissector tests: tshark and the freshly generated dissector.

Without tshark these tests skip on a developer's machine but fail in CI (``CI=true``,
or ``RRP_REQUIRE_TSHARK=1``): CI installs tshark, so it cannot pass without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rrp_wireshark import render_dissector
from rrp_wireshark.tshark import find_tshark

#: Set in CI: there a missing tshark is a failure, not a skip.
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("RRP_REQUIRE_TSHARK") == "1"


@pytest.fixture(scope="session")
def tshark() -> str:
    """The tshark binary; the test skips without one, except in CI, where it fails."""
    found = find_tshark()
    if found is None:
        if REQUIRED:
            pytest.fail("tshark is required in CI (Debian: apt-get install tshark) but is not on PATH")
        pytest.skip("no tshark on PATH (Debian: apt-get install tshark)")
    return found


@pytest.fixture(scope="session")
def dissector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dissector, generated from rrp_spec now, as ``make wireshark`` writes it."""
    path = tmp_path_factory.mktemp("wireshark") / "rrp.lua"
    path.write_text(render_dissector())
    return path
