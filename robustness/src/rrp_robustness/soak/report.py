"""Writing a judged soak run to ``build/soak/``: ``soak.json``, ``soak.md`` and ``latency.png``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a CI machine
import matplotlib.pyplot as plt

from rrp_spec import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    DEFAULT_REQUEST_DEADLINE,
    DEFAULT_SEND_TIMEOUT,
)

from .verdict import (
    SoakRun,
    Target,
    connection_summary,
    drops_by_reason,
    latency_summary,
    shutdown_counters,
)


def summarize(run: SoakRun, targets: list[Target]) -> dict[str, Any]:
    """The run as one JSON-ready document."""
    rss = [s.bytes for s in run.rss]
    counters = shutdown_counters(run.server_stdout + run.server_stderr.splitlines())
    return {
        "verdict": "held" if all(t.held for t in targets) else "failed",
        "targets": [asdict(t) for t in targets],
        "seconds": round(run.seconds, 1),
        "server_command": run.server_command,
        "phases": [asdict(p) for p in run.plan.phases],
        "attack_started": run.attack_started,
        "honest": {t: asdict(latency_summary(run.exchanges, t)) for t in ("udp", "tcp")},
        "honest_by_phase": {
            p.name: {
                t: asdict(latency_summary([e for e in run.exchanges if p.start <= e.started < p.end], t))
                for t in ("udp", "tcp")
            }
            for p in run.plan.phases
        },
        "assumed_server_limits": assumed_limits(),
        "attacker_connections": connection_summary(run.connections),
        "attacker_connection_records": [
            asdict(c) | {"lifetime": c.lifetime, "past_deadline": c.overshoot} for c in run.connections
        ],
        "floods": [asdict(f) for f in run.floods],
        "cache_floods": [asdict(f) for f in run.cache_floods],
        "pressure": [asdict(p) for p in run.pressure],
        "log_stall_datagrams": run.log_stall_datagrams,
        "server_rss_bytes": {
            "start": rss[0] if rss else None,
            "peak": max(rss) if rss else None,
            "end": rss[-1] if rss else None,
            "at_phase_ends": {p.name: _rss_at(run, p.end) for p in run.plan.phases},
        },
        "drops_by_reason": drops_by_reason(counters),
        "closes_by_reason": counters.get("closes", {}),
        "rejected_by_requirement": counters.get("rejected", {}),
        "server_counters": counters,
        "server_exit_status": run.server_exit_status,
        "server_stderr_tail": run.server_stderr[-4000:],
    }


def assumed_limits() -> dict[str, float]:
    """The reference defaults the attackers' deadlines are computed from (a server run with other limits
    is judged against these all the same)."""
    return {
        "request_deadline_s": DEFAULT_REQUEST_DEADLINE,
        "send_timeout_s": DEFAULT_SEND_TIMEOUT,
        "idle_timeout_s": DEFAULT_IDLE_TIMEOUT,
        "max_connections": DEFAULT_MAX_CONNECTIONS,
        "max_connections_per_source": DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    }


def _rss_at(run: SoakRun, moment: float) -> int | None:
    before = [s.bytes for s in run.rss if s.at <= moment]
    return before[-1] if before else None


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


def _seconds(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2f} s" if signed else f"{value:.2f} s"


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / (1 << 20):.1f} MiB"


def markdown(doc: dict[str, Any]) -> str:
    """The run as Markdown tables."""
    lines = [
        f"# Soak under attack: targets {doc['verdict']}",
        "",
        f"Run of {doc['seconds']} s against `{' '.join(doc['server_command'])}`. "
        "Attackers' deadlines assume the reference defaults: "
        + ", ".join(f"{name} {value:g}" for name, value in doc["assumed_server_limits"].items())
        + ".",
        "",
        "| target | held | detail |",
        "|---|---|---|",
    ]
    lines += [f"| {t['name']} | {'yes' if t['held'] else '**NO**'} | {t['detail']} |" for t in doc["targets"]]
    lines += [
        "",
        "## Honest clients",
        "",
        "| transport | sent | correct | retried | p50 | p99 | max | failures |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in doc["honest"].values():
        lines.append(
            f"| {s['transport']} | {s['sent']} | {s['correct']} | {s['retried']} | {_ms(s['p50'])} | "
            f"{_ms(s['p99'])} | {_ms(s['max'])} | {s['failures'] or '-'} |"
        )
    lines += [
        "",
        "By phase (requests that started in it):",
        "",
        "| phase | UDP correct/sent | UDP p99 | UDP max | TCP correct/sent | TCP p99 | TCP max |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase, by_transport in doc["honest_by_phase"].items():
        udp, tcp = by_transport["udp"], by_transport["tcp"]
        lines.append(
            f"| {phase} | {udp['correct']}/{udp['sent']} | {_ms(udp['p99'])} | {_ms(udp['max'])} | "
            f"{tcp['correct']}/{tcp['sent']} | {_ms(tcp['p99'])} | {_ms(tcp['max'])} |"
        )
    lines += [
        "",
        "## Attacking connections",
        "",
        "| attack | connections | ended | replies | max lifetime | worst vs deadline | late |",
        "|---|---|---|---|---|---|---|",
    ]
    for attack, s in doc["attacker_connections"].items():
        worst = s["worst_past_deadline"]
        lines.append(
            f"| {attack} | {s['connections']} | {s['ended']} | {s['replies'] or '-'} | "
            f"{_seconds(s['lifetime_max'])} | {_seconds(worst, signed=True)} | {s['late']} |"
        )
    lines += [
        "",
        "## Datagram floods",
        "",
        "| attack | sent | replies | by result | forbidden | amplified | executed twice |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in doc["floods"]:
        lines.append(
            f"| {f['attack']} | {f['sent']} | {f['replies']} | {f['replies_by_result'] or '-'} | "
            f"{f['forbidden_replies']} | {f['amplified']} | {f['executed_twice']} |"
        )
    lines += [
        "",
        "## Second hardening round (issue 13)",
        "",
        "Cache flood trials (an INCREMENT, the flood, its retransmission inside the minimum window):",
        "",
        "| trials | first value | BUSY | carried out again | unanswered | too late | flood sent | flood replies |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in doc["cache_floods"]:
        lines.append(
            f"| {c['trials']} | {c['same_value']} | {c['busy']} | {c['executed_again']} | {c['unanswered']} | "
            f"{c['late']} | "
            f"{c['flood_sent']} | {c['flood_replies_by_result'] or '-'} |"
        )
    lines += [
        "",
        "| TCP attack | connections | refused | dropped by the server | reconnects | requests | replies | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in doc["pressure"]:
        lines.append(
            f"| {p['attack']} | {p['connections']} | {p['refused']} | {p['dropped']} | {p['reconnects']} | "
            f"{p['requests_sent']} | {p['replies_by_result'] or '-'} | {p['seconds']:.1f} |"
        )
    lines += ["", f"Rejected datagrams sent while the server's stderr was unread: {doc['log_stall_datagrams']}."]
    rss = doc["server_rss_bytes"]
    lines += [
        "",
        "## Server",
        "",
        f"RSS start {_mib(rss['start'])}, peak {_mib(rss['peak'])}, end {_mib(rss['end'])}.",
        "",
        "| phase end | RSS |",
        "|---|---|",
    ]
    lines += [f"| {name} | {_mib(value)} |" for name, value in rss["at_phase_ends"].items()]
    lines += ["", "From the server's shutdown counters:", ""]
    lines += [
        f"- {label}: {_counts(doc[key])}"
        for label, key in (
            ("drops by reason", "drops_by_reason"),
            ("rejected inputs by requirement", "rejected_by_requirement"),
            ("connection closes by reason", "closes_by_reason"),
        )
    ]
    lines.append("")
    return "\n".join(lines)


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in counts.items()) or "none reported"


def plot(run: SoakRun, path: Path) -> None:
    """Honest-client latency over time, one series per transport, with the attack phases shaded."""
    fig, ax = plt.subplots(figsize=(12, 5))
    colours = ("#f2f2f2", "#e0e8f5")
    for n, phase in enumerate(run.plan.phases):
        ax.axvspan(phase.start, phase.end, color=colours[n % 2], zorder=0)
        ax.text(
            (phase.start + phase.end) / 2,
            1.0,
            phase.name,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
            rotation=20,
        )
    for transport, marker in (("udp", "o"), ("tcp", "s")):
        good = [(e.started, e.latency * 1000) for e in run.exchanges if e.transport == transport and e.outcome == "ok"]
        bad = [(e.started, e.latency * 1000) for e in run.exchanges if e.transport == transport and e.outcome != "ok"]
        if good:
            ax.scatter(
                [t for t, _ in good], [ms for _, ms in good], s=6, marker=marker, label=f"{transport.upper()} correct"
            )
        if bad:
            ax.scatter(
                [t for t, _ in bad],
                [ms for _, ms in bad],
                s=30,
                marker="x",
                color="red",
                label=f"{transport.upper()} failed",
            )
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the soak started")
    ax.set_ylabel("honest request latency (ms)")
    ax.set_xlim(0, max(run.seconds, run.plan.seconds))
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(run: SoakRun, targets: list[Target], directory: Path) -> dict[str, Any]:
    """Write all three files; returns the JSON document."""
    directory.mkdir(parents=True, exist_ok=True)
    doc = summarize(run, targets)
    (directory / "soak.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (directory / "soak.md").write_text(markdown(doc))
    plot(run, directory / "latency.png")
    return doc
