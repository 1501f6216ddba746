"""The Performance page: the published benchmark snapshot and the load generator's usage.

Every table is rendered by :mod:`rrp_bench.report`'s own section functions (``SECTIONS``) from the committed
snapshot ``bench/published/results.json`` that ``make bench-publish`` writes: the page and ``make bench``'s
report cannot differ, and nothing is copied by hand. The benchmark package is a separate package; when it
cannot be imported, or no run has been published, the page says so instead of inventing numbers.
"""

from __future__ import annotations

import html
from pathlib import Path

from .markdown import PageContext

#: The repository's root in a source checkout (this file is docs/src/rrp_docs/bench_pages.py).
REPO_ROOT = Path(__file__).resolve().parents[3]
#: The committed snapshot ``make bench-publish`` writes (rrp_bench.publish.PUBLISHED_DIR).
PUBLISHED_DIR = REPO_ROOT / "bench" / "published"
PUBLISHED_RESULTS = PUBLISHED_DIR / "results.json"
PUBLISHED_CHART = PUBLISHED_DIR / "chart.png"
#: The names the snapshot's files are published under in the site's downloads directory.
RESULTS_DOWNLOAD = "bench-results.json"
CHART_DOWNLOAD = "bench-chart.png"


def _warning(title: str, text: str) -> str:
    return f'!!! warning "{title}"\n    {html.escape(text)}'


def _no_snapshot(path: Path) -> str:
    return (
        '!!! note "No published benchmark"\n'
        f"    This site was built without a published benchmark run: `{path.name}` was not found in "
        "`bench/published/`. `make bench` then `make bench-publish` write one."
    )


def _unavailable(error: ImportError) -> str:
    return _warning("Not generated in this build", f"the benchmark package cannot be imported ({error}).")


def bench_table(name: str, results_path: Path | None = None) -> str:
    """Section ``name`` of :data:`rrp_bench.report.SECTIONS`, computed from the published snapshot.

    ``KeyError`` for a section that does not exist, which fails the build.
    """
    try:
        from rrp_bench import report
    except ImportError as error:
        return _unavailable(error)
    if name not in report.SECTIONS:
        raise KeyError(f"no benchmark table {name!r}; the tables are {', '.join(report.SECTIONS)}")
    path = results_path or PUBLISHED_RESULTS
    if not path.is_file():
        return _no_snapshot(path)
    return report.SECTIONS[name](report.read_json(path))


def summary(ctx: PageContext, results_path: Path | None = None) -> str:
    """One paragraph on the published run, links to its raw numbers, and a warning when the run was shortened."""
    try:
        from rrp_bench import report
        from rrp_bench.runner import BenchOptions
    except ImportError as error:
        return _unavailable(error)
    path = results_path or PUBLISHED_RESULTS
    if not path.is_file():
        return _no_snapshot(path)
    results = report.read_json(path)
    options = results.options
    commit = results.machine.get("git_commit", "not recorded")
    lines = [
        f"The published run started {results.started} on {results.machine.get('cpu', 'an unrecorded CPU')} "
        f"at commit `{commit[:12]}`: {len(results.runs) + len(results.attack_runs)} load runs of "
        f"{options.duration:g} s, {options.rounds} rounds."
    ]
    if path == PUBLISHED_RESULTS:
        lines[0] += f" Every raw number: [{RESULTS_DOWNLOAD}]({ctx.link_to(f'downloads/{RESULTS_DOWNLOAD}')})."
    full = BenchOptions(tools=Path(), out_dir=Path())  # a plain `make bench`'s defaults
    if options.duration < full.duration or options.rounds < full.rounds:
        lines += [
            "",
            _warning(
                "A shortened run",
                f"This snapshot ran {options.duration:g} s per run and {options.rounds} rounds, less than a full "
                f"`make bench` ({full.duration:g} s, {full.rounds} rounds): its figures are noisier than "
                "a full run's, and a ratio near its bound may fall either side of it.",
            ),
        ]
    changes = results.machine.get("git_changes", "none")
    if changes != "none":
        lines += ["", _warning("Uncommitted code", f"The run measured uncommitted changes: {changes}.")]
    return "\n".join(lines)


def chart(ctx: PageContext, chart_path: Path | None = None) -> str:
    """The published run's chart, when one was published with it."""
    path = chart_path or PUBLISHED_CHART
    if not path.is_file():
        return "*No chart was published with this run.*"
    link = ctx.link_to(f"downloads/{CHART_DOWNLOAD}")
    return f"![Requests/s and p99 latency by configuration and server, from the published run]({link})"


def load_usage() -> str:
    """``rrp-load --help``, read from the generator's C source (a bench test holds it equal to the program's)."""
    try:
        from rrp_bench.load import usage_text
    except ImportError as error:
        return _unavailable(error)
    return f"```text\n$ rrp-load --help\n{usage_text().rstrip()}\n```"


def secure_table(path: Path | None = None) -> str:
    """The published cost of the secure profiles (``bench/published/secure.json``), with how the run was made."""
    path = path or PUBLISHED_DIR / "secure.json"
    if not path.exists():
        return _no_snapshot(path)
    try:
        from rrp_bench.secure_cost import read_samples, table
    except ImportError as error:
        return _unavailable(error)
    samples, record = read_samples(path)
    averages = record.get("load_average")
    load = ", ".join(str(x) for x in averages) if isinstance(averages, list) else "not recorded"
    return (
        f"{table(samples)}\n\nMeasured {record.get('started')} at commit `{record.get('commit')}` on "
        f"{record.get('cpus')} CPUs, {record.get('rounds')} rounds of {record.get('duration')} s per profile, "
        f"{record.get('in_flight')} requests in flight; load average at the end: {load}."
    )
