"""``rrp serve``: run the reference server until SIGTERM or SIGINT.

Once every socket is bound it prints one line per socket to stdout, flushed, so a
script can start it on port 0 and read the ports::

    listening udp 127.0.0.1:7373
    listening tcp [::1]:40123
    listening sudp 127.0.0.1:7374
    listening tls 127.0.0.1:7374

Log lines (rejected input, rate-limited) and the counters printed at shutdown go
to stderr. A bad flag or address is one sentence on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rrp_spec import DEFAULT_PORT
from rrp_spec.addresses import parse_address

from .._aio.log_sink import LogSink
from .._aio.server import BindError, Server
from .._sansio.rejectlog import RateLimitedLog
from .._sansio.setting import DeclaredSetting
from .._sansio.settings import SETTINGS, ServerSettings
from ..secure import load_key_file, persisted_sequences, tls_server_context
from .exit_status import ExitCode
from .workers import Listen, supervise

#: glibc's mallopt parameter number for the mmap threshold, and the threshold ``rrp serve`` sets (its default).
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024
#: How long ``rrp serve`` waits at exit for a stalled stderr reader to take the last lines.
SHUTDOWN_LOG_WAIT = 2.0
#: The host ``rrp serve`` uses when given no address at all.
DEFAULT_HOST = "127.0.0.1"
#: Exit status for a bad command line (argparse's own).
_USAGE = ExitCode.USAGE


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _value_parser(entry: DeclaredSetting) -> Callable[[str], object]:
    """The argparse ``type`` for a setting: text to ``int``/``float``, one sentence when it is not a number.

    Bounds are checked after parsing, by the setting's own declaration (see :func:`settings_from`).
    """
    kind: Callable[[str], object] = entry.kind
    noun = "a whole number" if entry.kind is int else "a number"

    def parse(text: str) -> object:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None

    return parse


def _help(entry: DeclaredSetting) -> str:
    declared = entry.setting
    parts = [declared.help]
    if entry.kind is not bool and (declared.low is not None or declared.high is not None):
        bounds = declared.bounds()
        parts.append(bounds[0].upper() + bounds[1:] + ".")
    if declared.zero_means is not None:
        parts.append(f"0 means {declared.zero_means}.")
    default = "unset" if entry.default is None else declared.unit.quantity(entry.default)
    parts.append(f"Default: {default}.")
    # argparse %-formats help strings.
    return " ".join(parts).replace("%", "%%")


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`ServerSettings` field, derived from its declaration.

    The flags hold no defaults of their own (``argparse.SUPPRESS``): a flag not given leaves the
    setting at the default its declaration states, so every default is written in one place.
    """
    group = parser.add_argument_group("server settings", "Every limit of the server; each defaults as stated.")
    for entry in SETTINGS:
        if entry.kind is bool:
            group.add_argument(
                entry.flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=_help(entry)
            )
        else:
            group.add_argument(
                entry.flag,
                type=_value_parser(entry),
                default=argparse.SUPPRESS,
                metavar=entry.setting.unit.metavar,
                dest=entry.name,
                help=_help(entry),
            )


def add_parser(subparsers: Any) -> None:
    """Add the ``serve`` subcommand to ``rrp``'s subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the reference server",
        description="Serve RRP/1 over UDP and TCP until SIGTERM or SIGINT. With no --udp/--tcp, serve both on "
        f"{DEFAULT_HOST}:{DEFAULT_PORT}. Prints 'listening udp|tcp|sudp|tls HOST:PORT' per socket once bound.",
    )
    add = parser.add_argument
    add("--udp", action="append", type=_address, default=[], metavar="HOST:PORT", help="serve UDP here (repeatable)")
    add("--tcp", action="append", type=_address, default=[], metavar="HOST:PORT", help="serve TCP here (repeatable)")
    secure = parser.add_argument_group(
        "secure profiles", "RRP/1-S over UDP and RRP/1 over TLS, each on ports of its own."
    )
    secure.add_argument(
        "--secure-udp", action="append", type=_address, default=[], metavar="HOST:PORT", help="serve RRP/1-S here"
    )
    secure.add_argument("--key-file", metavar="FILE", help="RRP/1-S keys, one 'KEY_ID SECRET_HEX' per line")
    secure.add_argument(
        "--tls", action="append", type=_address, default=[], metavar="HOST:PORT", help="serve RRP/1 over TLS here"
    )
    secure.add_argument("--tls-cert", metavar="FILE", help="TLS: the server's certificate chain (PEM)")
    secure.add_argument("--tls-key", metavar="FILE", help="TLS: its private key (PEM; default: in --tls-cert)")
    secure.add_argument(
        "--tls-client-ca", metavar="FILE", help="TLS: admit only clients with a certificate from this CA (mutual TLS)"
    )
    secure.add_argument(
        "--sequence-file",
        metavar="FILE",
        help="keep the reply sequence's high-water mark here, so no nonce repeats even if the clock steps back",
    )
    processes = parser.add_argument_group(
        "processes",
        "--workers N runs N server processes that share every port through SO_REUSEPORT: the kernel keeps each "
        "UDP flow and TCP connection on one worker, so retransmissions meet the duplicate-reply cache that "
        "answered them. Every limit below applies to each worker on its own (N workers accept N times "
        "--max-connections in all). Not with --secure-udp.",
    )
    processes.add_argument(
        "--workers", type=_worker_count, default=1, metavar="N", help="server processes to run (default: 1)"
    )
    processes.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind every socket with SO_REUSEPORT, to share its port with other rrp serve processes "
        "(what each worker of --workers does)",
    )
    processes.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop gracefully when standard input closes, as on SIGTERM (each worker of --workers does, so no "
        "worker outlives a supervisor that was killed)",
    )
    add_setting_flags(parser)
    add("-v", "--verbose", action="store_true", help="log every rejected input (still rate-limited)")
    parser.set_defaults(run=run)


def _worker_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def setting_arguments(settings: ServerSettings) -> list[str]:
    """The ``rrp serve`` flags that ask for ``settings``: one per setting that differs from its default.

    ``settings_from(parse(setting_arguments(s)))`` gives back ``s``; the conformance suite's ``reference``
    command starts the reference server this way.
    """
    arguments = []
    for entry in SETTINGS:
        value = getattr(settings, entry.name)
        if value == entry.default:
            continue
        if isinstance(value, bool):
            arguments.append(entry.flag if value else "--no-" + entry.flag[2:])
        elif value is not None:
            arguments += [entry.flag, repr(value)]
    return arguments


def settings_from(args: argparse.Namespace) -> tuple[ServerSettings | None, list[str]]:
    """The :class:`ServerSettings` the flags ask for, or ``None`` and one sentence per bad value."""
    given = {entry.name: getattr(args, entry.name) for entry in SETTINGS if hasattr(args, entry.name)}
    problems = []
    for entry in SETTINGS:
        if entry.name in given:
            problem = entry.problem(given[entry.name])
            if problem is not None:
                problems.append(f"{entry.flag} {problem}")
    if problems:
        return None, problems
    try:
        return ServerSettings(**given), []
    except ValueError as error:  # a rule between settings, past each one's own bounds
        return None, [str(error)]


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the server until a signal; returns the exit status."""
    settings, problems = settings_from(args)
    if settings is None:
        for problem in problems:
            print(f"rrp serve: {problem}", file=sys.stderr)
        return _USAGE
    try:
        secure = _secure_options(args)
    except ValueError as error:
        print(f"rrp serve: {error}", file=sys.stderr)
        return _USAGE
    udp, tcp = list(args.udp), list(args.tcp)
    if not udp and not tcp and not secure.udp and not secure.tls:
        udp = tcp = [(DEFAULT_HOST, DEFAULT_PORT)]
    _raise_descriptor_limit()
    if args.workers > 1:
        if secure.udp:
            # Each worker would draw reply sequence numbers on its own: RRP/1-S nonces could repeat.
            print("rrp serve: --workers cannot serve --secure-udp (the workers would share one nonce sequence)",
                  file=sys.stderr)  # fmt: skip
            return _USAGE
        listens = [Listen(flag, host, port) for flag, given in (("--udp", udp), ("--tcp", tcp), ("--tls", secure.tls))
                   for host, port in given]  # fmt: skip
        return supervise(args.workers, listens, _worker_arguments(args, settings), settings.grace)
    _return_freed_buffers()
    return _run_loop(
        lambda: _serve(
            settings,
            udp,
            tcp,
            secure,
            verbose=args.verbose,
            reuse_port=args.reuse_port,
            stop_on_stdin_eof=args.stop_on_stdin_eof,
        )
    )


def _worker_arguments(args: argparse.Namespace, settings: ServerSettings) -> list[str]:
    """Every flag but the addresses and --workers, for the worker processes."""
    arguments = setting_arguments(settings)
    for flag, value in (
        ("--tls-cert", args.tls_cert),
        ("--tls-key", args.tls_key),
        ("--tls-client-ca", args.tls_client_ca),
    ):
        if value is not None:
            arguments += [flag, value]
    return [*arguments, "-v"] if args.verbose else arguments


@dataclass(frozen=True, slots=True)
class _Secure:
    udp: list[tuple[str, int]] = field(default_factory=list)
    keys: dict[int, bytes] = field(default_factory=dict)
    sequence_file: str | None = None
    tls: list[tuple[str, int]] = field(default_factory=list)
    tls_context: ssl.SSLContext | None = None


def _secure_options(args: argparse.Namespace) -> _Secure:
    """The secure profiles the flags ask for; ``ValueError`` with one sentence when they do not add up."""
    tls = _tls_options(args)
    udp = _secure_udp_options(args)
    return _Secure(udp.udp, udp.keys, udp.sequence_file, tls.tls, tls.tls_context)


def _tls_options(args: argparse.Namespace) -> _Secure:
    if not args.tls:
        if args.tls_cert or args.tls_key or args.tls_client_ca:
            raise ValueError("--tls-cert, --tls-key and --tls-client-ca go with --tls HOST:PORT")
        return _Secure()
    if args.tls_cert is None:
        raise ValueError("--tls needs --tls-cert FILE (and --tls-key FILE unless the key is in it)")
    try:
        context = tls_server_context(args.tls_cert, args.tls_key, client_cafile=args.tls_client_ca)
    except OSError as error:
        raise ValueError(f"--tls-cert/--tls-key: {error.strerror or error}: {error.filename or ''}") from None
    except ssl.SSLError as error:
        raise ValueError(f"--tls-cert/--tls-key/--tls-client-ca cannot be used: {error.reason or error}") from None
    return _Secure(tls=list(args.tls), tls_context=context)


def _secure_udp_options(args: argparse.Namespace) -> _Secure:
    if not args.secure_udp:
        if args.key_file is not None or args.sequence_file is not None:
            raise ValueError("--key-file and --sequence-file go with --secure-udp HOST:PORT")
        return _Secure()
    if args.key_file is None:
        raise ValueError("--secure-udp needs --key-file FILE (one 'KEY_ID SECRET_HEX' per line)")
    return _Secure(list(args.secure_udp), load_key_file(args.key_file), args.sequence_file)


async def _serve(
    settings: ServerSettings,
    udp: list[tuple[str, int]],
    tcp: list[tuple[str, int]],
    secure: _Secure,
    *,
    verbose: bool,
    reuse_port: bool = False,
    stop_on_stdin_eof: bool = False,
) -> int:
    # Log lines and the counters go through a writer thread: a stalled stderr reader never blocks the loop.
    sink = LogSink()
    log = RateLimitedLog(sink.write, max_per_second=1000 if verbose else 20)
    sequences = persisted_sequences(secure.sequence_file) if secure.udp else None
    server = Server(settings, log=log, keys=secure.keys, sequences=sequences, tls=secure.tls_context)
    try:
        endpoints = await server.start(udp=udp, tcp=tcp, secure_udp=secure.udp, tls=secure.tls, reuse_port=reuse_port)
    except BindError as error:
        print(f"rrp serve: {error}", file=sys.stderr)
        return _USAGE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers first: a script may send SIGTERM the moment it reads the listening lines.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if stop_on_stdin_eof:
        try:
            _stop_when_stdin_closes(loop, stop)
        except (OSError, ValueError) as error:  # a regular file or /dev/null cannot be watched
            sink.write(f"rrp serve: --stop-on-stdin-eof ignored: standard input cannot be watched ({error})")
    for endpoint in endpoints:
        print(f"listening {endpoint}", flush=True)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await server.shutdown()
        lines = [f"counters: {line}" for line in server.counters.snapshot().lines()]
        # A reader that is still stalled costs these lines too, not the exit.
        sink.write_final([*lines, f"counters: log: dropped={sink.dropped_total}"], SHUTDOWN_LOG_WAIT)
        sink.close(timeout=SHUTDOWN_LOG_WAIT)
    return 0


def _stop_when_stdin_closes(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` once standard input reaches end of file (the writer, a supervisor, has gone)."""
    descriptor = sys.stdin.fileno()
    os.set_blocking(descriptor, False)

    def readable() -> None:
        try:
            data = os.read(descriptor, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(descriptor)
            stop.set()

    loop.add_reader(descriptor, readable)


def _run_loop(main: Callable[[], Any]) -> int:
    """Run ``main()`` on uvloop when it is installed (faster; optional), else on asyncio's own loop."""
    factory = None
    with contextlib.suppress(ImportError):
        import uvloop  # type: ignore[import-not-found]

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        status: int = runner.run(main())
    return status


def _return_freed_buffers() -> None:
    """Keep glibc from holding on to freed request and reply buffers after an attack (TCP-SRV-14).

    Blocks of 128 KiB and more (the receive chunks, payloads, replies) are mapped and unmapped on their own. By
    default glibc raises that threshold each time such a block is freed, up to 32 MiB, after which the buffers
    come from its heap, which fragments and is not returned: measured, the server stayed at 290 MiB after a memory
    attack that its budget held to 330 MiB at peak. Setting the threshold once turns the raising off.
    """
    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def _raise_descriptor_limit() -> None:
    # Connection limits are enforced by the server, not by running out of descriptors.
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
