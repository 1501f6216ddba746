"""Fixtures: the C tools, built once per session by the Makefile, and loopback test servers."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / "build" / "bench"


@pytest.fixture(scope="session")
def tools(run_lock: Callable[[str], AbstractContextManager[Path]]) -> Path:
    """build/bench with rrp-load and rrp-server, built by ``make bench-tools`` (skipped without a C compiler)."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc): the benchmark's C tools cannot be built")
    with run_lock("bench-tools"):  # two workers (pytest -n) must not build into build/bench at once
        completed = subprocess.run(
            ["make", "-s", "bench-tools"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
        )
    assert completed.returncode == 0, completed.stderr
    return TOOLS
