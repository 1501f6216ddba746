"""Run the C load generator for one configuration and read its JSON line; read its usage from its source."""

from __future__ import annotations

import codecs
import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from .listen_args import Endpoint
from .pinning import pin_current_process

#: The load generator's C source (built into build/bench/rrp-load by ``make bench-tools``).
C_SOURCE = Path(__file__).resolve().parents[2] / "c" / "rrp-load.c"
_USAGE_BODY = re.compile(r"^static void usage\(FILE \*to\) \{$(.*?)^\}$", re.MULTILINE | re.DOTALL)
_C_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def usage_text(source: Path = C_SOURCE) -> str:
    """What ``rrp-load --help`` prints, read from the string literals of the C source's ``usage()``.

    The site shows the generator's usage without needing the binary built; a test holds this equal to the
    built program's own ``--help``.
    """
    body = _USAGE_BODY.search(source.read_text())
    if body is None:
        raise ValueError(f"{source} has no usage() function")
    return codecs.decode("".join(_C_STRING.findall(body.group(1))), "unicode_escape")


class Transport(StrEnum):
    """The generator's ``--udp`` / ``--tcp``."""

    UDP = "udp"
    TCP = "tcp"


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """One load shape: transport, connections and requests in flight per connection."""

    #: Short name used in tables and JSON, e.g. ``tcp-64x1``.
    name: str
    transport: Transport
    connections: int
    inflight: int

    def describe(self) -> str:
        """Human-readable shape for the report."""
        if self.transport is Transport.UDP:
            if self.connections > 1:
                return f"UDP, {self.connections} sockets × {self.inflight} in flight"
            return f"UDP, K={self.inflight}"
        return f"TCP, {self.connections} conn × {self.inflight} in flight"


#: The configurations every benchmark run measures.
CONFIGS: tuple[LoadConfig, ...] = (
    LoadConfig("udp-k1", Transport.UDP, 1, 1),
    LoadConfig("udp-k64", Transport.UDP, 1, 64),
    # The same 64 in flight from 64 client sockets: no two replies in a row go to one address, so
    # batching replies per destination (UDP GSO) cannot help; udp-k64 is its best case, this its worst.
    LoadConfig("udp-64x1", Transport.UDP, 64, 1),
    LoadConfig("tcp-1x1", Transport.TCP, 1, 1),
    LoadConfig("tcp-1x64", Transport.TCP, 1, 64),
    LoadConfig("tcp-64x1", Transport.TCP, 64, 1),
)
BY_NAME: dict[str, LoadConfig] = {config.name: config for config in CONFIGS}


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one generator run measured (field for field the generator's JSON line)."""

    label: str
    transport: str
    target: str
    connections: int
    inflight: int
    payload: int
    op: str
    seconds: float
    sent: int
    replies_ok: int
    rps: float
    p50_us: float
    p99_us: float
    p999_us: float
    #: Wrong header, wrong ID, wrong payload, error result or dropped connection: never expected.
    errors: int
    bad_header: int
    bad_id: int
    bad_payload: int
    error_result: int
    disconnects: int
    send_failures: int
    #: UDP replies that came after their request had been given up (counted in ``lost`` too).
    late: int
    #: UDP requests unanswered within the generator's timeout.
    lost: int
    outstanding_at_end: int

    @classmethod
    def from_json(cls, line: str) -> LoadResult:
        """Parse the generator's output line; unknown keys are ignored, missing ones are an error."""
        return cls.from_dict(json.loads(line))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadResult:
        """Build from a mapping of the fields (the generator's line, or ``results.json``); extra keys ignored."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


class LoadError(RuntimeError):
    """The generator failed to run (it could not connect, or was given bad arguments)."""


@dataclass(frozen=True, slots=True)
class LoadRun:
    """How to run the generator: its binary, timing and CPU set."""

    binary: Path
    duration: float
    warmup: float
    payload: int = 64
    cpus: frozenset[int] | None = None

    def run(
        self,
        config: LoadConfig,
        target: Endpoint,
        *,
        label: str = "",
        bind: str | None = None,
        on_measuring: Callable[[], None] | None = None,
    ) -> LoadResult:
        """Load ``target`` with ``config`` and return the measurement.

        ``on_measuring`` is called when the warm-up ends (give or take the generator's start-up time).
        """
        command = [
            str(self.binary),
            f"--{config.transport}",
            str(target),
            "--connections",
            str(config.connections),
            "--inflight",
            str(config.inflight),
            "--duration",
            str(self.duration),
            "--warmup",
            str(self.warmup),
            "--payload",
            str(self.payload),
            "--label",
            label,
        ]
        if bind is not None:
            command += ["--bind", bind]
        cpus = self.cpus
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: pin_current_process(cpus),
        )
        try:
            if on_measuring is not None:
                # The generator stops its warm-up about now; the caller samples whatever it tracks.
                time.sleep(self.warmup)
                on_measuring()
            stdout, stderr = process.communicate(timeout=self.duration + self.warmup + 30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        if process.returncode != 0:
            raise LoadError(f"rrp-load exited with {process.returncode}: {stderr.strip()}")
        return LoadResult.from_json(stdout.strip().splitlines()[-1])
