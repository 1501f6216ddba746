"""What a benchmark ran on: CPU, cores, kernel, Python, event loop and the code's git commit.

A published run is only meaningful next to the machine that produced it, so every run records this in
``results.json`` (the ``machine`` object) and the site's Performance page shows it. Everything here is
read, never guessed: a value that cannot be read says so.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path

#: The repository's root in a source checkout (this package is installed editable from bench/src).
REPO_ROOT = Path(__file__).resolve().parents[3]
#: The source trees whose code a run measures: an uncommitted change under one of them is recorded.
MEASURED_PATHS = ("spec", "python-ref", "bench")
#: At most this many uncommitted paths are listed; the rest are counted.
MAX_LISTED_CHANGES = 10
#: Every key :func:`machine_description` fills, each with what it means (the site's machine table uses this).
MACHINE_FIELDS: dict[str, str] = {
    "cpu": "CPU model (/proc/cpuinfo)",
    "cpus": "CPUs online",
    "cpus_usable": "CPUs this run could use",
    "affinity": "their numbers (sched_getaffinity)",
    "virtualization": "virtual machine or not (the CPU's hypervisor flag)",
    "memory": "memory (/proc/meminfo)",
    "kernel": "kernel",
    "python": "Python",
    "event_loop": "event loop of the reference server",
    "git_commit": "git commit measured",
    "git_changes": "uncommitted changes under spec/, python-ref/, bench/",
}


def _cpuinfo(text: str) -> tuple[str, bool]:
    """The first ``model name`` and whether any ``flags`` line holds ``hypervisor``."""
    model, virtual = "unknown CPU", False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key.strip() == "flags" and "hypervisor" in value.split():
            virtual = True
    return model, virtual


def _memory(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            kib = int(line.split()[1])
            return f"{kib / (1 << 20):.1f} GiB"
    return "unknown"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_ranges(cpus: Iterable[int]) -> str:
    """CPU numbers as ranges, the way the kernel prints them: ``{0, 1, 2, 5}`` -> ``0-2,5``."""
    parts: list[str] = []
    run: list[int] = []
    for cpu in sorted(cpus):
        if run and cpu != run[-1] + 1:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(cpu)
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def _event_loop() -> str:
    # rrp serve runs on uvloop when it is installed (python-ref's cli_serve), else on asyncio's own loop.
    if importlib.util.find_spec("uvloop") is None:
        return "asyncio (uvloop not installed)"
    return f"uvloop {importlib.metadata.version('uvloop')}"


def _git(*args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout if completed.returncode == 0 else None


def describe_changes(porcelain: str) -> str:
    """``git status --porcelain`` output as one line: ``none``, or the changed paths (at most a few)."""
    paths = [line[3:] for line in porcelain.splitlines() if len(line) > 3]  # "XY path": two status letters
    if not paths:
        return "none"
    listed = ", ".join(paths[:MAX_LISTED_CHANGES])
    more = len(paths) - MAX_LISTED_CHANGES
    return listed + (f" and {more} more" if more > 0 else "")


def machine_description() -> dict[str, str]:
    """Every field of :data:`MACHINE_FIELDS`, read from this machine and this checkout."""
    model, virtual = _cpuinfo(_read("/proc/cpuinfo"))
    usable = os.sched_getaffinity(0)
    commit = _git("rev-parse", "HEAD")
    commit = commit.strip() if commit else None
    # Tracked files only: the shared checkout's untracked scratch files are not code the run measured.
    changes = _git("status", "--porcelain", "--untracked-files=no", "--", *MEASURED_PATHS)
    return {
        "cpu": model,
        "cpus": str(os.cpu_count()),
        "cpus_usable": str(len(usable)),
        "affinity": cpu_ranges(usable),
        "virtualization": "virtual machine" if virtual else "no hypervisor flag",
        "memory": _memory(_read("/proc/meminfo")),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "event_loop": _event_loop(),
        "git_commit": commit or "unknown (not a git checkout)",
        "git_changes": "unknown" if changes is None else describe_changes(changes),
    }
