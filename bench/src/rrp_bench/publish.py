"""``make bench-publish``: copy the last ``make bench`` run into ``bench/published/``, the committed snapshot
the site's Performance page is generated from.

What is copied, byte for byte: ``results.json`` (every raw number and the machine it ran on), ``report.md``
(the same tables, readable on the repository host) and ``chart.png`` when it is small enough to commit. The
snapshot is checked first: a run that does not record its machine, or that measured only part of the
servers and configurations, is refused (``--partial`` accepts the latter), so the page never shows a table
with holes or numbers without the machine that produced them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .load import BY_NAME
from .machine import MACHINE_FIELDS, REPO_ROOT
from .report import read_json
from .runner import BenchResults
from .servers import ServerKind

#: Where the committed snapshot lives.
PUBLISHED_DIR = REPO_ROOT / "bench" / "published"
#: Where ``make bench`` writes its run.
BUILD_DIR = REPO_ROOT / "build" / "bench"
RESULTS_NAME = "results.json"
#: The secure profiles' cost (``rrp_bench.secure_cost``), published with the run that wrote it.
SECURE_NAME = "secure.json"
REPORT_NAME = "report.md"
CHART_NAME = "chart.png"
#: A bigger chart is left out of the snapshot: a binary that changes with every run bloats the repository.
MAX_CHART_BYTES = 100_000


class PublishError(Exception):
    """The run cannot be published; the message says why and what to do."""


def problems(results: BenchResults, *, partial: bool = False) -> list[str]:
    """Why ``results`` should not be published; empty when it can be."""
    found = []
    missing = [key for key in MACHINE_FIELDS if key not in results.machine]
    if missing:
        found.append(f"the run does not record {', '.join(missing)} of its machine: rerun `make bench`")
    if not results.runs:
        found.append("the run measured nothing")
    if partial:
        return found
    servers = [str(kind) for kind in ServerKind]
    if sorted(results.options.servers) != sorted(servers):
        found.append(f"only servers {', '.join(results.options.servers)} were measured, not {', '.join(servers)}")
    if sorted(results.options.configs) != sorted(BY_NAME):
        found.append(f"only configurations {', '.join(results.options.configs)} were measured")
    for kind, reason in results.unavailable.items():
        found.append(f"server {kind} could not be started: {reason}")
    if not results.options.attack:
        found.append("the stalled-connection attack was not measured (--no-attack)")
    return found


def publish(source: Path, dest: Path, *, partial: bool = False, max_chart_bytes: int = MAX_CHART_BYTES) -> list[str]:
    """Copy the run in ``source`` into ``dest``; returns one line per file written or left out.

    Raises :class:`PublishError` when there is no run, it cannot be read, or :func:`problems` finds any.
    """
    results_path = source / RESULTS_NAME
    if not results_path.is_file():
        raise PublishError(f"no run to publish: {results_path} does not exist (run `make bench` first)")
    try:
        results = read_json(results_path)
    except (ValueError, KeyError, TypeError) as error:
        raise PublishError(f"{results_path} cannot be read as a benchmark run: {error!r}") from error
    found = problems(results, partial=partial)
    if found:
        raise PublishError(f"{results_path} is not published: " + "; ".join(found))

    dest.mkdir(parents=True, exist_ok=True)
    done = []
    for name in (RESULTS_NAME, REPORT_NAME, SECURE_NAME):
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)
            done.append(f"written: {dest / name}")
    chart, published_chart = source / CHART_NAME, dest / CHART_NAME
    # report.md, results.json, then chart.png: a chart older than the results belongs to an earlier run.
    if not chart.is_file() or chart.stat().st_mtime < results_path.stat().st_mtime:
        reason = f"{chart} is missing or older than {RESULTS_NAME}"
    elif chart.stat().st_size > max_chart_bytes:
        reason = f"{chart} is {chart.stat().st_size:,} bytes, over the {max_chart_bytes:,}-byte limit"
    else:
        shutil.copyfile(chart, published_chart)
        return [*done, f"written: {published_chart}"]
    published_chart.unlink(missing_ok=True)  # never leave an earlier run's chart beside these numbers
    return [*done, f"chart left out: {reason}"]


def build_parser() -> argparse.ArgumentParser:
    """``python -m rrp_bench.publish``'s command line."""
    parser = argparse.ArgumentParser(
        prog="python -m rrp_bench.publish",
        description="Copy the last benchmark run into the committed snapshot the site is built from.",
    )
    parser.add_argument("--from", dest="source", type=Path, default=BUILD_DIR, help="the run's directory")
    parser.add_argument("--to", dest="dest", type=Path, default=PUBLISHED_DIR, help="the snapshot's directory")
    parser.add_argument("--partial", action="store_true", help="publish a run of only some servers or configurations")
    return parser


def main(argv: list[str] | None = None) -> int:
    """0 when published, 1 when the run cannot be published (the reason on standard error)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        lines = publish(args.source, args.dest, partial=args.partial)
    except PublishError as error:
        print(f"bench-publish: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    print(f"commit it: git add {args.dest} && git commit -m '...' -- {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
