"""Runs checks in order, with sanity probes around them, and turns what each recorded into a :class:`CheckResult`.

Framework module, shared by the server and client suites.

Sanity probes (for the server suite: a plain ECHO over the transport) run once per
transport before the first check and again after every check on that transport. A
probe that fails (after retries for :attr:`RunOptions.recovery` seconds, so a target
freeing connection slots is not taken for dead) marks the transport dead: the check
that just ran gets a failure on the suite's *death requirement* (SRV-16 for servers)
naming itself as the cause, and every later check on that transport is SKIPPED with
that reason, instead of failing for reasons it has nothing to do with.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .context import CheckContext, CheckSkipped, EnvT, Timing
from .outcomes import CheckResult, Failure, Outcome, decide_outcome
from .registry import Check, Selection

#: A sanity probe: returns ``None`` when the target answered, or one sentence saying what went wrong.
Probe = Callable[[], str | None]


class Progress(Protocol):
    """Receives progress as checks run (the terminal printer implements it)."""

    def started(self, index: int, total: int, check: Check[Any]) -> None: ...

    def finished(self, index: int, total: int, result: CheckResult) -> None: ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run: strictness, selection and timing."""

    strict: bool = False
    selection: Selection = field(default_factory=Selection)
    timing: Timing = field(default_factory=Timing)
    #: Seconds (before scaling) a failing probe is retried before the target counts as dead.
    recovery: float = 3.0
    #: Print tracebacks of suite errors.
    verbose: bool = False


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """The results of a run, and which transports were unreachable from the start."""

    results: tuple[CheckResult, ...]
    #: Transport -> why it did not answer the first probe.
    unreachable: Mapping[str, str]


def _probe_with_retries(probe: Probe, budget: float) -> str | None:
    deadline = time.monotonic() + budget
    problem = probe()
    while problem is not None and time.monotonic() < deadline:
        time.sleep(0.1)
        problem = probe()
    return problem


def _skipped(check: Check[EnvT], reason: str, expected_failure: bool) -> CheckResult:
    return CheckResult(
        check.name,
        check.title,
        check.area,
        check.transport,
        check.requirements,
        Outcome.SKIPPED,
        skip_reason=reason,
        expected_failure=expected_failure,
    )


def run_checks(
    checks: Sequence[Check[EnvT]],
    env: EnvT,
    options: RunOptions,
    *,
    probes: Mapping[str, Probe],
    unavailable: Mapping[str, str],
    death_requirement: str | None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Run every check in ``checks`` against ``env``, in order.

    ``probes`` maps a transport to its sanity probe; ``unavailable`` maps a transport
    the user did not give to the reason, so its checks are SKIPPED.
    """
    dead: dict[str, str] = {}
    unreachable: dict[str, str] = {}
    for transport, probe in probes.items():
        problem = probe()
        if problem is not None:
            unreachable[transport] = problem
            dead[transport] = f"the target did not answer the first sanity probe over {transport}: {problem}"
    results: list[CheckResult] = []
    total = len(checks)
    for index, check in enumerate(checks, 1):
        expected_failure = options.selection.expects_failure(check)
        if progress is not None:
            progress.started(index, total, check)
        if not options.selection.wants(check):
            result = _skipped(check, "not selected (--select/--exclude)", expected_failure)
        elif check.transport in unavailable:
            result = _skipped(check, unavailable[check.transport], expected_failure)
        elif check.transport in dead:
            result = _skipped(check, dead[check.transport], expected_failure)
        else:
            result = _run_one(check, env, options, expected_failure)
            after = probes.get(check.transport)
            if after is not None and death_requirement is not None:
                problem = _probe_with_retries(after, options.timing.scaled(options.recovery))
                if problem is not None:
                    dead[check.transport] = f"the target stopped answering over {check.transport} after {check.name}"
                    failure = Failure(
                        death_requirement,
                        "a plain ECHO is still answered after this check",
                        f"sanity probe after this check failed: {problem}",
                    )
                    failures = (*result.failures, failure)
                    result = CheckResult(
                        result.name,
                        result.title,
                        result.area,
                        result.transport,
                        result.requirements,
                        decide_outcome(failures, strict=options.strict, informational=check.informational),
                        failures,
                        result.measurements,
                        result.skip_reason,
                        (*result.notes, "the target died during this check; later checks are skipped"),
                        result.expected_failure,
                        result.duration,
                        result.wire_log,
                    )
        results.append(result)
        if progress is not None:
            progress.finished(index, total, result)
    return RunOutcome(tuple(results), unreachable)


def _run_one(check: Check[EnvT], env: EnvT, options: RunOptions, expected_failure: bool) -> CheckResult:
    ctx = CheckContext(env, options.timing)
    started = time.monotonic()
    skip_reason = ""
    try:
        check.run(ctx)
    except CheckSkipped as skipped:
        skip_reason = skipped.reason
    except Exception as error:  # a suite bug or an unforeseen reaction: never a verdict on the target
        skip_reason = f"the suite could not complete this check: {error!r}"
        if options.verbose:
            traceback.print_exc()
    failures = tuple(ctx.failures)
    if skip_reason and not failures:
        outcome = Outcome.SKIPPED
    else:
        outcome = decide_outcome(failures, strict=options.strict, informational=check.informational)
    return CheckResult(
        check.name,
        check.title,
        check.area,
        check.transport,
        check.requirements,
        outcome,
        failures,
        tuple(ctx.measurements),
        skip_reason,
        (*ctx.notes, *ctx.log.remarks, *filter(None, [ctx.log.summary()])),
        expected_failure,
        time.monotonic() - started,
        ctx.log.events,
    )
