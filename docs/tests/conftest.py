"""One strict build of the site per test run (whatever its workers), shared by every test that reads it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from rrp_docs.built_site import BuiltSite, build_site

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def site(run_lock: Callable[[str], AbstractContextManager[Path]]) -> BuiltSite:
    """The site built strictly from the repository's mkdocs.yml into a temporary directory, once per run."""
    with run_lock("site") as shared:
        site_dir, built = shared / "site", shared / "site.built"
        if not built.exists():  # not yet built by another worker (pytest -n) of this run
            result = build_site(REPO / "mkdocs.yml", site_dir)
            assert result.returncode == 0, f"the strict build failed:\n{result.stderr}"
            built.touch()
    return BuiltSite(site_dir)
