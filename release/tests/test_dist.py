"""What ``make dist`` builds works on its own, outside this checkout.

The wheels are installed with ``--no-index`` into a fresh virtual environment in a temporary
folder (so nothing can come from the checkout or a package index), and run from there:
``rrp serve``/``rrp call``, and ``rrp-conformance reference``, whose vector checks read the
vectors shipped inside ``rrp_spec``. The zipapp runs with ``python -I -S``: no site-packages
at all, so everything it imports must be inside the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: The zipapp's name (release/build_dist.py's PYZ_NAME; the script is not importable as a package).
PYZ_NAME = "rrp-conformance.pyz"
#: The interpreter this environment was made from: a Python with none of the project installed.
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
#: A few checks that read the shipped vectors and talk over both transports: enough to prove the install.
SMOKE_CHECKS = ["udp/vector", "tcp/noop", "udp/echo"]
#: The root conftest's ``start_listening`` (tests cannot import conftest.py): what a started server listens on.
StartListening = Callable[..., AbstractContextManager[dict[str, tuple[str, int]]]]


def _clean_environment() -> dict[str, str]:
    """The environment minus anything that could point Python at the checkout or this test's venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE"}
    return {key: value for key, value in os.environ.items() if key not in drop}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    assert not out.is_relative_to(REPO)
    done = subprocess.run(
        [sys.executable, str(REPO / "release" / "build_dist.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def venv_bin(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with the wheels installed from ``dist`` and nowhere else."""
    venv = tmp_path_factory.mktemp("venv")
    env = _clean_environment()
    subprocess.run([BASE_PYTHON, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index"]
    subprocess.run([*install, "--find-links", str(dist), "rrp", "rrp-conformance"], check=True, env=env, timeout=300)
    return venv / "bin"


def _run(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=_clean_environment(), capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def _serving(start: StartListening, rrp: Path, cwd: Path) -> Iterator[dict[str, str]]:
    """``rrp serve`` on free loopback ports (the root conftest's ``start_listening``); yields {"udp": "HOST:PORT"}."""
    command = [str(rrp), "serve", "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"]
    environment = {**_clean_environment(), "PYTHONUNBUFFERED": "1"}
    with start(command, stop="terminate", start_timeout=60, cwd=cwd, env=environment) as where:
        yield {kind: f"{host}:{port}" for kind, (host, port) in where.items()}


def test_every_wheel_and_its_dependencies_are_built(dist: Path) -> None:
    names = {path.name.split("-")[0] for path in dist.glob("*.whl")}
    # Ours, and what they need from elsewhere (the venv fixture installs from these with --no-index).
    assert {"rrp", "rrp_conformance", "rrp_spec", "construct"} <= names
    spec_wheel = next(dist.glob("rrp_spec-*.whl"))
    inside = zipfile.ZipFile(spec_wheel).namelist()
    assert {"rrp_spec/data/rrp-v1.json", "rrp_spec/data/rrp-v1.schema.json"} <= set(inside)


@pytest.mark.parametrize(
    ("package", "wheel_glob"),
    [("spec", "rrp_spec-*.whl"), ("python-ref", "rrp-[0-9]*.whl"), ("conformance", "rrp_conformance-*.whl")],
)
def test_every_file_of_a_package_is_inside_its_wheel(package: str, wheel_glob: str, dist: Path) -> None:
    """Data files included: whatever sits beside the modules in the source tree is in the wheel."""
    source = REPO / package / "src"
    expected = {
        path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and not any(part.endswith(".egg-info") for part in path.parts)
    }
    (wheel,) = dist.glob(wheel_glob)
    missing = expected - set(zipfile.ZipFile(wheel).namelist())
    assert not missing, sorted(missing)


def test_the_installed_commands_report_their_versions(venv_bin: Path, tmp_path: Path) -> None:
    for command in ("rrp", "rrp-conformance"):
        done = _run([str(venv_bin / command), "--version"], tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{command} 1.0.0 (rrp-spec 1.0.0, protocol RRP/1)\n"


def test_the_installed_reference_serves_and_calls(
    start_listening: StartListening, venv_bin: Path, tmp_path: Path
) -> None:
    with _serving(start_listening, venv_bin / "rrp", tmp_path) as at:
        echo = _run([str(venv_bin / "rrp"), "call", f"udp://{at['udp']}", "echo", "hello"], tmp_path, 30)
        assert (echo.returncode, echo.stdout) == (0, "hello\n"), echo.stderr
        count = _run([str(venv_bin / "rrp"), "call", f"tcp://{at['tcp']}", "increment"], tmp_path, 30)
        assert (count.returncode, count.stdout) == (0, "1\n"), count.stderr


def test_the_installed_suite_grades_the_installed_reference(venv_bin: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    argv = [str(venv_bin / "rrp-conformance"), "reference", "--timeout-scale", "2", "--report-dir", str(reports)]
    done = _run([*argv, "--select", *SMOKE_CHECKS], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_vector_checks_passed(reports)


def test_the_zipapp_grades_a_server_with_nothing_installed(
    start_listening: StartListening, dist: Path, venv_bin: Path, tmp_path: Path
) -> None:
    pyz = dist / PYZ_NAME
    nothing_installed = [BASE_PYTHON, "-I", "-S"]  # no site-packages: the suite, spec and construct are in the file
    assert _run([*nothing_installed, "-c", "import construct"], tmp_path).returncode != 0
    version = _run([*nothing_installed, str(pyz), "--version"], tmp_path)
    assert version.stdout == "rrp-conformance 1.0.0 (rrp-spec 1.0.0, protocol RRP/1)\n", version.stderr
    reports = tmp_path / "reports"
    with _serving(start_listening, venv_bin / "rrp", tmp_path) as at:
        argv = [*nothing_installed, str(pyz), "server", "--udp", at["udp"], "--tcp", at["tcp"]]
        done = _run([*argv, "--timeout-scale", "2", "--report-dir", str(reports), "--select", *SMOKE_CHECKS], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_vector_checks_passed(reports)


def _assert_vector_checks_passed(reports: Path) -> None:
    checks = json.loads((reports / "results.json").read_text())["checks"]
    vector_checks = [check for check in checks if check["name"].startswith("udp/vector/")]
    assert len(vector_checks) > 20
    selected = [check for check in checks if check["name"].startswith(tuple(SMOKE_CHECKS))]
    assert {check["outcome"] for check in selected} == {"PASS"}, selected
