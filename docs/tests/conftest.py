"""One strict build of the site per test session, shared by every test that reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rrp_docs.built_site import BuiltSite, build_site

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    """The site built strictly from the repository's mkdocs.yml into a temporary directory."""
    site_dir = tmp_path_factory.mktemp("site")
    result = build_site(REPO / "mkdocs.yml", site_dir)
    assert result.returncode == 0, f"the strict build failed:\n{result.stderr}"
    return BuiltSite(site_dir)
