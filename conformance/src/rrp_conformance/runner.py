"""Runs checks in order, with sanity probes around them, and turns what each recorded into a :class:`CheckResult`.

Framework module, shared by the server and client suites.

Sanity probes (for the server suite: a plain ECHO over the transport) run once per
transport before the first check and again after every check on that transport. A
probe that fails (after retries for :attr:`RunOptions.recovery` seconds, so a target
freeing connection slots is not taken for dead) marks the transport dead: the check
that just ran gets a failure on the suite's *death requirement* (SRV-16 for servers)
naming itself as the cause, and every later check on that transport is SKIPPED with
that reason, instead of failing for reasons it has nothing to do with.

A transport that fails its first probe, or that the user did not give, is announced
once through :meth:`Progress.transport_unusable` before any check runs, rather than
once per skipped check. Ctrl-C (``KeyboardInterrupt``) stops the run between two
observations: the check it interrupted and every later one are SKIPPED as not run,
and the outcome says ``interrupted`` so that the reports can be written, marked partial.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .context import CheckContext, CheckSkipped, EnvT, Timing
from .outcomes import CheckResult, Failure, Outcome, decide_outcome
from .registry import Check, Selection

#: A sanity probe: returns ``None`` when the target answered, or one sentence saying what went wrong.
Probe = Callable[[], str | None]


#: The skip reason of checks that never ran because the user pressed Ctrl-C.
INTERRUPTED_REASON = "not run: the run was interrupted (Ctrl-C)"


class Progress(Protocol):
    """Receives progress as checks run (the terminal printer implements it)."""

    def transport_unusable(self, transport: str, reason: str, skip_reason: str, checks: int) -> None:
        """Before any check: ``transport`` cannot be graded, for ``reason``; ``checks`` checks will be skipped.

        Each of those results will carry ``skip_reason``.
        """

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
    #: Transport -> why it did not pass the first probe.
    unreachable: Mapping[str, str]
    #: True when Ctrl-C stopped the run: some checks did not run.
    interrupted: bool = False


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
    results: list[CheckResult] = []
    try:
        for transport, probe in probes.items():
            problem = probe()
            if problem is not None:
                unreachable[transport] = problem
                dead[transport] = f"the target did not pass the first sanity probe over {transport}: {problem}"
        if progress is not None:
            for transport, reason in (*unavailable.items(), *unreachable.items()):
                wanted = sum(1 for c in checks if c.transport == transport and options.selection.wants(c))
                progress.transport_unusable(transport, reason, dead.get(transport, reason), wanted)
        total = len(checks)
        for index, check in enumerate(checks, 1):
            if progress is not None:
                progress.started(index, total, check)
            result = _run_with_probe(check, env, options, probes, unavailable, dead, death_requirement)
            results.append(result)
            if progress is not None:
                progress.finished(index, total, result)
    except _Interrupted as stop:
        results.append(stop.result)
    except KeyboardInterrupt:
        pass
    else:
        return RunOutcome(tuple(results), unreachable)
    # Ctrl-C: the check it hit (if any) is already in results; the rest never ran.
    done = len(results)
    for check in checks[done:]:
        results.append(_skipped(check, INTERRUPTED_REASON, options.selection.expects_failure(check)))
    return RunOutcome(tuple(results), unreachable, interrupted=True)


class _Interrupted(Exception):
    """Ctrl-C inside a check: carries what the check had recorded until then."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.name)
        self.result = result


def _run_with_probe(
    check: Check[EnvT],
    env: EnvT,
    options: RunOptions,
    probes: Mapping[str, Probe],
    unavailable: Mapping[str, str],
    dead: dict[str, str],
    death_requirement: str | None,
) -> CheckResult:
    """One check, skipped when it cannot run, then the sanity probe on its transport (``dead`` is updated)."""
    expected_failure = options.selection.expects_failure(check)
    if not options.selection.wants(check):
        return _skipped(check, "not selected (--select/--exclude)", expected_failure)
    if check.transport in unavailable:
        return _skipped(check, unavailable[check.transport], expected_failure)
    if check.transport in dead:
        return _skipped(check, dead[check.transport], expected_failure)
    result = _run_one(check, env, options, expected_failure)
    after = probes.get(check.transport)
    if after is None or death_requirement is None:
        return result
    try:
        problem = _probe_with_retries(after, options.timing.scaled(options.recovery))
    except KeyboardInterrupt:
        raise _Interrupted(result) from None  # the check finished: keep its verdict
    if problem is None:
        return result
    dead[check.transport] = f"the target stopped answering over {check.transport} after {check.name}"
    failure = Failure(
        death_requirement,
        "a plain ECHO is still answered after this check",
        f"sanity probe after this check failed: {problem}",
    )
    failures = (*result.failures, failure)
    return replace(
        result,
        outcome=decide_outcome(failures, strict=options.strict, informational=check.informational),
        failures=failures,
        notes=(*result.notes, "the target died during this check; later checks are skipped"),
    )


def _run_one(check: Check[EnvT], env: EnvT, options: RunOptions, expected_failure: bool) -> CheckResult:
    ctx = CheckContext(env, options.timing)
    started = time.monotonic()
    skip_reason = ""
    interrupted = False
    try:
        check.run(ctx)
    except KeyboardInterrupt:
        skip_reason = "interrupted (Ctrl-C) during this check; its wire log shows how far it got"
        interrupted = True
    except CheckSkipped as skipped:
        skip_reason = skipped.reason
    except Exception as error:  # a suite bug or an unforeseen reaction: never a verdict on the target
        skip_reason = f"the suite could not complete this check: {error!r}"
        if options.verbose:
            traceback.print_exc()
    failures = tuple(ctx.failures)
    if interrupted or (skip_reason and not failures):
        outcome = Outcome.SKIPPED  # an interrupted check judged only part of what it set out to: no verdict
    else:
        outcome = decide_outcome(failures, strict=options.strict, informational=check.informational)
    result = CheckResult(
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
    if interrupted:
        raise _Interrupted(result)
    return result
