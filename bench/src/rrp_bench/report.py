"""Turn :class:`~rrp_bench.runner.BenchResults` into the Markdown report, ``results.json`` and the chart.

Figures are medians over rounds; ratios are computed per round (runs seconds apart on the same machine)
and then their median is taken, because on a shared machine only ratios from the same run mean anything.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from .load import BY_NAME
from .runner import AttackVariant, BenchResults, Measurement
from .servers import DESCRIPTIONS, ServerKind

REFERENCE = ServerKind.REFERENCE
#: The servers the reference's throughput is divided by, per round.
RATIO_BASES = (ServerKind.NAIVE_BLOCKING, ServerKind.NAIVE_ASYNCIO, ServerKind.C)


#: Which way a target's bound points.
AT_LEAST, AT_MOST = True, False


@dataclass(frozen=True, slots=True)
class Target:
    """One of the issue's targets: a ratio, the bound it must meet, and which way."""

    description: str
    measured: float | None
    bound: float
    at_least: bool
    #: For throughput targets: the same ratio computed from server CPU per reply (noise-resistant).
    cpu_based: float | None = None

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED`` or ``not measured``."""
        if self.measured is None:
            return "not measured"
        met = self.measured >= self.bound if self.at_least else self.measured <= self.bound
        return "met" if met else "MISSED"


def _median(values: Iterable[float]) -> float | None:
    items = list(values)
    return statistics.median(items) if items else None


def _ok(runs: Iterable[Measurement], config: str, server: str) -> list[Measurement]:
    return [m for m in runs if m.config == config and m.server == server and m.result is not None]


def median_metric(results: BenchResults, config: str, server: str, metric: str) -> float | None:
    """Median over rounds of one generator field (``rps``, ``p50_us``, ...)."""
    return _median(float(getattr(m.result, metric)) for m in _ok(results.runs, config, server))


def median_cpu(results: BenchResults, config: str, server: str) -> float | None:
    """Median over rounds of the server's CPU µs per reply."""
    return _median(
        m.server_cpu_us_per_reply for m in _ok(results.runs, config, server) if m.server_cpu_us_per_reply is not None
    )


def round_ratios(results: BenchResults, config: str, base: str, metric: str = "rps") -> list[float]:
    """Reference / ``base`` for ``metric``, one value per round in which both ran."""
    by_round = {m.round: m.result for m in _ok(results.runs, config, base)}
    ratios = []
    for m in _ok(results.runs, config, REFERENCE):
        other = by_round.get(m.round)
        assert m.result is not None
        if other is not None and getattr(other, metric) > 0:
            ratios.append(getattr(m.result, metric) / getattr(other, metric))
    return ratios


def cpu_ratios(results: BenchResults, config: str, base: str) -> list[float]:
    """``base``'s server CPU per reply / the reference's, per round: above 1 the reference spends less per reply.

    Comparable with a req/s ratio reference / ``base`` (when CPU-bound, req/s is 1 / CPU per reply), but
    far less disturbed by whatever else the shared machine runs.
    """
    by_round = {m.round: m.server_cpu_us_per_reply for m in _ok(results.runs, config, base)}
    ratios = []
    for m in _ok(results.runs, config, REFERENCE):
        other = by_round.get(m.round)
        if other is not None and m.server_cpu_us_per_reply:
            ratios.append(other / m.server_cpu_us_per_reply)
    return ratios


def attack_ratio(results: BenchResults, server: str, variant: AttackVariant, metric: str) -> list[float]:
    """Per round: ``metric`` under ``variant`` / ``metric`` without attack, for ``server``."""
    runs = [m for m in results.attack_runs if m.server == server and m.result is not None]
    base = {m.round: m.result for m in runs if m.attack == AttackVariant.NONE}
    ratios = []
    for m in runs:
        other = base.get(m.round)
        if m.attack == variant and other is not None and getattr(other, metric) > 0:
            ratios.append(getattr(m.result, metric) / getattr(other, metric))
    return ratios


def _codec_ns(results: BenchResults, codec: str, operation: str) -> float | None:
    return next((t.ns_per_op for t in results.codec if t.codec == codec and t.operation == operation), None)


def targets(results: BenchResults) -> list[Target]:
    """The issue's targets, each with its measured median ratio."""

    def throughput(config: str, base: str, bound: float, aim: str = "") -> Target:
        return Target(
            f"{BY_NAME[config].describe()} req/s: reference / {base}{aim}",
            _median(round_ratios(results, config, base)),
            bound,
            AT_LEAST,
            _median(cpu_ratios(results, config, base)),
        )

    def median_latency(config: str, base: str) -> Target:
        ratio = _median(round_ratios(results, config, base, "p50_us"))
        return Target(f"{BY_NAME[config].describe()} p50: reference / {base}", ratio, 1.2, AT_MOST)

    def attacked(metric: str, bound: float, at_least: bool) -> Target:
        ratio = _median(attack_ratio(results, REFERENCE, AttackVariant.SPREAD, metric))
        return Target(f"stalled connections (spread): reference {metric}, attacked / not", ratio, bound, at_least)

    compiled = _codec_ns(results, "construct (compiled)", "decode")
    fast = _codec_ns(results, "rrp_spec fast path", "decode")
    bare = _codec_ns(results, "bare struct", "decode")
    return [
        throughput("udp-k64", "naive-blocking", 1.0),
        throughput("udp-k64", "c", 0.5, " (aim)"),
        throughput("tcp-64x1", "naive-asyncio", 1.0),
        throughput("tcp-64x1", "c", 0.6, " (aim)"),
        throughput("tcp-1x64", "naive-asyncio", 1.0),
        median_latency("udp-k1", "naive-blocking"),
        median_latency("tcp-1x1", "naive-blocking"),
        attacked("rps", 0.9, AT_LEAST),
        attacked("p99_us", 2.0, AT_MOST),
        Target("codec decode: compiled construct / fast path", compiled and fast and compiled / fast, 10, AT_LEAST),
        Target("codec decode: fast path / bare struct", fast and bare and fast / bare, 10, AT_MOST),
    ]


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "–" if value is None else format(value, spec)


def _servers(results: BenchResults) -> list[str]:
    return [s for s in results.options.servers if s not in results.unavailable]


def _configs(results: BenchResults) -> list[str]:
    return results.options.configs


def markdown(results: BenchResults) -> str:
    """The whole report as Markdown."""
    servers = _servers(results)
    options = results.options
    m = results.machine
    out = [
        "# RRP benchmark",
        "",
        f"Run {results.started}, {results.seconds:.0f} s. Machine: {m['cpu']}, {m['cpus']} CPUs "
        f"({m['cpus_usable']} usable), {m['kernel']}, Python {m['python']}. Pinning: {results.pinning}. "
        f"Load average {results.load_before[0]:.1f} at the start, {results.load_after[0]:.1f} at the end "
        "(other work on the machine disturbs req/s; server CPU per reply much less).",
        f"Each run: {options.duration} s after {options.warmup} s warm-up, {options.payload}-byte ECHO "
        f"payloads, {options.rounds} rounds alternating the servers. Medians over rounds; ratios per round.",
        "",
        "Servers: " + "; ".join(f"**{s}**: {DESCRIPTIONS[ServerKind(s)]}" for s in servers) + ".",
        "",
    ]
    for kind, reason in results.unavailable.items():
        out.append(f"> **{kind} not measured**: {reason}")
        out.append("")

    out += ["## Throughput (req/s, median)", "", "| configuration | " + " | ".join(servers) + " |"]
    out.append("|---|" + "---:|" * len(servers))
    for config in _configs(results):
        cells = [_fmt(median_metric(results, config, s, "rps")) for s in servers]
        out.append(f"| {BY_NAME[config].describe()} | " + " | ".join(cells) + " |")

    out += ["", "## Latency (µs, median of p50 / p99 / p99.9)", "", "| configuration | " + " | ".join(servers) + " |"]
    out.append("|---|" + "---:|" * len(servers))
    for config in _configs(results):
        cells = [
            " / ".join(_fmt(median_metric(results, config, s, q), ".0f") for q in ("p50_us", "p99_us", "p999_us"))
            for s in servers
        ]
        out.append(f"| {BY_NAME[config].describe()} | " + " | ".join(cells) + " |")

    out += [
        "",
        "## Server CPU per reply (µs of user + system time, median)",
        "",
        "Less sensitive to other load on a shared machine than req/s: what one request costs the server.",
        "",
        "| configuration | " + " | ".join(servers) + " |",
    ]
    out.append("|---|" + "---:|" * len(servers))
    for config in _configs(results):
        cells = [_fmt(median_cpu(results, config, s), ".1f") for s in servers]
        out.append(f"| {BY_NAME[config].describe()} | " + " | ".join(cells) + " |")

    bases = [b for b in RATIO_BASES if b in servers]
    if REFERENCE in servers and bases:
        out += ["", "## Reference / other, req/s per round (median in bold)", ""]
        out.append("| configuration | " + " | ".join(f"reference / {b}" for b in bases) + " |")
        out.append("|---|" + "---:|" * len(bases))
        for config in _configs(results):
            cells = []
            for base in bases:
                ratios = round_ratios(results, config, base)
                median = _median(ratios)
                cells.append(" ".join(f"{r:.2f}" for r in ratios) + (f" → **{median:.2f}**" if median else " –"))
            out.append(f"| {BY_NAME[config].describe()} | " + " | ".join(cells) + " |")

    if REFERENCE in servers and bases:
        out += ["", "## Other / reference, server CPU per reply, per round (above 1: reference cheaper)", ""]
        out.append("| configuration | " + " | ".join(f"{b} / reference" for b in bases) + " |")
        out.append("|---|" + "---:|" * len(bases))
        for config in _configs(results):
            cells = []
            for base in bases:
                ratios = cpu_ratios(results, config, base)
                median = _median(ratios)
                cells.append(" ".join(f"{r:.2f}" for r in ratios) + (f" → **{median:.2f}**" if median else " –"))
            out.append(f"| {BY_NAME[config].describe()} | " + " | ".join(cells) + " |")

    out += ["", "## Header codec (ns per operation, best of 5)", "", "| codec | decode | encode | decode does |"]
    out.append("|---|---:|---:|---|")
    for codec in dict.fromkeys(t.codec for t in results.codec):
        decode = next(t for t in results.codec if t.codec == codec and t.operation == "decode")
        encode = _codec_ns(results, codec, "encode")
        out.append(f"| {codec} | {decode.ns_per_op:,.0f} | {_fmt(encode)} | {decode.includes} |")

    if results.attack_runs:
        attack_config = BY_NAME[options.attack_config]
        out += [
            "",
            f"## Under attack: {options.attack_count} stalled TCP connections ({attack_config.describe()} honest load)",
            "",
            f"*spread*: {options.attack_per_source} connections per source address from 127.0.0.2 up, "
            "reopened when closed (a distributed slowloris: what the per-source limit admits); *one-source*: all "
            "from 127.0.0.2, not reopened (what the per-source limit refuses). Ratios per round against "
            "*none*, medians. The attacker runs on the load generator's core: server CPU per reply tells what "
            "the attack costs the server itself.",
            "",
            "| server | attack | req/s | p99 µs | req/s ratio | p99 ratio | server CPU µs/reply "
            "| attacker, last round |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for server in servers:
            for variant in AttackVariant:
                runs = [r for r in results.attack_runs if r.server == server and r.attack == variant and r.result]
                rps = _median(r.result.rps for r in runs if r.result)
                p99 = _median(r.result.p99_us for r in runs if r.result)
                ratio = _median(attack_ratio(results, server, variant, "rps"))
                p99_ratio = _median(attack_ratio(results, server, variant, "p99_us"))
                cpu = _median(r.server_cpu_us_per_reply for r in runs if r.server_cpu_us_per_reply is not None)
                attacker = next((r.attacker for r in reversed(runs) if r.attacker), "")
                out.append(
                    f"| {server} | {variant} | {_fmt(rps)} | {_fmt(p99, '.0f')} | {_fmt(ratio, '.2f')} "
                    f"| {_fmt(p99_ratio, '.2f')} | {_fmt(cpu, '.1f')} | {attacker} |"
                )

    out += [
        "",
        "## Targets (issue 7; medians of per-round ratios)",
        "",
        "*CPU-based*: the same throughput ratio computed from server CPU per reply (other / reference), which "
        "the shared machine's other load disturbs far less; the verdict is on the req/s ratio.",
        "",
        "| target | measured | CPU-based | bound | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for target in targets(results):
        bound = ("≥ " if target.at_least else "≤ ") + f"{target.bound:g}"
        out.append(
            f"| {target.description} | {_fmt(target.measured, '.2f')} | {_fmt(target.cpu_based, '.2f')} "
            f"| {bound} | {target.verdict} |"
        )

    problems = [
        r
        for r in results.runs + results.attack_runs
        if r.result is None or r.result.errors or r.result.lost or not r.result.replies_ok
    ]
    out += ["", "## Errors and losses", ""]
    if not problems:
        out.append("Every reply of every run had the right request ID and payload; no UDP request was lost.")
    for r in problems:
        if r.result is None:
            out.append(f"- {r.config} {r.server} round {r.round} {r.attack or ''}: run failed: {r.error}")
        else:
            res = r.result
            out.append(
                f"- {r.config} {r.server} round {r.round} {r.attack or ''}: errors {res.errors} (header "
                f"{res.bad_header}, id {res.bad_id}, payload {res.bad_payload}, error result {res.error_result}, "
                f"disconnects {res.disconnects}), lost {res.lost}, late {res.late}, correct replies {res.replies_ok}"
            )
    return "\n".join(out) + "\n"


def write_json(results: BenchResults, path: Path) -> None:
    """Every raw number, plus the computed targets."""
    data = asdict(results)
    data["targets"] = [{**asdict(t), "verdict": t.verdict} for t in targets(results)]
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_chart(results: BenchResults, path: Path) -> None:
    """Grouped bars: req/s (top) and p99 latency (bottom, log scale) by configuration and server."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to the file
    import matplotlib.pyplot as plt

    servers = _servers(results)
    configs = _configs(results)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), constrained_layout=True)
    width = 0.8 / max(len(servers), 1)
    for i, server in enumerate(servers):
        xs = [c + (i - (len(servers) - 1) / 2) * width for c in range(len(configs))]
        rps = [median_metric(results, config, server, "rps") or 0.0 for config in configs]
        p99 = [median_metric(results, config, server, "p99_us") or 0.0 for config in configs]
        top.bar(xs, rps, width, label=server)
        bottom.bar(xs, p99, width, label=server)
    labels = [BY_NAME[c].describe() for c in configs]
    for axes, title in ((top, "requests/s (median)"), (bottom, "p99 latency, µs (median, log scale)")):
        axes.set_xticks(range(len(configs)), labels)
        axes.set_title(title)
        axes.grid(axis="y", alpha=0.3)
    bottom.set_yscale("log")
    top.legend()
    figure.suptitle(f"RRP benchmark, {results.started}, {results.machine['cpu']}")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_all(results: BenchResults, out_dir: Path) -> str:
    """Write report.md, results.json and chart.png into ``out_dir``; returns the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(results)
    (out_dir / "report.md").write_text(text)
    write_json(results, out_dir / "results.json")
    write_chart(results, out_dir / "chart.png")
    return text
