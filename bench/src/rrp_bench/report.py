"""Turn :class:`~rrp_bench.runner.BenchResults` into the Markdown report, ``results.json`` and the chart.

Figures are medians over rounds; ratios are computed per round (runs seconds apart on the same machine)
and then their median is taken, because on a shared machine only ratios from the same run mean anything.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from .codec import CodecTiming
from .load import BY_NAME, LoadResult
from .machine import MACHINE_FIELDS
from .runner import AttackVariant, BenchResults, Measurement, RunSettings
from .servers import DESCRIPTIONS, ServerKind

REFERENCE = ServerKind.REFERENCE
#: The servers the reference's throughput is divided by, per round.
RATIO_BASES = (ServerKind.NAIVE_BLOCKING, ServerKind.NAIVE_ASYNCIO, ServerKind.C)


#: Which way a target's bound points.
AT_LEAST, AT_MOST = True, False


class TargetKind(StrEnum):
    """What a target's ratio divides by what."""

    #: Reference req/s / ``base`` req/s in configuration ``subject``, per round.
    THROUGHPUT = "throughput"
    #: Reference p50 latency / ``base`` p50 latency in configuration ``subject``, per round.
    P50 = "p50"
    #: The reference's ``subject`` metric (``rps``, ``p99_us``) under the spread attack / without it, per round.
    ATTACKED = "attacked"
    #: Decode ns per operation of codec ``subject`` / of codec ``base``.
    CODEC = "codec"


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One of the issue's targets: which ratio, its bound and which way it points."""

    kind: TargetKind
    subject: str
    base: str
    bound: float
    at_least: bool
    #: The issue says "aiming at": a direction, not a requirement.
    aim: bool = False

    def describe(self) -> str:
        """The ratio in words, for the report and the site."""
        aim = " (aim)" if self.aim else ""
        match self.kind:
            case TargetKind.THROUGHPUT:
                return f"{BY_NAME[self.subject].describe()} req/s: reference / {self.base}{aim}"
            case TargetKind.P50:
                return f"{BY_NAME[self.subject].describe()} p50: reference / {self.base}{aim}"
            case TargetKind.ATTACKED:
                return f"stalled connections ({self.base}): reference {self.subject}, attacked / not{aim}"
            case TargetKind.CODEC:
                return f"codec decode: {self.subject} / {self.base}{aim}"


#: Issue 7's targets ("Targets (ratios from the same run)"), each bound written here and nowhere else: the
#: report, ``results.json`` and the site's Performance page all read them from this table.
TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec(TargetKind.THROUGHPUT, "udp-k64", ServerKind.NAIVE_BLOCKING, 1.0, AT_LEAST),
    TargetSpec(TargetKind.THROUGHPUT, "udp-k64", ServerKind.C, 0.5, AT_LEAST, aim=True),
    TargetSpec(TargetKind.THROUGHPUT, "tcp-64x1", ServerKind.NAIVE_ASYNCIO, 1.0, AT_LEAST),
    TargetSpec(TargetKind.THROUGHPUT, "tcp-64x1", ServerKind.C, 0.6, AT_LEAST, aim=True),
    TargetSpec(TargetKind.THROUGHPUT, "tcp-1x64", ServerKind.NAIVE_ASYNCIO, 1.0, AT_LEAST),
    # "K=1 p50 latency within 1.2x of the naive server": the blocking one, the baseline a user writes first.
    TargetSpec(TargetKind.P50, "udp-k1", ServerKind.NAIVE_BLOCKING, 1.2, AT_MOST),
    TargetSpec(TargetKind.P50, "tcp-1x1", ServerKind.NAIVE_BLOCKING, 1.2, AT_MOST),
    TargetSpec(TargetKind.ATTACKED, "rps", AttackVariant.SPREAD, 0.9, AT_LEAST),
    TargetSpec(TargetKind.ATTACKED, "p99_us", AttackVariant.SPREAD, 2.0, AT_MOST),
    # The fast path at least 10x faster than compiled construct, and within 10x of a bare struct.unpack.
    TargetSpec(TargetKind.CODEC, "construct (compiled)", "rrp_spec fast path", 10, AT_LEAST),
    TargetSpec(TargetKind.CODEC, "rrp_spec fast path", "bare struct", 10, AT_MOST),
)


@dataclass(frozen=True, slots=True)
class Target:
    """A target evaluated on one run: the measured ratio next to its bound."""

    description: str
    measured: float | None
    bound: float
    at_least: bool
    #: For throughput targets: the same ratio computed from server CPU per reply (noise-resistant).
    cpu_based: float | None = None
    aim: bool = False

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED`` or ``not measured``."""
        if self.measured is None:
            return "not measured"
        met = self.measured >= self.bound if self.at_least else self.measured <= self.bound
        return "met" if met else "MISSED"

    @property
    def bound_text(self) -> str:
        """``≥ 1`` or ``≤ 1.2``."""
        return ("≥ " if self.at_least else "≤ ") + f"{self.bound:g}"


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


def evaluate(spec: TargetSpec, results: BenchResults) -> Target:
    """``spec`` measured on ``results``: the median of its per-round ratios (codec: one ratio)."""
    cpu_based = None
    match spec.kind:
        case TargetKind.THROUGHPUT:
            measured = _median(round_ratios(results, spec.subject, spec.base))
            cpu_based = _median(cpu_ratios(results, spec.subject, spec.base))
        case TargetKind.P50:
            measured = _median(round_ratios(results, spec.subject, spec.base, "p50_us"))
        case TargetKind.ATTACKED:
            measured = _median(attack_ratio(results, REFERENCE, AttackVariant(spec.base), spec.subject))
        case TargetKind.CODEC:
            top, bottom = _codec_ns(results, spec.subject, "decode"), _codec_ns(results, spec.base, "decode")
            measured = top / bottom if top and bottom else None
    return Target(spec.describe(), measured, spec.bound, spec.at_least, cpu_based, spec.aim)


def targets(results: BenchResults) -> list[Target]:
    """Every target of :data:`TARGETS`, each with its measured median ratio."""
    return [evaluate(spec, results) for spec in TARGETS]


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "–" if value is None else format(value, spec)


def _servers(results: BenchResults) -> list[str]:
    return [s for s in results.options.servers if s not in results.unavailable]


def _configs(results: BenchResults) -> list[str]:
    return results.options.configs


def _bases(results: BenchResults) -> list[str]:
    """The servers ratios are taken against, when the reference ran too."""
    servers = _servers(results)
    return [b for b in RATIO_BASES if b in servers] if REFERENCE in servers else []


def _per_config(results: BenchResults, columns: list[str], cell: Callable[[str, str], str]) -> str:
    """A table with one row per configuration and one column per entry of ``columns``."""
    lines = ["| configuration | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for config in _configs(results):
        cells = [cell(config, column) for column in columns]
        lines.append(f"| {BY_NAME[config].describe()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """``text`` made safe for one cell of a pipe table."""
    return text.replace("|", "\\|").replace("\n", " ")


def _ratio_cell(ratios: list[float]) -> str:
    median = _median(ratios)
    return " ".join(f"{r:.2f}" for r in ratios) + (f" → **{median:.2f}**" if median else " –")


def facts_table(results: BenchResults) -> str:
    """When, how and on what the run was made: settings, pinning, load and every field of the machine."""
    options = results.options
    rows = [
        ("run started", results.started),
        ("run took", f"{results.seconds:.0f} s"),
        (
            "each run",
            f"{options.duration:g} s measured after {options.warmup:g} s warm-up, {options.payload}-byte ECHO "
            f"payloads; {options.rounds} rounds alternating the servers",
        ),
        ("pinning", results.pinning),
        (
            "load average (1 min)",
            f"{results.load_before[0]:.2f} at the start, {results.load_after[0]:.2f} at the end",
        ),
    ]
    rows += [(label, results.machine.get(key, "not recorded")) for key, label in MACHINE_FIELDS.items()]
    lines = ["| what | value |", "|---|---|"] + [f"| {label} | {_cell(value)} |" for label, value in rows]
    return "\n".join(lines)


def servers_legend(results: BenchResults) -> str:
    """What each measured server is, and which could not be started."""
    lines = [f"- **{s}**: {DESCRIPTIONS[ServerKind(s)]}" for s in _servers(results)]
    lines += [f"- **{kind}: not measured**: {reason}" for kind, reason in results.unavailable.items()]
    return "\n".join(lines)


def throughput_table(results: BenchResults) -> str:
    """Median req/s, configuration by server."""
    return _per_config(results, _servers(results), lambda c, s: _fmt(median_metric(results, c, s, "rps")))


def latency_table(results: BenchResults) -> str:
    """Median p50 / p99 / p99.9 latency in µs, configuration by server."""
    quantiles = ("p50_us", "p99_us", "p999_us")
    return _per_config(
        results,
        _servers(results),
        lambda c, s: " / ".join(_fmt(median_metric(results, c, s, q), ".0f") for q in quantiles),
    )


def cpu_table(results: BenchResults) -> str:
    """Median server CPU µs per correct reply, configuration by server."""
    return _per_config(results, _servers(results), lambda c, s: _fmt(median_cpu(results, c, s), ".1f"))


def ratio_table(results: BenchResults) -> str:
    """Reference / other req/s, every round's ratio and their median."""
    return _ratios_by_base(results, "reference / {base}", lambda config, base: round_ratios(results, config, base))


def cpu_ratio_table(results: BenchResults) -> str:
    """Other / reference server CPU per reply, every round's ratio and their median."""
    return _ratios_by_base(results, "{base} / reference", lambda config, base: cpu_ratios(results, config, base))


def _ratios_by_base(results: BenchResults, heading: str, ratios: Callable[[str, str], list[float]]) -> str:
    """One column per server the reference was measured beside, each cell a round-by-round ratio cell."""
    bases = _bases(results)
    if not bases:
        return "No ratios: the reference server was not measured beside another."
    by_column = {heading.format(base=base): base for base in bases}
    return _per_config(results, list(by_column), lambda config, column: _ratio_cell(ratios(config, by_column[column])))


def codec_table(results: BenchResults) -> str:
    """ns per decode and encode of each header codec, and what one decode does."""
    lines = ["| codec | decode | encode | decode does |", "|---|---:|---:|---|"]
    for codec in dict.fromkeys(t.codec for t in results.codec):
        decode = next(t for t in results.codec if t.codec == codec and t.operation == "decode")
        encode = _codec_ns(results, codec, "encode")
        lines.append(f"| {codec} | {decode.ns_per_op:,.0f} | {_fmt(encode)} | {decode.includes} |")
    return "\n".join(lines)


def attack_table(results: BenchResults) -> str:
    """What the stalled-connection attack was, then each server's figures with and without it."""
    if not results.attack_runs:
        return "Not measured in this run."
    options = results.options
    lines = [
        f"{options.attack_count} stalled TCP connections (each sent half a header, then nothing) against "
        f"{BY_NAME[options.attack_config].describe()} honest load. *spread*: {options.attack_per_source} "
        "connections per source address, each address in a /24 of its own from 127.0.2.2 up, none in the honest "
        "client's, reopened when closed (a distributed slowloris: what the per-source and per-network limits "
        "admit); *one-source*: all from 127.0.2.2, not reopened (what the per-source "
        "limit refuses). Ratios per round against *none*, medians. The attacker runs on the load generator's "
        "core: server CPU per reply tells what the attack costs the server itself.",
        "",
        "| server | attack | req/s | p99 µs | req/s ratio | p99 ratio | server CPU µs/reply | attacker, last round |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for server in _servers(results):
        for variant in AttackVariant:
            runs = [r for r in results.attack_runs if r.server == server and r.attack == variant and r.result]
            rps = _median(r.result.rps for r in runs if r.result)
            p99 = _median(r.result.p99_us for r in runs if r.result)
            ratio = _median(attack_ratio(results, server, variant, "rps"))
            p99_ratio = _median(attack_ratio(results, server, variant, "p99_us"))
            cpu = _median(r.server_cpu_us_per_reply for r in runs if r.server_cpu_us_per_reply is not None)
            attacker = next((r.attacker for r in reversed(runs) if r.attacker), "")
            lines.append(
                f"| {server} | {variant} | {_fmt(rps)} | {_fmt(p99, '.0f')} | {_fmt(ratio, '.2f')} "
                f"| {_fmt(p99_ratio, '.2f')} | {_fmt(cpu, '.1f')} | {_cell(attacker)} |"
            )
    return "\n".join(lines)


def targets_table(results: BenchResults) -> str:
    """Every target of :data:`TARGETS`: its bound, the measured median ratio, the CPU-based one, the verdict."""
    lines = ["| target | bound | measured | CPU-based | verdict |", "|---|---:|---:|---:|---|"]
    for target in targets(results):
        lines.append(
            f"| {target.description} | {target.bound_text} | {_fmt(target.measured, '.2f')} "
            f"| {_fmt(target.cpu_based, '.2f')} | {target.verdict} |"
        )
    return "\n".join(lines)


def problems_list(results: BenchResults) -> str:
    """Every run that failed, got a wrong reply or lost a request; a sentence when there were none."""
    problems = [
        r
        for r in results.runs + results.attack_runs
        if r.result is None or r.result.errors or r.result.lost or not r.result.replies_ok
    ]
    if not problems:
        return "Every reply of every run had the right request ID and payload; no UDP request was lost."
    lines = []
    for r in problems:
        if r.result is None:
            lines.append(f"- {r.config} {r.server} round {r.round} {r.attack or ''}: run failed: {r.error}")
        else:
            res = r.result
            lines.append(
                f"- {r.config} {r.server} round {r.round} {r.attack or ''}: errors {res.errors} (header "
                f"{res.bad_header}, id {res.bad_id}, payload {res.bad_payload}, error result {res.error_result}, "
                f"disconnects {res.disconnects}), lost {res.lost}, late {res.late}, correct replies {res.replies_ok}"
            )
    return "\n".join(lines)


#: Every section of the report by name, each computed from the results alone: the report below and the
#: site's Performance page (``<!-- rrp:bench table=NAME -->``) render the same functions.
SECTIONS: dict[str, Callable[[BenchResults], str]] = {
    "facts": facts_table,
    "servers": servers_legend,
    "throughput": throughput_table,
    "latency": latency_table,
    "cpu": cpu_table,
    "ratios": ratio_table,
    "cpu-ratios": cpu_ratio_table,
    "codec": codec_table,
    "attack": attack_table,
    "targets": targets_table,
    "problems": problems_list,
}


def markdown(results: BenchResults) -> str:
    """The whole report as Markdown."""
    sections = [
        ("Machine and run", "Other work on the machine disturbs req/s; server CPU per reply much less.", "facts"),
        ("Servers", "", "servers"),
        ("Throughput (req/s, median)", "", "throughput"),
        ("Latency (µs, median of p50 / p99 / p99.9)", "", "latency"),
        (
            "Server CPU per reply (µs of user + system time, median)",
            "Less sensitive to other load on a shared machine than req/s: what one request costs the server.",
            "cpu",
        ),
        ("Reference / other, req/s per round (median in bold)", "", "ratios"),
        ("Other / reference, server CPU per reply, per round (above 1: reference cheaper)", "", "cpu-ratios"),
        ("Header codec (ns per operation, best of 5)", "", "codec"),
        ("Under attack: stalled TCP connections", "", "attack"),
        (
            "Targets (issue 7; medians of per-round ratios)",
            "*CPU-based*: the same throughput ratio computed from server CPU per reply (other / reference), "
            "which the shared machine's other load disturbs far less; the verdict is on the req/s ratio.",
            "targets",
        ),
        ("Errors and losses", "", "problems"),
    ]
    out = ["# RRP benchmark"]
    for heading, note, name in sections:
        out += ["", f"## {heading}", ""]
        if note:
            out += [note, ""]
        out.append(SECTIONS[name](results))
    return "\n".join(out) + "\n"


def write_json(results: BenchResults, path: Path) -> None:
    """Every raw number, plus the computed targets (for readers; :func:`read_json` recomputes them)."""
    data = asdict(results)
    data["targets"] = [{**asdict(t), "verdict": t.verdict} for t in targets(results)]
    path.write_text(json.dumps(data, indent=2) + "\n")


def _measurement(data: dict[str, Any]) -> Measurement:
    result = data.get("result")
    return Measurement(
        config=data["config"],
        server=data["server"],
        round=data["round"],
        result=None if result is None else LoadResult.from_dict(result),
        error=data.get("error"),
        attack=data.get("attack"),
        attacker=data.get("attacker"),
        server_cpu_us_per_reply=data.get("server_cpu_us_per_reply"),
    )


def results_from_dict(data: dict[str, Any]) -> BenchResults:
    """The :class:`BenchResults` that :func:`write_json` wrote as ``data``; ``KeyError`` when a field is missing."""
    options = data["options"]
    return BenchResults(
        options=RunSettings(**{f.name: options[f.name] for f in fields(RunSettings)}),
        machine=dict(data["machine"]),
        pinning=data["pinning"],
        started=data["started"],
        codec=[CodecTiming(**{f.name: t[f.name] for f in fields(CodecTiming)}) for t in data["codec"]],
        runs=[_measurement(m) for m in data["runs"]],
        attack_runs=[_measurement(m) for m in data["attack_runs"]],
        unavailable=dict(data["unavailable"]),
        seconds=data["seconds"],
        load_before=tuple(data["load_before"]),
        load_after=tuple(data["load_after"]),
    )


def read_json(path: Path) -> BenchResults:
    """Read back a ``results.json`` written by :func:`write_json`."""
    loaded: dict[str, Any] = json.loads(path.read_text())
    return results_from_dict(loaded)


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
