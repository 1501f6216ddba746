"""The result of one whole run: what every report is rendered from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..coverage import CoverageRow
from ..outcomes import CheckResult, ExitCode, Outcome
from ..versions import Versions, current_versions

#: A JSON value: what a target description is made of.
JsonValue = str | int | float | bool | None | Mapping[str, "JsonValue"] | list["JsonValue"]


@dataclass(frozen=True, slots=True)
class RunReport:
    """Everything a report shows about one run of a suite."""

    #: ``server`` or ``client``.
    suite: str
    #: What was graded and the settings it claims, machine-readable: names and numbers, e.g.
    #: ``{"udp": {"host": "127.0.0.1", "port": 7000}, "claims": {"idle_timeout_s": 2.0, ...}}``.
    #: :func:`target_rows` turns it into labels for people.
    target: Mapping[str, JsonValue]
    #: ISO 8601 UTC time the run started.
    started: str
    #: Seconds the run took.
    duration: float
    strict: bool
    timeout_scale: float
    results: tuple[CheckResult, ...]
    coverage: tuple[CoverageRow, ...]
    #: Transport -> why it did not pass the first sanity probe.
    unreachable: Mapping[str, str]
    exit_code: ExitCode
    #: Check name -> its frame numbers in the run's pcapng (checks that sent and received nothing are absent).
    frames: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    #: The pcapng's file name beside the reports, when one was written.
    capture: str = ""
    #: True when Ctrl-C stopped the run: the report is partial.
    interrupted: bool = False
    #: What graded the target.
    versions: Versions = field(default_factory=current_versions)

    def counts(self, results: tuple[CheckResult, ...] | None = None) -> dict[Outcome, int]:
        """How many checks ended in each outcome."""
        counts = dict.fromkeys(Outcome, 0)
        for result in self.results if results is None else results:
            counts[result.outcome] += 1
        return counts

    def packets(self, name: str) -> str:
        """Where check ``name``'s packets are in the capture (``frames 12-18 of capture.pcapng``), or ``""``."""
        frames = self.frames.get(name)
        if not self.capture or not frames:
            return ""
        runs: list[list[int]] = []
        for frame in frames:
            if runs and frame == runs[-1][-1] + 1:
                runs[-1].append(frame)
            else:
                runs.append([frame])
        spans = ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
        return f"frame{'s' if len(frames) > 1 else ''} {spans} of {self.capture}"

    def areas(self) -> list[str]:
        """Report areas in first-run order."""
        return list(dict.fromkeys(r.area for r in self.results))


def exit_code_for(
    results: tuple[CheckResult, ...], unreachable: Mapping[str, str], transports: int, *, interrupted: bool = False
) -> ExitCode:
    """0 unless a MUST failed (expected failures aside), a transport asked for did not answer, or Ctrl-C stopped it.

    A failure on a reachable transport outranks an unreachable one; an unreachable transport is
    never OK, or a mistyped port would pass with every check of its transport skipped. An
    interrupted run outranks everything: its verdict is incomplete.
    """
    if interrupted:
        return ExitCode.INTERRUPTED
    if transports and len(unreachable) == transports:
        return ExitCode.UNREACHABLE
    if any(r.counts_as_failure for r in results):
        return ExitCode.FAILED
    if unreachable:
        return ExitCode.UNREACHABLE
    return ExitCode.OK


def _label(key: str) -> str:
    """``request_deadline_s`` -> ``request deadline (s)``."""
    words = key.split("_")
    unit = f" ({words.pop()})" if len(words) > 1 and words[-1] in ("s", "bytes") else ""
    return " ".join(words) + unit


def _is_address(value: JsonValue) -> bool:
    return isinstance(value, Mapping) and {"host", "port"} <= set(value)


def _show(value: JsonValue) -> str:
    if value is None:
        return "not graded"
    if isinstance(value, Mapping) and _is_address(value):
        host, port = value["host"], value["port"]
        shown = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        extra = ", ".join(f"{_label(k)} {_show(v)}" for k, v in value.items() if k not in ("host", "port"))
        return f"{shown} ({extra})" if extra else shown
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def target_rows(target: Mapping[str, JsonValue], prefix: str = "") -> list[tuple[str, str]]:
    """A target description as (label, value) rows for people: nested objects flattened, addresses joined."""
    rows: list[tuple[str, str]] = []
    for key, value in target.items():
        label = f"{prefix}{_label(key)}"
        if isinstance(value, Mapping) and not _is_address(value):
            rows += target_rows(value, f"{label}: ")
        else:
            rows.append((label, _show(value)))
    return rows
