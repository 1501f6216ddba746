"""Run the whole benchmark: codecs, every load configuration against every server in alternation, and the
stalled-connection attack; collect everything into :class:`BenchResults`.

Servers are started once and stay up; within a configuration each round runs every server in turn
(A B C D, A B C D, ...), so slow drifts of a shared machine hit all servers alike and the per-round ratios
compare runs made seconds apart.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from rrp_spec import DEFAULT_MAX_CONNECTIONS_PER_SOURCE

from .codec import CodecTiming, measure_codecs
from .listen_args import Endpoint
from .load import BY_NAME, LoadConfig, LoadError, LoadResult, LoadRun, Transport
from .machine import machine_description
from .pinning import Pinning, choose_pinning, pin_current_process
from .servers import RunningServer, ServerKind, ServerStartError, server_command

#: Stalled connections per attacking source in the spread variant: half the per-source limit, so a server
#: that enforces it still admits them all.
ATTACK_PER_SOURCE = DEFAULT_MAX_CONNECTIONS_PER_SOURCE // 2
#: How long the attacker may take to open its connections.
ATTACK_READY_TIMEOUT = 30.0


class AttackVariant(StrEnum):
    """How the stalled connections are spread over source addresses."""

    #: No attack: the baseline.
    NONE = "none"
    #: Spread over sources so a per-source limit admits them (what a distributed attacker does).
    SPREAD = "spread"
    #: All from one source address, not reopened: measures the per-source limit refusing them.
    ONE_SOURCE = "one-source"


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """Everything a run can be told."""

    tools: Path
    out_dir: Path
    duration: float = 2.0
    warmup: float = 0.3
    rounds: int = 3
    payload: int = 64
    servers: tuple[ServerKind, ...] = tuple(ServerKind)
    configs: tuple[LoadConfig, ...] = tuple(BY_NAME.values())
    codec_budget: float = 0.2
    attack: bool = True
    attack_count: int = 1000
    attack_per_source: int = ATTACK_PER_SOURCE
    attack_config: str = "tcp-1x64"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One generator run against one server; ``result`` is ``None`` when the run failed (see ``error``)."""

    config: str
    server: str
    round: int
    result: LoadResult | None
    error: str | None = None
    #: For attack runs: the variant and what the attacker reported.
    attack: str | None = None
    attacker: str | None = None
    #: Server CPU time (user + system, all threads) per correct reply, in µs: unlike req/s, it barely
    #: depends on what else the shared machine is running.
    server_cpu_us_per_reply: float | None = None


@dataclass(frozen=True, slots=True)
class RunSettings:
    """The options of a run, as recorded in its results."""

    duration: float
    warmup: float
    rounds: int
    payload: int
    servers: list[str]
    configs: list[str]
    attack: bool
    attack_count: int
    attack_per_source: int
    attack_config: str


@dataclass(slots=True)
class BenchResults:
    """All raw numbers of one run; the report and the chart are computed from these."""

    options: RunSettings
    #: What the run ran on: see :data:`rrp_bench.machine.MACHINE_FIELDS`.
    machine: dict[str, str]
    pinning: str
    started: str
    codec: list[CodecTiming] = field(default_factory=list)
    runs: list[Measurement] = field(default_factory=list)
    attack_runs: list[Measurement] = field(default_factory=list)
    #: Servers that could not be started, with the reason.
    unavailable: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    #: 1-, 5- and 15-minute load averages when the run started and ended: how busy the shared machine was.
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


class Attacker:
    """The :mod:`rrp_bench.attack` process for one run; stopped on exit from its ``with`` block."""

    def __init__(self, target: Endpoint, count: int, per_source: int, reopen: bool, cpus: frozenset[int] | None):
        command = [sys.executable, "-m", "rrp_bench.attack", str(target), "--count", str(count)]
        command += ["--per-source", str(per_source), "--max-seconds", "600"]
        if not reopen:
            command.append("--no-reopen")
        self._command = command
        self._cpus = cpus
        self._process: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as this object; closed in __exit__
        self.report = ""

    def __enter__(self) -> Attacker:
        cpus = self._cpus
        self._process = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,  # a file, not a pipe: reading it can never block on a hung attacker
            text=True,
            preexec_fn=lambda: pin_current_process(cpus),
        )
        try:
            self.report = self._read_line(ATTACK_READY_TIMEOUT)
        except BaseException:
            self.__exit__()
            raise
        if not self.report.startswith("stalled"):
            self._stop()
            self._stderr.seek(0)
            tail = " | ".join(self._stderr.read().decode(errors="replace").strip().splitlines()[-3:])
            self._stderr.close()
            raise RuntimeError(f"attacker failed: {self.report or tail or 'no output'}")
        return self

    def _read_line(self, timeout: float) -> str:
        assert self._process is not None and self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                return ""
        return self._process.stdout.readline().strip()

    def __exit__(self, *exc: object) -> None:
        self._stop()
        self._stderr.close()

    def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()  # the attacker stops when its standard input closes
            line = self._read_line(10.0)
            if line:
                self.report = f"{self.report}; {line}"
            process.wait(timeout=10)
        except (subprocess.TimeoutExpired, OSError):
            process.kill()
            process.wait(timeout=5)
        finally:
            if process.stdout is not None:
                process.stdout.close()
            self._process = None


def _target(server: RunningServer, config: LoadConfig) -> Endpoint:
    assert server.listening is not None
    return server.listening.udp if config.transport is Transport.UDP else server.listening.tcp


def _measure(run: LoadRun, server: RunningServer, config: LoadConfig, round_: int, label: str) -> Measurement:
    if not server.alive():
        return Measurement(config.name, server.kind, round_, None, "server exited")
    cpu_at_start: list[float] = []
    try:
        result = run.run(
            config, _target(server, config), label=label, on_measuring=lambda: cpu_at_start.append(server.cpu_seconds())
        )
        cpu = server.cpu_seconds() - cpu_at_start[0] if cpu_at_start else None
    except (LoadError, subprocess.TimeoutExpired, OSError) as error:
        return Measurement(config.name, server.kind, round_, None, str(error))
    cpu_us = cpu * 1e6 / result.replies_ok if cpu is not None and result.replies_ok else None
    return Measurement(config.name, server.kind, round_, result, server_cpu_us_per_reply=cpu_us)


def run_benchmark(options: BenchOptions, progress: Callable[[str], None] = print) -> BenchResults:
    """Run everything ``options`` asks for and return the raw results."""
    pinning: Pinning = choose_pinning()
    results = BenchResults(
        options=RunSettings(
            duration=options.duration,
            warmup=options.warmup,
            rounds=options.rounds,
            payload=options.payload,
            servers=[str(s) for s in options.servers],
            configs=[c.name for c in options.configs],
            attack=options.attack,
            attack_count=options.attack_count,
            attack_per_source=options.attack_per_source,
            attack_config=options.attack_config,
        ),
        machine=machine_description(),
        pinning=pinning.describe(),
        started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        load_before=os.getloadavg(),
    )
    began = time.monotonic()
    load = LoadRun(options.tools / "rrp-load", options.duration, options.warmup, options.payload, pinning.client)
    logs = options.out_dir / "logs"

    progress("codec micro-benchmarks")
    own_affinity = os.sched_getaffinity(0)
    pin_current_process(pinning.client)
    try:
        results.codec = measure_codecs(options.codec_budget)
    finally:
        os.sched_setaffinity(0, own_affinity)

    with ExitStack() as stack:
        servers: list[RunningServer] = []
        for kind in options.servers:
            server = RunningServer(kind, server_command(kind, options.tools), logs, pinning.server)
            try:
                servers.append(stack.enter_context(server))
            except (ServerStartError, OSError) as error:
                results.unavailable[kind] = str(error)
                progress(f"  {kind}: unavailable: {error}")

        for config in options.configs:
            for round_ in range(1, options.rounds + 1):
                for server in servers:
                    measurement = _measure(load, server, config, round_, f"{config.name}/{server.kind}/{round_}")
                    results.runs.append(measurement)
                    progress(f"{config.name:9} round {round_} {server.kind:15} {_brief(measurement)}")

        if options.attack:
            _run_attack(options, load, pinning, servers, results, progress)
    results.seconds = time.monotonic() - began
    results.load_after = os.getloadavg()
    return results


def _run_attack(
    options: BenchOptions,
    load: LoadRun,
    pinning: Pinning,
    servers: list[RunningServer],
    results: BenchResults,
    progress: Callable[[str], None],
) -> None:
    config = BY_NAME[options.attack_config]
    for round_ in range(1, options.rounds + 1):
        for server in servers:
            for variant in AttackVariant:
                label = f"attack/{variant}/{server.kind}/{round_}"
                if variant is AttackVariant.NONE:
                    measurement = _measure(load, server, config, round_, label)
                    measurement = replace(measurement, attack=variant)
                else:
                    spread = variant is AttackVariant.SPREAD
                    per_source = options.attack_per_source if spread else options.attack_count
                    assert server.listening is not None
                    try:
                        with Attacker(
                            server.listening.tcp, options.attack_count, per_source, spread, pinning.client
                        ) as attacker:
                            measurement = _measure(load, server, config, round_, label)
                        measurement = replace(measurement, attack=variant, attacker=attacker.report)
                    except (RuntimeError, OSError) as error:
                        measurement = Measurement(config.name, server.kind, round_, None, str(error), attack=variant)
                results.attack_runs.append(measurement)
                progress(f"attack {variant:10} round {round_} {server.kind:15} {_brief(measurement)}")


def _brief(measurement: Measurement) -> str:
    result = measurement.result
    if result is None:
        return f"FAILED: {measurement.error}"
    return (
        f"{result.rps:>11,.0f} req/s  p50 {result.p50_us:8.1f} us  p99 {result.p99_us:8.1f} us"
        f"  errors {result.errors}  lost {result.lost}"
        + (f"  server CPU {cpu:.1f} us/reply" if (cpu := measurement.server_cpu_us_per_reply) is not None else "")
    )
