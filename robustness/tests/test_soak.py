"""The soak: its plan, its verdict on made-up runs (so every target is seen to fail), and a short real run.

The short run (about ten seconds, all on loopback) soaks the reference server under
every attack and requires every target to hold, as ``make soak`` does at full length.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rrp_robustness.soak.attacks import Closed, ConnectionRecord, server_end_closed
from rrp_robustness.soak.floods import FloodResult
from rrp_robustness.soak.honest import Exchange
from rrp_robustness.soak.plan import PRESSURE_ATTACKS, SLOWLORIS_CONNECTIONS, Attack, SoakPlan, build_plan
from rrp_robustness.soak.pressure import CacheFloodResult
from rrp_robustness.soak.server import RssSample
from rrp_robustness.soak.verdict import (
    CLOSE_SLACK,
    RSS_END_TOLERANCE,
    SoakRun,
    drops_by_reason,
    judge,
    latency_summary,
    shutdown_counters,
)

MIB = 1 << 20


def test_the_full_plan_has_the_issues_slowloris_and_every_attack_once() -> None:
    plan = build_plan(60)
    assert plan.slowloris_connections == SLOWLORIS_CONNECTIONS
    scheduled = [attack for phase in plan.phases for attack in phase.attacks]
    assert sorted(scheduled) == sorted(Attack)
    assert plan.phases[0].start == 0 and plan.phases[-1].end == pytest.approx(60)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(plan.phases, plan.phases[1:], strict=False))
    assert plan.phases[0].attacks == () and plan.phases[-1].attacks == ()  # quiet baseline and recovery


def test_a_short_plan_scales_down() -> None:
    plan = build_plan(10)
    assert 50 <= plan.slowloris_connections < SLOWLORIS_CONNECTIONS
    with pytest.raises(ValueError, match="positive"):
        build_plan(0)


def _pressure_exchanges(plan: SoakPlan) -> list[Exchange]:
    """Honest exchanges inside each second-round phase: served, fast, fresh where it matters."""
    exchanges = []
    for attack in PRESSURE_ATTACKS:
        if attack is Attack.CACHE_FLOOD:
            continue  # judged by its trials, not by honest exchanges
        phase = plan.phase_of(attack)
        for share in (0.5, 0.9):  # during the log stall's flood and after it; late in the slot hold
            at = phase.start + share * (phase.end - phase.start)
            exchanges.append(Exchange("udp", "NOOP", 0, at, 0.002, "ok"))
            exchanges.append(Exchange("tcp", "NOOP", 0, at, 0.002, "ok", fresh=True))
    return exchanges


def _good_run() -> SoakRun:
    plan = build_plan(10)
    memory = plan.phase_of(Attack.MEMORY_HOLD)
    return SoakRun(
        plan=plan,
        server_command=["server"],
        exchanges=[
            Exchange("tcp", "ECHO", 5, 1.0, 0.001, "ok"),
            Exchange("udp", "NOOP", 0, 1.0, 0.002, "ok", attempts=2),
            *_pressure_exchanges(plan),
        ],
        connections=[
            ConnectionRecord("slowloris-spread", "127.0.0.2", 1.0, deadline=3.0, closed=3.01, how=Closed.EOF),
            ConnectionRecord(
                "over-limit-size",
                "127.0.0.3",
                1.0,
                deadline=1.0,
                closed=1.01,
                how=Closed.EOF,
                reply_result="TOO_LARGE",
                expected_result="TOO_LARGE",
            ),
        ],
        floods=[FloodResult("datagram-reply-flag", sent=100), FloodResult("increment-storm", sent=20, answered_ids=1)],
        rss=[RssSample(0, 30 * MIB), RssSample(memory.start + 0.1, 60 * MIB), RssSample(10, 31 * MIB)],
        server_exit_status=0,
        server_stdout=[],
        server_stderr="rejected input from udp 127.0.0.2:1: SRV-1: REPLY flag set in a request -> drop\n",
        seconds=10,
        cache_floods=[CacheFloodResult(trials=2, same_value=1, busy=1)],
    )


def _failed(run: SoakRun) -> list[str]:
    return [t.name for t in judge(run) if not t.held]


def test_a_good_run_holds_every_target() -> None:
    assert _failed(_good_run()) == []


def test_each_target_can_fail() -> None:
    cases = []
    run = _good_run()
    run.exchanges.append(Exchange("tcp", "ECHO", 5, 2.0, 10.0, "TimeoutError: timed out"))
    cases.append(run)
    run = _good_run()
    run.exchanges.append(Exchange("udp", "ECHO", 5, 2.0, 7.0, "no reply after 5 attempts", attempts=5))
    cases.append(run)
    run = _good_run()
    run.connections[0].how = Closed.STILL_OPEN
    run.connections[0].closed = 8.0
    cases.append(run)
    run = _good_run()
    run.connections[0].closed = 3.0 + CLOSE_SLACK + 0.1
    cases.append(run)
    run = _good_run()
    run.connections[1].reply_result = None
    cases.append(run)
    run = _good_run()
    run.floods[0].forbidden_replies = 1
    cases.append(run)
    run = _good_run()
    run.floods[1].executed_twice = 1
    cases.append(run)
    run = _good_run()
    run.rss[-1] = RssSample(10, 30 * MIB + RSS_END_TOLERANCE + MIB)
    cases.append(run)
    run = _good_run()
    run.server_stderr += 'Traceback (most recent call last):\n  File "x"\nKeyError: 1\n'
    cases.append(run)
    run = _good_run()
    run.server_exit_status = 1
    cases.append(run)
    run = _good_run()
    run.cache_floods[0].executed_again = 1
    cases.append(run)
    for attack, transport, outcome, latency in (
        (Attack.SLOT_HOLD, "tcp", "ConnectionResetError: reset", 0.002),
        (Attack.SLOT_HOLD_NEIGHBOURS, "tcp", "BusyAnswer: result BUSY", 0.002),
        (Attack.SLOT_HOLD_SPREAD, "tcp", "ConnectionRefusedError: refused", 0.002),
        (Attack.PIPELINED_MALFORMED, "udp", "ok", 0.2),
        (Attack.LOG_STALL, "udp", "no reply after 5 attempts", 7.0),
    ):
        run = _good_run()
        phase = run.plan.phase_of(attack)
        at = phase.start + 0.9 * (phase.end - phase.start)
        run.exchanges += [Exchange(transport, "NOOP", 0, at, latency, outcome, fresh=True) for _ in range(3)]
        cases.append(run)
    run = _good_run()
    run.rss[1] = RssSample(run.rss[1].at, 540 * MIB)  # over 512 MiB, within start + 512 MiB
    run.rss[-1] = RssSample(run.rss[-1].at, 60 * MIB)  # back near the start: only the memory figure trips
    cases.append(run)
    # A failed honest exchange also fails the all-correct target of its transport: that one is let through.
    overall = {
        "every honest TCP request answered correctly",
        "every honest UDP request answered correctly (with retries)",
    }
    failed = [names if len(names) == 1 else [n for n in names if n not in overall] for names in map(_failed, cases)]
    assert all(len(names) == 1 for names in failed), failed
    assert len({names[0] for names in failed}) == len(cases), "every case trips a different target"


def test_latency_summary_counts_only_correct_answers() -> None:
    exchanges = [Exchange("tcp", "ECHO", 0, 0, latency / 1000, "ok") for latency in range(1, 101)]
    exchanges.append(Exchange("tcp", "ECHO", 0, 0, 99.0, "WrongAnswer: bytes differ"))
    summary = latency_summary(exchanges, "tcp")
    assert (summary.sent, summary.correct) == (101, 100)
    assert summary.max == pytest.approx(0.1)
    assert summary.p50 == pytest.approx(0.0505)
    assert summary.failures == {"WrongAnswer": 1}


def test_the_reference_servers_shutdown_counters_are_read() -> None:
    lines = [
        "listening udp 127.0.0.1:1",
        "counters: drops: invalid=46335 rate_limited=2",
        "counters: closes: busy=616 request_deadline=1412",
        "counters: connections: accepted=2369 refused=616 open=0",
        "counters: timeouts=1412 dedup_hits=3800",
        "counters: rejected: none",
    ]
    counters = shutdown_counters(lines)
    assert drops_by_reason(counters) == {"invalid": 46335, "rate_limited": 2}
    assert counters["closes"] == {"busy": 616, "request_deadline": 1412}
    assert counters["timeouts"] == 1412 and counters["rejected"] == {}


def test_a_connection_nobody_holds_counts_as_closed() -> None:
    # No socket of this machine connects 127.0.0.1:1 to 127.0.0.1:2, so its server end is gone.
    assert server_end_closed(("127.0.0.1", 1), ("127.0.0.1", 2))


def test_short_soak_of_the_reference_server(tmp_path: Path) -> None:
    """About ten seconds of every attack against ``rrp serve``: every target must hold."""
    result = subprocess.run(
        [sys.executable, "-m", "rrp_robustness.soak", "--seconds", "10", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert (tmp_path / "latency.png").stat().st_size > 0
    assert (tmp_path / "soak.md").read_text().startswith("# Soak under attack")
    doc = json.loads((tmp_path / "soak.json").read_text())
    # The pipelining phase's p99 figure is a latency under load: make soak judges it at full length, on a machine
    # of known load (performance is measured, not unit-tested). Every other target must hold here too.
    failed = [
        f"{t['name']}: {t['detail']}"
        for t in doc["targets"]
        if not t["held"] and not t["name"].startswith("one connection pipelining MALFORMED")
    ]
    assert result.returncode in (0, 1) and not failed, "\n".join(failed) + result.stderr[-2000:]
    assert doc["honest"]["tcp"]["sent"] > 0 and doc["honest"]["udp"]["sent"] > 0
