"""``rrp-conformance client --command 'TEMPLATE' ...``: grade an RRP client that can be run from a command line."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from rrp_spec import DEFAULT_REPLY_TIMEOUT, DEFAULT_RETRY_POLICY, HEADER_SIZE, RetryPolicy, Side, Transport

from ..catalogue import ALL_CLIENT_CHECKS
from ..context import CheckContext, Timing
from ..coverage import requirements_for
from ..registry import Check
from ..reports import JsonValue
from ..runner import Probe
from ..suite import (
    ASSUMPTION_POLICY,
    CLIENT_REPORT_DIR,
    UsageError,
    add_common_arguments,
    list_checks,
    options_from_args,
    positive_float,
    positive_int,
    run_suite,
)
from .calls import call_over_tcp, call_over_udp
from .environment import ClientClaims, ClientEnv
from .forged import genuine_reply
from .hostile_udp import Send
from .runner import ClientNotRunnable
from .secure_material import SecureMaterial
from .template import PLACEHOLDERS, CommandTemplate, TemplateError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rrp-conformance client``."""
    policy = DEFAULT_RETRY_POLICY
    placeholders = " ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
    parser = subparsers.add_parser(
        "client",
        help="grade an RRP client run through a command template",
        description="Run the client under test once per call against the suite's own hostile servers on loopback, "
        "and grade it requirement by requirement. The adapter contract: the command sends one request, prints the "
        "reply payload as hex on stdout and exits 0 on OK; it exits non-zero on an error result or a timeout.",
        epilog=f"placeholders: {placeholders}. The template is split like a shell command but never run by a shell.",
    )
    parser.add_argument(
        "--command",
        metavar="TEMPLATE",
        help="the command that makes one call, e.g. 'my-client {url} {op} {payload_hex} --timeout {timeout}' "
        "(required unless --list)",
    )
    claims = parser.add_argument_group(
        "what the client claims (the suite verifies it)", f"Unclaimed, {ASSUMPTION_POLICY}."
    )
    claims.add_argument(
        "--attempts",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"UDP attempts in all before giving up (default {policy.max_attempts})",
    )
    claims.add_argument(
        "--initial-timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help=f"UDP: first attempt's timeout before jitter (default {policy.initial_timeout:g})",
    )
    claims.add_argument(
        "--max-timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help=f"UDP: cap on any attempt's timeout before jitter (default {policy.max_timeout:g})",
    )
    claims.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help="the deadline passed as {timeout}: TCP checks hold the client to it; UDP calls get at least the "
        f"schedule's worst case (default {DEFAULT_REPLY_TIMEOUT:g})",
    )
    secure = parser.add_argument_group("the secure profiles (their checks are SKIPPED when not given)")
    secure.add_argument(
        "--tls-command",
        metavar="TEMPLATE",
        help="the command for an RRP/1-over-TLS call ({url} is tls://localhost:PORT; trust {ca})",
    )
    secure.add_argument(
        "--sudp-command",
        metavar="TEMPLATE",
        help="the command for an RRP/1-S call ({url} is sudp://HOST:PORT; the key is {key_id} in {key_file})",
    )
    add_common_arguments(parser, CLIENT_REPORT_DIR)
    parser.set_defaults(run=run)


def environment_from_args(args: argparse.Namespace) -> ClientEnv:
    """The suite environment of parsed arguments; :class:`UsageError` for a bad template or schedule."""
    try:
        template = CommandTemplate.parse(args.command)
    except TemplateError as error:
        raise UsageError(str(error)) from None
    spec = DEFAULT_RETRY_POLICY
    initial = spec.initial_timeout if args.initial_timeout is None else args.initial_timeout
    cap = spec.max_timeout if args.max_timeout is None else args.max_timeout
    attempts = spec.max_attempts if args.attempts is None else args.attempts
    if cap < initial:
        raise UsageError(f"--max-timeout ({cap:g} s) must be at least --initial-timeout ({initial:g} s)")
    retry = RetryPolicy(initial_timeout=initial, max_timeout=cap, max_attempts=attempts)
    timeout = DEFAULT_REPLY_TIMEOUT if args.timeout is None else args.timeout
    claimed = (args.attempts, args.initial_timeout, args.max_timeout) != (None, None, None)
    return ClientEnv(
        template,
        ClientClaims(retry, timeout, schedule_claimed=claimed, timeout_claimed=args.timeout is not None),
        tls_template=_optional_template(args.tls_command, "--tls-command"),
        sudp_template=_optional_template(args.sudp_command, "--sudp-command"),
    )


def _optional_template(text: str | None, flag: str) -> CommandTemplate | None:
    if text is None:
        return None
    try:
        return CommandTemplate.parse(text)
    except TemplateError as error:
        raise UsageError(f"{flag}: {error}") from None


def _startable_probe(env: ClientEnv, timing: Timing, transport: Transport) -> Probe:
    """A probe that fails only when the client cannot be started; one that runs but fails is graded, not skipped."""

    def probe() -> str | None:
        ctx: CheckContext[ClientEnv] = CheckContext(env, timing)
        try:
            if transport is Transport.UDP:
                call_over_udp(ctx, lambda _, d: [Send(genuine_reply(d.data))] if len(d.data) >= HEADER_SIZE else [])
            else:
                call_over_tcp(ctx, lambda x: x.send(genuine_reply(x.request or b"")))
        except ClientNotRunnable as error:
            return str(error)
        return None

    return probe


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Carry out ``rrp-conformance client``; returns the exit status."""
    if args.list:
        return list_checks("client", list(ALL_CLIENT_CHECKS), options_from_args(args).selection)
    if args.command is None:
        parser.error("the following arguments are required: --command")
    env = environment_from_args(args)
    if env.tls_template is None and env.sudp_template is None:
        return _run(args, env)
    try:
        material = SecureMaterial.create()
    except ImportError:
        raise UsageError("grading the secure profiles needs trustme: pip install 'rrp-conformance[secure]'") from None
    try:
        return _run(args, dataclasses.replace(env, secure=material))
    finally:
        material.remove()


def _run(args: argparse.Namespace, env: ClientEnv) -> int:
    options = options_from_args(args)
    checks: list[Check[ClientEnv]] = list(ALL_CLIENT_CHECKS)
    timing = Timing(scale=options.timeout_scale)
    probes = {
        str(t): _startable_probe(env, timing, t)
        for t in Transport
        if any(c.transport == t and options.selection.wants(c) for c in checks)
    }
    retry = env.claims.retry
    target: dict[str, JsonValue] = {
        "command": env.template.text,
        "claims": {
            "udp_attempts": retry.max_attempts,
            "udp_initial_timeout_s": retry.initial_timeout,
            "udp_backoff": retry.backoff,
            "udp_max_timeout_s": retry.max_timeout,
            "udp_jitter_max": retry.jitter_max,
            "call_timeout_s": env.claims.call_timeout,
        },
        "unclaimed_settings": ASSUMPTION_POLICY,
        "assumed": [
            *([] if env.claims.schedule_claimed else ["udp schedule: the spec's, UDP-CLI-5"]),
            *([] if env.claims.timeout_claimed else ["call timeout: the reference default; the spec sets none"]),
        ],
    }
    report = run_suite(
        suite="client",
        checks=checks,
        env=env,
        options=options,
        probes=probes,
        unavailable={
            profile: f"not graded: no --{profile}-command"
            for profile, template in (("tls", env.tls_template), ("sudp", env.sudp_template))
            if template is None
        },
        target=target,
        graded=requirements_for((Side.CLIENT, Side.BOTH)),
        death_requirement=None,
    )
    for transport, reason in report.unreachable.items():
        print(f"rrp-conformance: the client could not be run for {transport}: {reason}", file=sys.stderr)
    return int(report.exit_code)
