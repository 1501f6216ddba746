"""``make fuzz``: run every fuzz target under atheris for a bounded time and report what it found.

Each target runs in its own process (libFuzzer exits the process when it stops) with
its corpus in ``WORKDIR/corpus/<target>`` (seeded from the spec's vectors, and kept
between runs so that coverage accumulates) and its crashing inputs written to
``WORKDIR/crashes/<target>-*``. A crash is a finding: turn it into a regression by
copying it to ``robustness/regressions/<target>/<name>.bin`` with the fix.
The exit status is 0 only when no target found anything.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .corpus import write_corpus
from .targets import TARGETS

#: Default seconds per target (the issue's FUZZ_SECONDS default).
DEFAULT_SECONDS = 60
#: libFuzzer's per-input timeout: one input taking this long is a finding (a hang).
INPUT_TIMEOUT_SECONDS = 10
#: libFuzzer's memory limit for one target process.
RSS_LIMIT_MB = 2048
#: Longest input libFuzzer makes. Reached at once (``-len_control=0``): the interesting server-core
#: inputs are long (a large request, then a short one reusing its ID) and coverage alone does not
#: reward length. Seeds longer than this (the 65 507-byte vector) are still run as they are.
MAX_LEN = 8192

_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
#: libFuzzer's status lines start with the number of inputs run so far ("#4096  pulse ...").
_STATUS = re.compile(r"^#(\d+)\s", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FuzzRun:
    """What one target's run did."""

    target: str
    seconds: float
    executions: int
    corpus_files: int
    exit_status: int
    findings: list[str]

    @property
    def clean(self) -> bool:
        """True when the run ended normally and found nothing."""
        return self.exit_status == 0 and not self.findings


def run_target(name: str, seconds: int, workdir: Path, runs: int | None = None) -> FuzzRun:
    """Fuzz ``name`` for ``seconds`` seconds (or ``runs`` inputs); the log goes to ``workdir/logs/<name>.log``."""
    target = TARGETS[name]
    corpus_dir = workdir / "corpus" / name
    crashes_dir = workdir / "crashes"
    logs_dir = workdir / "logs"
    crashes_dir.mkdir(parents=True, exist_ok=True)
    logs_dir.mkdir(parents=True, exist_ok=True)
    write_corpus(corpus_dir, target.seeds())
    before = set(crashes_dir.glob(f"{name}-*"))
    command = [
        sys.executable,
        "-m",
        "rrp_robustness.fuzz.worker",
        name,
        str(corpus_dir),
        f"-max_total_time={seconds}",
        f"-timeout={INPUT_TIMEOUT_SECONDS}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-max_len={MAX_LEN}",
        "-len_control=0",
        # Comparisons guide the search too: the amplification bound is one (len(reply) <= 3 * len(request)).
        "-use_value_profile=1",
        f"-artifact_prefix={crashes_dir}/{name}-",
        "-print_final_stats=1",
    ]
    if runs is not None:
        command.append(f"-runs={runs}")
    started = time.monotonic()
    log_path = logs_dir / f"{name}.log"
    with log_path.open("wb") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    elapsed = time.monotonic() - started
    log_text = log_path.read_text(errors="replace")
    done = _DONE.findall(log_text)
    status_lines = _STATUS.findall(log_text)
    findings = sorted(str(p) for p in set(crashes_dir.glob(f"{name}-*")) - before)
    return FuzzRun(
        target=name,
        seconds=round(elapsed, 1),
        executions=int(done[-1][0]) if done else (int(status_lines[-1]) if status_lines else 0),
        corpus_files=sum(1 for _ in corpus_dir.iterdir()),
        exit_status=status,
        findings=findings,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the targets; print a table; write ``WORKDIR/summary.json``; exit 1 on any finding."""
    parser = argparse.ArgumentParser(prog="python -m rrp_robustness.fuzz.runner", description=__doc__)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", DEFAULT_SECONDS)))
    parser.add_argument("--workdir", type=Path, default=Path("build/fuzz"))
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), help="repeatable; default: all")
    parser.add_argument("--runs", type=int, help="stop each target after this many inputs (a smoke test)")
    args = parser.parse_args(argv)
    if args.seconds < 1:
        parser.error("--seconds must be at least 1")
    runs = [run_target(name, args.seconds, args.workdir, args.runs) for name in (args.target or list(TARGETS))]
    print(f"{'target':<16} {'seconds':>8} {'executions':>12} {'corpus':>7}  result")
    for run in runs:
        verdict = "clean" if run.clean else f"FAILED (exit {run.exit_status}): {', '.join(run.findings) or 'see log'}"
        print(f"{run.target:<16} {run.seconds:>8} {run.executions:>12} {run.corpus_files:>7}  {verdict}")
    summary = [asdict(run) | {"clean": run.clean} for run in runs]
    (args.workdir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0 if all(run.clean for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
