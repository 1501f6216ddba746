"""The soak's targets, and the judging of one run against them.

The targets are the issue's, made exact. They are fixed here, not tuned to a result:
a target that does not hold is reported as such, with the numbers.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .attacks import HOLD_BEYOND_DEADLINE, Closed, ConnectionRecord
from .floods import FloodResult
from .honest import Exchange
from .plan import SoakPlan
from .server import RssSample

#: How late past its deadline a server may close an attacking connection: timer granularity, and the
#: attacker's own event loop noticing the close among a thousand connections on a loaded two-core machine.
CLOSE_SLACK = 1.0
#: How far the server's resident set may rise above its start at any moment: generous for a Python
#: server holding up to a thousand stalled connections and several reply buffers, tight enough to
#: catch anything that grows with the number of requests.
RSS_PEAK_BUDGET = 512 << 20
#: How far above its start the server's resident set may be once the attacks are over (allocator
#: arenas are not always returned to the system; a leak keeps growing).
RSS_END_TOLERANCE = 64 << 20
#: Markers of an unhandled exception in the server's stderr.
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w+(Error|Exception): ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Target:
    """One target and whether it held."""

    name: str
    held: bool
    detail: str


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Honest exchanges over one transport."""

    transport: str
    sent: int
    correct: int
    p50: float | None
    p99: float | None
    max: float | None
    retried: int
    failures: dict[str, int]


@dataclass(slots=True)
class SoakRun:
    """Everything one run observed."""

    plan: SoakPlan
    server_command: list[str]
    exchanges: list[Exchange]
    connections: list[ConnectionRecord]
    floods: list[FloodResult]
    rss: list[RssSample]
    server_exit_status: int | None
    server_stdout: list[str]
    server_stderr: str
    seconds: float
    attack_started: dict[str, float] = field(default_factory=dict)


def latency_summary(exchanges: list[Exchange], transport: str) -> LatencySummary:
    """Counts and latency percentiles of the correctly answered exchanges over ``transport``."""
    mine = [e for e in exchanges if e.transport == transport]
    good = sorted(e.latency for e in mine if e.outcome == "ok")

    def percentile(q: float) -> float | None:
        if not good:
            return None
        if len(good) == 1:
            return good[0]
        return statistics.quantiles(good, n=100, method="inclusive")[int(q) - 1]

    failures = Counter(e.outcome.split(":")[0] for e in mine if e.outcome != "ok")
    return LatencySummary(
        transport=transport,
        sent=len(mine),
        correct=len(good),
        p50=percentile(50),
        p99=percentile(99),
        max=good[-1] if good else None,
        retried=sum(1 for e in mine if e.attempts > 1),
        failures=dict(failures),
    )


def shutdown_counters(lines: list[str]) -> dict[str, Any]:
    """The counters the server printed on shutdown, from its stdout and stderr lines.

    Understands the reference server's ``counters: GROUP: name=N name=N`` and
    ``counters: name=N`` lines, and one JSON object per line.
    """
    counters: dict[str, Any] = {}
    for line in lines:
        text = line.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict):
                counters.update(value)
            continue
        if not text.startswith("counters:"):
            continue
        text = text.removeprefix("counters:").strip()
        group = re.match(r"^([A-Za-z_]\w*): (.*)$", text)
        pairs = {k: int(v) for k, v in re.findall(r"(\S+?)=(\d+)", group.group(2) if group else text)}
        if group:
            counters[group.group(1)] = pairs
        else:
            counters.update(pairs)
    return counters


def drops_by_reason(counters: dict[str, Any]) -> dict[str, Any]:
    """The server's drop counters by reason (its ``drops`` group, or any counter named like a drop)."""
    if isinstance(counters.get("drops"), dict):
        return dict(counters["drops"])
    return {k: v for k, v in counters.items() if "drop" in k.lower()}


def connection_summary(connections: list[ConnectionRecord]) -> dict[str, dict[str, Any]]:
    """Per attack: connections, how they ended, and how long they lived against their deadlines."""
    summary: dict[str, dict[str, Any]] = {}
    for attack in sorted({c.attack for c in connections}):
        mine = [c for c in connections if c.attack == attack]
        lifetimes = [c.lifetime for c in mine if c.lifetime is not None]
        overshoots = [c.overshoot for c in mine if c.overshoot is not None and c.how != Closed.REFUSED]
        summary[attack] = {
            "connections": len(mine),
            "ended": dict(Counter(str(c.how) for c in mine)),
            "replies": dict(Counter(c.reply_result for c in mine if c.reply_result is not None)),
            "lifetime_max": max(lifetimes, default=None),
            "lifetime_median": statistics.median(lifetimes) if lifetimes else None,
            "worst_past_deadline": max(overshoots, default=None),
            "late": sum(1 for o in overshoots if o > CLOSE_SLACK),
        }
    return summary


def judge(run: SoakRun) -> list[Target]:
    """Every target, held or not."""
    targets = []
    for transport in ("tcp", "udp"):
        s = latency_summary(run.exchanges, transport)
        targets.append(
            Target(
                f"every honest {transport.upper()} request answered correctly"
                + (" (with retries)" if transport == "udp" else ""),
                s.sent > 0 and s.correct == s.sent,
                f"{s.correct}/{s.sent} correct; failures {s.failures or 'none'}",
            )
        )
    still_open = [c for c in run.connections if c.how == Closed.STILL_OPEN]
    targets.append(
        Target(
            "every attacking connection closed by the server",
            not still_open,
            f"{len(run.connections)} connections, {len(still_open)} still open "
            f"{HOLD_BEYOND_DEADLINE:g} s past their deadline",
        )
    )
    # Connections the server closed itself; one it never closed fails the target above instead.
    overshoots = [
        c.overshoot
        for c in run.connections
        if c.overshoot is not None and c.how not in (Closed.REFUSED, Closed.STILL_OPEN)
    ]
    late = [o for o in overshoots if o > CLOSE_SLACK]
    worst = max(overshoots, default=None)
    targets.append(
        Target(
            f"no attacking connection outlived its deadline by more than {CLOSE_SLACK:g} s",
            not late,
            f"{len(late)} late; worst {'n/a' if worst is None else f'{worst:+.2f} s'} against its deadline",
        )
    )
    wrong = [c for c in run.connections if c.expected_result is not None and c.reply_result != c.expected_result]
    targets.append(
        Target(
            "over-limit size claims answered TOO_LARGE before the close",
            not wrong,
            f"{len(wrong)} of {sum(1 for c in run.connections if c.expected_result)} without the expected reply "
            f"({dict(Counter(str(c.reply_result) for c in wrong)) or 'none'})",
        )
    )
    forbidden = sum(f.forbidden_replies for f in run.floods)
    amplified = sum(f.amplified for f in run.floods)
    targets.append(
        Target(
            "no reply to garbage or REPLY-flagged datagrams, none above 3x its request",
            forbidden == 0 and amplified == 0,
            f"{forbidden} forbidden replies, {amplified} amplifying replies",
        )
    )
    storm = [f for f in run.floods if f.attack == "increment-storm"]
    twice = sum(f.executed_twice for f in storm)
    answered = sum(f.answered_ids for f in storm)
    targets.append(
        Target(
            "no INCREMENT executed twice in the retransmission storm",
            bool(storm) and twice == 0 and answered > 0,
            f"{answered} request IDs answered, {twice} with more than one counter value",
        )
    )
    if run.rss:
        start, peak, end = run.rss[0].bytes, max(s.bytes for s in run.rss), run.rss[-1].bytes
        targets.append(
            Target(
                f"server RSS bounded (peak at most start + {RSS_PEAK_BUDGET >> 20} MiB, "
                f"end at most start + {RSS_END_TOLERANCE >> 20} MiB)",
                peak - start <= RSS_PEAK_BUDGET and end - start <= RSS_END_TOLERANCE,
                f"start {start >> 20} MiB, peak {peak >> 20} MiB, end {end >> 20} MiB",
            )
        )
    else:
        targets.append(Target("server RSS bounded", False, "no RSS sample"))
    tracebacks = len(_TRACEBACK.findall(run.server_stderr))
    targets.append(
        Target("no unhandled exception in the server's stderr", tracebacks == 0, f"{tracebacks} traceback markers")
    )
    targets.append(
        Target(
            "server exited 0 on SIGTERM",
            run.server_exit_status == 0,
            f"exit status {run.server_exit_status}",
        )
    )
    return targets
