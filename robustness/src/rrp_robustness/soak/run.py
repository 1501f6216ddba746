"""``python -m rrp_robustness.soak``: one soak run, from starting the server to the verdict.

Exit status: 0 when every target held, 1 when any did not, 2 when the run could not
take place (the server would not start, a bad flag).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .attacks import TcpAttacks
from .floods import FloodResult, flood, increment_storm
from .honest import Exchange
from .plan import DEFAULT_SOAK_SECONDS, LOG_STALL_FLOOD_SHARE, PRESSURE_ATTACKS, Attack, Phase, SoakPlan, build_plan
from .pressure import (
    NEIGHBOUR_SOURCES,
    SPREAD_SOURCES,
    CacheFloodResult,
    TcpPressureResult,
    cache_flood,
    log_stall_flood,
    memory_hold,
    pipelined_malformed,
    slot_hold,
)
from .report import markdown, write
from .server import ServerProcess, ServerStartError, kill_quietly, start_server
from .verdict import SoakRun, judge

#: File descriptors this process and the server may need: every slowloris connection of one run
#: (both ends live on this machine), the floods' sockets, and headroom.
FD_NEEDED = 8192
#: How long after the run's end the honest clients may take to finish their last exchange.
HONEST_GRACE = 30.0
#: The longest the pipelining attack may take at full length: a million requests at 25,000 a second.
PIPELINE_SECONDS = 40.0
#: The longest a run may take, as a multiple of its planned length (phases stretch while their attacks run on).
MAX_STRETCH = 3.0
_FLOODS = (Attack.DATAGRAM_GARBAGE, Attack.DATAGRAM_RANDOM_HEADER, Attack.DATAGRAM_REPLY_FLAG)


def raise_fd_limit(needed: int = FD_NEEDED) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``needed`` (children inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def default_server_command() -> list[str]:
    """The reference server on ephemeral loopback ports."""
    return [str(Path(sys.executable).with_name("rrp")), "serve", "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"]


@dataclass(slots=True)
class AttackResults:
    """What every attack of a run observed."""

    tcp: TcpAttacks
    floods: list[FloodResult] = field(default_factory=list)
    started: dict[str, float] = field(default_factory=dict)
    cache_floods: list[CacheFloodResult] = field(default_factory=list)
    pressure: list[TcpPressureResult] = field(default_factory=list)
    log_stall_datagrams: int = 0
    #: The phases as they ran: each as long as planned, or longer while its pressure attack ran on.
    phases: list[Phase] = field(default_factory=list)


async def _pressure(attack: Attack, server: ServerProcess, plan: SoakPlan, results: AttackResults) -> None:
    """Run one attack of the second hardening round (:mod:`.pressure`) for its phase."""
    phase = plan.phase_of(attack)
    length = phase.end - phase.start
    tcp = (server.tcp.host, server.tcp.port)
    udp = (server.udp.host, server.udp.port)
    scale = plan.pressure_scale
    if attack is Attack.CACHE_FLOOD:
        results.cache_floods.append(await cache_flood(udp, plan.cache_trials, scale, seed=13, seconds=length))
    elif attack is Attack.SLOT_HOLD:
        results.pressure.append(await slot_hold(tcp, 0.9 * length, scale))
    elif attack is Attack.SLOT_HOLD_SPREAD:
        results.pressure.append(
            await slot_hold(tcp, 0.9 * length, scale, SPREAD_SOURCES, str(Attack.SLOT_HOLD_SPREAD), per_source=1)
        )
    elif attack is Attack.SLOT_HOLD_NEIGHBOURS:
        results.pressure.append(
            await slot_hold(tcp, 0.9 * length, scale, NEIGHBOUR_SOURCES, str(Attack.SLOT_HOLD_NEIGHBOURS))
        )
    elif attack is Attack.PIPELINED_MALFORMED:
        # All of its requests (a million at full length), however long the server takes, up to a cap.
        cap = max(0.8 * length, PIPELINE_SECONDS * scale)
        results.pressure.append(await pipelined_malformed(tcp, cap, scale))
    elif attack is Attack.MEMORY_HOLD:
        results.pressure.extend(await memory_hold(tcp, 0.8 * length, scale))
    elif attack is Attack.LOG_STALL:
        server.stall_stderr()
        try:
            results.log_stall_datagrams = await log_stall_flood(udp, LOG_STALL_FLOOD_SHARE * length)
            await asyncio.sleep((1 - LOG_STALL_FLOOD_SHARE) * length)  # "after": quiet, the reader still stalled
        finally:
            server.resume_stderr()


async def _run_attacks(server: ServerProcess, plan: SoakPlan, t0: float) -> AttackResults:
    """Run every phase's attacks. A phase lasts its planned length, or longer while one of its pressure attacks
    still runs (a pipelining attack sends all of its million requests, however long the server takes): the next
    phase starts only then, so that no two of those attacks overlap and each phase's figure is its own."""
    tcp = TcpAttacks(server.tcp.host, server.tcp.port, plan, t0)
    udp = (server.udp.host, server.udp.port)
    results = AttackResults(tcp)
    floods = results.floods
    started = results.started
    tasks: list[asyncio.Task[None]] = []
    delay = 0.0  # how far the phases so far ran past their planned ends

    async def run_flood(attack: Attack, seconds: float, seed: int) -> None:
        if attack is Attack.INCREMENT_STORM:
            floods.append(await increment_storm(udp, plan, seconds, seed))
        else:
            floods.append(await flood(attack, udp, seconds, plan.flood_rate, seed))

    for number, phase in enumerate(plan.phases):
        begin = time.monotonic() - t0
        pressure: list[asyncio.Task[None]] = []
        for attack in phase.attacks:
            started[str(attack)] = round(time.monotonic() - t0, 3)
            if attack in PRESSURE_ATTACKS:
                pressure.append(asyncio.create_task(_pressure(attack, server, plan, results)))
            elif attack in _FLOODS or attack is Attack.INCREMENT_STORM:
                length = 0.8 * (phase.end - phase.start)
                tasks.append(asyncio.create_task(run_flood(attack, length, seed=number * 16 + len(tasks))))
            else:
                tasks.append(asyncio.create_task(tcp.run(attack)))
        await asyncio.sleep(max(0.0, t0 + phase.end + delay - time.monotonic()))
        await asyncio.gather(*pressure)
        end = time.monotonic() - t0
        delay = max(delay, end - phase.end)
        results.phases.append(Phase(phase.name, round(begin, 3), round(end, 3), phase.attacks))
        tasks += pressure
    await asyncio.gather(*tasks)
    return results


def soak(plan: SoakPlan, server_command: list[str], out: Path) -> tuple[SoakRun, int]:
    """Run the whole soak; returns the run and the exit status (0 when every target held)."""
    raise_fd_limit()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    server = start_server(server_command, out / "server-stderr.log", t0)
    honest: subprocess.Popen[bytes] | None = None
    exchanges_path = out / "honest.jsonl"
    try:
        honest = subprocess.Popen(
            [
                sys.executable, "-m", "rrp_robustness.soak.honest",
                "--udp", f"{server.udp.host}:{server.udp.port}",
                "--tcp", f"{server.tcp.host}:{server.tcp.port}",
                "--t0", repr(t0), "--until", repr(t0 + MAX_STRETCH * plan.seconds), "--out", str(exchanges_path),
            ]
        )  # fmt: skip
        results = asyncio.run(_run_attacks(server, plan, t0))
        honest.terminate()  # the run is over: the honest clients finish the exchange in hand and stop
        honest.wait(timeout=HONEST_GRACE)
        seconds = time.monotonic() - t0
        exit_status = server.stop()
    finally:
        if honest is not None and honest.poll() is None:
            honest.kill()
            honest.wait()
        kill_quietly(server)
    exchanges = [Exchange(**json.loads(line)) for line in exchanges_path.read_text().splitlines() if line]
    ran = dataclasses.replace(plan, phases=tuple(results.phases), seconds=results.phases[-1].end)
    run = SoakRun(
        plan=ran,
        server_command=server_command,
        exchanges=exchanges,
        connections=results.tcp.records,
        floods=results.floods,
        cache_floods=results.cache_floods,
        pressure=results.pressure,
        log_stall_datagrams=results.log_stall_datagrams,
        rss=server.rss,
        server_exit_status=exit_status,
        server_stdout=server.stdout_lines,
        server_stderr=server.stderr_text(),
        seconds=seconds,
        attack_started=results.started,
    )
    targets = judge(run)
    doc = write(run, targets, out)
    print(markdown(doc))
    print(f"wrote {out}/soak.json, soak.md and latency.png")
    return run, 0 if all(t.held for t in targets) else 1


def main(argv: list[str] | None = None) -> int:
    """The command line of ``make soak``."""
    parser = argparse.ArgumentParser(prog="python -m rrp_robustness.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", DEFAULT_SOAK_SECONDS)))
    parser.add_argument("--out", type=Path, default=Path("build/soak"))
    parser.add_argument(
        "--server-command",
        help="the server to soak, as one shell-quoted string (default: the reference server on 127.0.0.1:0)",
    )
    parser.add_argument(
        "--server-args",
        default=os.environ.get("SOAK_SERVER_ARGS", ""),
        help="extra arguments for the default server command (env SOAK_SERVER_ARGS); the attackers still "
        "judge deadlines by the reference defaults",
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    command = shlex.split(args.server_command) if args.server_command else default_server_command()
    command += shlex.split(args.server_args)
    try:
        _, status = soak(build_plan(args.seconds), command, args.out)
    except ServerStartError as error:
        print(f"soak: the server did not start: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"soak: cannot run the server: {error}", file=sys.stderr)
        return 2
    return status
