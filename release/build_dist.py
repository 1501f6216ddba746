"""``make dist``: the wheels of the spec, the reference and the suite, and ``rrp-conformance.pyz``.

Writes into ``--out`` (``dist/``):

* ``rrp_spec-*.whl``, ``rrp-*.whl``, ``rrp_conformance-*.whl``, and the wheel of every
  third-party dependency they need (``construct``; ``cryptography`` for the reference's secure
  profiles), so that
  ``pip install --no-index --find-links dist rrp rrp-conformance`` needs no package index
  at all and can never pick up a same-named package from one (dependency confusion);
* ``rrp-conformance.pyz``: the suite, the spec and their pure-Python dependencies in one
  zipapp, like h2spec's single binary: ``python3 rrp-conformance.pyz server --udp ... --tcp ...``
  runs with any Python 3.11+ and nothing installed.

Run as ``python release/build_dist.py [--out DIR]`` from any directory.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipapp
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The packages a user installs: the spec, the reference (``rrp``) and the suite (``rrp-conformance``).
PACKAGES = ("spec", "python-ref", "conformance")
#: The zipapp's name.
PYZ_NAME = "rrp-conformance.pyz"
#: What the zipapp carries: the suite, and through its dependencies the spec and construct.
PYZ_DISTRIBUTION = "rrp-conformance"

# The zipapp's entry point. It checks the Python version before importing anything that needs 3.11,
# so an older python3 gets one sentence (exit 2, a usage error) instead of a SyntaxError.
_MAIN = """\
import sys

if sys.version_info < (3, 11):
    sys.stderr.write("rrp-conformance needs Python 3.11 or newer; this is Python %s\\n" % sys.version.split()[0])
    sys.exit(2)

from rrp_conformance.cli import main

sys.exit(main())
"""


def build_wheels(out: Path) -> list[Path]:
    """Build the three wheels and download their dependencies' wheels into ``out``."""
    with tempfile.TemporaryDirectory(prefix="rrp-src-") as scratch:
        # From a copy: setuptools leaves build/ and *.egg-info beside the sources it builds, which the
        # checkout's linters and type checker would then read as a second copy of every module.
        sources = [_copy_sources(REPO / package, Path(scratch) / package) for package in PACKAGES]
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(out), *map(str, sources)],
            check=True,
        )
    return sorted(out.glob("*.whl"))


def _copy_sources(package: Path, to: Path) -> Path:
    shutil.copytree(package, to, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    return to


def build_pyz(wheels: Path, out: Path) -> Path:
    """Install the suite from ``wheels`` (and nothing else) into a folder and zip it into ``out``."""
    with tempfile.TemporaryDirectory(prefix="rrp-pyz-") as scratch:
        tree = Path(scratch) / "app"
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels),
                "--no-compile", "--target", str(tree), PYZ_DISTRIBUTION,
            ],
            check=True,
        )  # fmt: skip
        # Console scripts point at the installing Python; the zipapp's __main__ replaces them.
        shutil.rmtree(tree / "bin", ignore_errors=True)
        for cache in tree.rglob("__pycache__"):
            shutil.rmtree(cache)
        (tree / "__main__.py").write_text(_MAIN)
        target = out / PYZ_NAME
        zipapp.create_archive(tree, target, interpreter="/usr/bin/env python3", compressed=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """Build everything into ``--out``, replacing the wheels and zipapp a previous build left there."""
    parser = argparse.ArgumentParser(prog="python release/build_dist.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.whl"), out / PYZ_NAME]:  # a previous build's files; anything else there stays
        old.unlink(missing_ok=True)
    for wheel in build_wheels(out):
        print(f"wheel  {wheel.relative_to(Path.cwd()) if wheel.is_relative_to(Path.cwd()) else wheel}")
    pyz = build_pyz(out, out)
    print(f"zipapp {pyz.relative_to(Path.cwd()) if pyz.is_relative_to(Path.cwd()) else pyz}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
