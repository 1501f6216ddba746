"""``rrp serve``: run the reference server until SIGTERM or SIGINT.

Once every socket is bound it prints one line per socket to stdout, flushed, so a
script can start it on port 0 and read the ports::

    listening udp 127.0.0.1:7373
    listening tcp [::1]:40123

Log lines (rejected input, rate-limited) and the counters printed at shutdown go
to stderr. A bad flag or address is one sentence on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from collections.abc import Callable
from typing import Any

from rrp_spec import (
    DEFAULT_DEDUP_BYTES,
    DEFAULT_DEDUP_ENTRIES,
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RATE_LIMIT_SLIP,
    DEFAULT_REQUEST_DEADLINE,
    DEFAULT_SEND_TIMEOUT,
    DEFAULT_TCP_MAX_PAYLOAD,
    DEFAULT_UDP_MAX_PAYLOAD,
)
from rrp_spec.addresses import parse_address

from .._aio.server import BindError, Server
from .._sansio.rejectlog import RateLimitedLog
from .._sansio.settings import DEFAULT_GRACE, ServerSettings
from .exit_status import ExitCode

#: The port ``rrp serve`` uses when given no address at all.
DEFAULT_PORT = 7373
#: The host ``rrp serve`` uses when given no address at all.
DEFAULT_HOST = "127.0.0.1"
#: Exit status for a bad command line (argparse's own).
_USAGE = ExitCode.USAGE


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative number of seconds")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return value


def add_parser(subparsers: Any) -> None:
    """Add the ``serve`` subcommand to ``rrp``'s subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the reference server",
        description="Serve RRP/1 over UDP and TCP until SIGTERM or SIGINT. With no --udp/--tcp, serve both on "
        f"{DEFAULT_HOST}:{DEFAULT_PORT}. Prints 'listening udp|tcp HOST:PORT' per socket once bound.",
    )
    add = parser.add_argument
    add("--udp", action="append", type=_address, default=[], metavar="HOST:PORT", help="serve UDP here (repeatable)")
    add("--tcp", action="append", type=_address, default=[], metavar="HOST:PORT", help="serve TCP here (repeatable)")
    add("--tcp-max-payload", type=_count, default=DEFAULT_TCP_MAX_PAYLOAD, metavar="N", help="bytes (%(default)s)")
    add("--udp-max-payload", type=_count, default=DEFAULT_UDP_MAX_PAYLOAD, metavar="N", help="bytes (%(default)s)")
    add("--max-connections", type=_count, default=DEFAULT_MAX_CONNECTIONS, metavar="N", help="(%(default)s)")
    add(
        "--max-connections-per-source",
        type=_count,
        default=DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
        metavar="N",
        help="per IPv4 address or IPv6 /64 (%(default)s)",
    )
    add(
        "--request-deadline",
        type=_seconds,
        default=DEFAULT_REQUEST_DEADLINE,
        metavar="S",
        help="whole-request deadline from a request's first byte (%(default)s)",
    )
    add("--idle-timeout", type=_seconds, default=DEFAULT_IDLE_TIMEOUT, metavar="S", help="(%(default)s)")
    add(
        "--send-timeout",
        type=_seconds,
        default=DEFAULT_SEND_TIMEOUT,
        metavar="S",
        help="close a connection whose peer takes no reply bytes this long (%(default)s)",
    )
    add("--dedup-window", type=_seconds, default=DEFAULT_DEDUP_WINDOW, metavar="S", help="(%(default)s)")
    add("--dedup-entries", type=_count, default=DEFAULT_DEDUP_ENTRIES, metavar="N", help="(%(default)s)")
    add("--dedup-bytes", type=_count, default=DEFAULT_DEDUP_BYTES, metavar="N", help="(%(default)s)")
    add(
        "--rate-limit",
        type=_seconds,
        default=DEFAULT_RATE_LIMIT,
        metavar="R",
        help="UDP replies per second per /24 or /56; 0 is off (%(default)s)",
    )
    add(
        "--rate-limit-slip",
        type=_count,
        default=DEFAULT_RATE_LIMIT_SLIP,
        metavar="N",
        help="every N-th reply over the rate goes out as BUSY; 0 drops all (%(default)s)",
    )
    add("--drop-rate", type=_share, default=0.0, metavar="P", help="drop this share of UDP requests on purpose")
    add("--seed", type=int, default=None, metavar="N", help="seed for --drop-rate, for reproducible runs")
    add("--grace", type=_seconds, default=DEFAULT_GRACE, metavar="S", help="shutdown grace period (%(default)s)")
    add("-v", "--verbose", action="store_true", help="log every rejected input (still rate-limited)")
    parser.set_defaults(run=run)


def settings_from(args: argparse.Namespace) -> ServerSettings:
    """The :class:`ServerSettings` the flags ask for; ``ValueError``/``TypeError`` names a bad one."""
    return ServerSettings(
        tcp_max_payload=args.tcp_max_payload,
        udp_max_payload=args.udp_max_payload,
        max_connections=args.max_connections,
        max_connections_per_source=args.max_connections_per_source,
        request_deadline=args.request_deadline,
        idle_timeout=args.idle_timeout,
        send_timeout=args.send_timeout,
        dedup_window=args.dedup_window,
        dedup_entries=args.dedup_entries,
        dedup_bytes=args.dedup_bytes,
        rate_limit=args.rate_limit,
        rate_limit_slip=args.rate_limit_slip,
        drop_rate=args.drop_rate,
        seed=args.seed,
        grace=args.grace,
    )


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the server until a signal; returns the exit status."""
    try:
        settings = settings_from(args)
    except (ValueError, TypeError) as error:
        print(f"rrp serve: {_flag_sentence(error)}", file=sys.stderr)
        return _USAGE
    udp, tcp = list(args.udp), list(args.tcp)
    if not udp and not tcp:
        udp = tcp = [(DEFAULT_HOST, DEFAULT_PORT)]
    _raise_descriptor_limit()
    return _run_loop(lambda: _serve(settings, udp, tcp, verbose=args.verbose))


async def _serve(
    settings: ServerSettings, udp: list[tuple[str, int]], tcp: list[tuple[str, int]], *, verbose: bool
) -> int:
    log = RateLimitedLog(_stderr, max_per_second=1000 if verbose else 20)
    server = Server(settings, log=log)
    try:
        endpoints = await server.start(udp=udp, tcp=tcp)
    except BindError as error:
        print(f"rrp serve: {error}", file=sys.stderr)
        return _USAGE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers first: a script may send SIGTERM the moment it reads the listening lines.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    for endpoint in endpoints:
        print(f"listening {endpoint}", flush=True)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await server.shutdown()
        for line in server.counters.snapshot().lines():
            _stderr(f"counters: {line}")
    return 0


def _run_loop(main: Callable[[], Any]) -> int:
    """Run ``main()`` on uvloop when it is installed (faster; optional), else on asyncio's own loop."""
    factory = None
    with contextlib.suppress(ImportError):
        import uvloop  # type: ignore[import-not-found]

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        status: int = runner.run(main())
    return status


def _raise_descriptor_limit() -> None:
    # Connection limits are enforced by the server, not by running out of descriptors.
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _flag_sentence(error: Exception) -> str:
    text = str(error)
    for name in (
        "tcp_max_payload",
        "udp_max_payload",
        "max_connections_per_source",
        "max_connections",
        "request_deadline",
        "idle_timeout",
        "send_timeout",
        "dedup_window",
        "dedup_entries",
        "dedup_bytes",
        "rate_limit_slip",
        "rate_limit",
        "drop_rate",
        "grace",
    ):
        text = text.replace(name, "--" + name.replace("_", "-"))
    return text


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
