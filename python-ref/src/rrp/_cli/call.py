"""``rrp call URL OP [PAYLOAD]``: send one request with the reference client and print the reply.

Exit statuses (:class:`rrp._cli.main.ExitCode`): 0 OK; 1 the server answered an error
result; 2 usage error; 3 no reply in time (UDP gave up, TCP deadline); 4 the
connection failed (refused, closed mid-reply, an unacceptable reply over TCP).
Every failure is one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from rrp_spec import (
    COUNTER_SIZE,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_REPLY_TIMEOUT,
    DEFAULT_RETRY_POLICY,
    Op,
    RetryPolicy,
    Transport,
)
from rrp_spec.addresses import parse_profile_url, require_destination

from .._blocking.client import Client
from .._sansio.client_errors import ConnectionFailed, ErrorResult, TimedOut
from .._sansio.client_events import ClientEvent, EventObserver, ignore_event
from .._sansio.reply import Reply
from .._sansio.secure_udp import SecureClientKey
from .._sansio.udp_exchange import MAX_OPERATION
from ..secure import client_key, load_key_file, tls_client_context
from .exit_status import ExitCode


@dataclass(frozen=True, slots=True)
class CallTarget:
    """Where ``rrp call`` sends its request: ``udp://``, ``tcp://``, ``sudp://`` (RRP/1-S) or ``tls://`` HOST:PORT."""

    scheme: str
    host: str
    port: int

    @property
    def transport(self) -> Transport:
        """UDP for ``udp`` and ``sudp``, TCP for ``tcp`` and ``tls``."""
        return Transport.UDP if self.scheme in ("udp", "sudp") else Transport.TCP


def parse_target(text: str) -> CallTarget:
    """Parse a call URL; ``ValueError`` with one sentence when it is not one."""
    scheme, address = parse_profile_url(text)
    host, port = require_destination(address, text)
    return CallTarget(scheme, host, port)


def parse_operation(text: str) -> int:
    """``noop``/``echo``/``increment`` (any case) or a number 0-65535, decimal or 0x hex."""
    name = text.upper()
    if name in Op.__members__:
        return int(Op[name])
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        value = int(text[2:], 16)
    elif re.fullmatch(r"[0-9]+", text):
        value = int(text)
    else:
        names = "|".join(op.name.lower() for op in Op)
        raise ValueError(f"operation {text!r} is not {names} or a number")
    if value > MAX_OPERATION:
        raise ValueError(f"operation {text} is outside 0-{MAX_OPERATION} (0x{MAX_OPERATION:04x})")
    return value


def parse_hex(text: str) -> bytes:
    """Payload bytes from hex digits (spaces allowed between bytes)."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{text!r} is not hex bytes (two hex digits per byte, e.g. 68690a)") from None


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{text!r} is not a positive number of seconds")
    return value


def _positive_count(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise ValueError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _argument_type(parse: Callable[[str], object], name: str) -> Callable[[str], object]:
    """Wrap a parser so argparse reports its ValueError's sentence as the usage error."""

    def convert(text: str) -> object:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = name  # argparse names the argument type in some messages
    return convert


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rrp call`` to the ``rrp`` command."""
    policy = DEFAULT_RETRY_POLICY
    parser = subparsers.add_parser(
        "call",
        help="send one request and print the reply",
        description="Send one RRP request and print the reply's payload on stdout: as text when it is printable "
        "UTF-8, otherwise (or with --hex) as lowercase hex; INCREMENT's counter as a decimal number.",
        epilog="Exit status: 0 OK, 1 error result, 2 usage error, 3 no reply in time, 4 connection failed.",
    )
    parser.add_argument(
        "url",
        type=_argument_type(parse_target, "URL"),
        metavar="URL",
        help="udp://HOST:PORT or tcp://HOST:PORT; sudp://HOST:PORT (RRP/1-S) or tls://HOST:PORT (RRP/1 over TLS)",
    )
    parser.add_argument(
        "operation",
        type=_argument_type(parse_operation, "OP"),
        metavar="OP",
        help=f"noop, echo, increment, or a number 0-{MAX_OPERATION} (decimal or 0x hex)",
    )
    parser.add_argument("payload", nargs="?", metavar="PAYLOAD", help="the payload as text (UTF-8)")
    parser.add_argument(
        "--payload-hex", type=_argument_type(parse_hex, "HEX"), metavar="HEX", help="the payload as hex"
    )
    parser.add_argument("--hex", action="store_true", help="print the reply payload as lowercase hex")
    parser.add_argument(
        "--timeout",
        type=_argument_type(_positive_seconds, "S"),
        metavar="S",
        help="deadline for the whole call in seconds (TCP: connect and reply, default "
        f"{DEFAULT_CONNECT_TIMEOUT:g} + {DEFAULT_REPLY_TIMEOUT:g}; UDP: gives up at the earlier of this and the "
        "retry schedule's end)",
    )
    parser.add_argument(
        "--attempts",
        type=_argument_type(_positive_count, "N"),
        default=policy.max_attempts,
        metavar="N",
        help=f"UDP: transmissions in all before giving up (default {policy.max_attempts})",
    )
    parser.add_argument(
        "--initial-timeout",
        type=_argument_type(_positive_seconds, "S"),
        default=policy.initial_timeout,
        metavar="S",
        help=f"UDP: the first attempt's timeout before jitter (default {policy.initial_timeout:g})",
    )
    parser.add_argument(
        "--max-timeout",
        type=_argument_type(_positive_seconds, "S"),
        default=policy.max_timeout,
        metavar="S",
        help=f"UDP: cap on any attempt's timeout before jitter (default {policy.max_timeout:g})",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show each attempt and every ignored datagram on stderr"
    )
    secure = parser.add_argument_group("secure profiles")
    secure.add_argument("--key-file", metavar="FILE", help="sudp: the key file ('KEY_ID SECRET_HEX' lines)")
    secure.add_argument("--key-id", type=_argument_type(_positive_count, "N"), metavar="N", help="sudp: the key ID")
    secure.add_argument(
        "--sequence-file", metavar="FILE", help="sudp: keep the sequence's high-water mark here (survives restarts)"
    )
    secure.add_argument("--ca", metavar="FILE", help="tls: trust this CA file instead of the system's")
    secure.add_argument(
        "--insecure",
        action="store_true",
        help="tls: DO NOT verify the server's certificate or name (testing only; says so on stderr)",
    )
    parser.set_defaults(run=run)


def render_payload(payload: bytes, operation: int, *, as_hex: bool) -> str:
    """The text ``rrp call`` prints for a reply payload (without the final newline)."""
    if as_hex:
        return payload.hex()
    if operation == Op.INCREMENT and len(payload) == COUNTER_SIZE:
        return str(int.from_bytes(payload, "big"))
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.hex()
    # A hostile server must not get escape sequences into the user's terminal: only printable text is shown as such.
    if all(char.isprintable() or char in "\t\n" for char in text):
        return text.removesuffix("\n")
    return payload.hex()


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Carry out ``rrp call``; returns the exit status."""

    def usage_error(sentence: str) -> int:
        print(f"rrp call: error: {sentence}", file=sys.stderr)
        return ExitCode.USAGE

    if args.payload is not None and args.payload_hex is not None:
        return usage_error("give the payload as text or with --payload-hex, not both")
    payload: bytes = args.payload_hex if args.payload_hex is not None else os.fsencode(args.payload or "")
    if args.max_timeout < args.initial_timeout:
        return usage_error(
            f"--max-timeout ({args.max_timeout:g} s) must be at least --initial-timeout ({args.initial_timeout:g} s)"
        )
    policy = RetryPolicy(initial_timeout=args.initial_timeout, max_timeout=args.max_timeout, max_attempts=args.attempts)
    on_event = _print_event if args.verbose else ignore_event
    try:
        protection = _protection(args)
    except ValueError as error:
        return usage_error(str(error))
    try:
        reply = _call(args.url, args.operation, payload, policy, args.timeout, on_event, protection)
    except ValueError as error:
        return usage_error(str(error))
    except ErrorResult as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.ERROR_RESULT
    except TimedOut as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.TIMEOUT
    except ConnectionFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.CONNECTION
    text = render_payload(reply.payload, reply.operation, as_hex=args.hex)
    if text or args.hex:
        print(text)
    return ExitCode.OK


def _protection(args: argparse.Namespace) -> SecureClientKey | ssl.SSLContext | None:
    """The key (sudp) or TLS context (tls) the flags ask for; ``ValueError`` with one sentence when they do not fit."""
    scheme = args.url.scheme
    if scheme != "sudp" and (args.key_file or args.key_id or args.sequence_file):
        raise ValueError("--key-file, --key-id and --sequence-file go with a sudp:// URL")
    if scheme != "tls" and (args.ca or args.insecure):
        raise ValueError("--ca and --insecure go with a tls:// URL")
    if scheme == "sudp":
        if args.key_file is None or args.key_id is None:
            raise ValueError("a sudp:// URL needs --key-file FILE and --key-id N")
        keys = load_key_file(args.key_file)
        if args.key_id not in keys:
            raise ValueError(f"--key-file {args.key_file} has no key ID {args.key_id}")
        return client_key(args.key_id, keys[args.key_id], state_file=args.sequence_file)
    if scheme == "tls":
        if args.insecure:
            print("rrp call: WARNING: --insecure: the server's certificate and name are NOT verified", file=sys.stderr)
        try:
            return tls_client_context(cafile=args.ca, verify=not args.insecure)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"--ca {args.ca}: {getattr(error, 'strerror', None) or error}") from None
    return None


def _call(
    target: CallTarget,
    operation: int,
    payload: bytes,
    policy: RetryPolicy,
    timeout: float | None,
    on_event: EventObserver,
    protection: SecureClientKey | ssl.SSLContext | None = None,
) -> Reply:
    if target.transport is Transport.UDP:
        if isinstance(protection, SecureClientKey):
            udp = Client.secure_udp(target.host, target.port, protection, policy=policy, on_event=on_event)
        else:
            udp = Client.udp(target.host, target.port, policy=policy, on_event=on_event)
        with udp as client:
            return client.call(operation, payload, timeout=timeout)
    tls = protection if isinstance(protection, ssl.SSLContext) else None

    def connect(connect_timeout: float) -> Client:
        if tls is not None:
            return Client.tls(target.host, target.port, context=tls, connect_timeout=connect_timeout, on_event=on_event)
        return Client.tcp(target.host, target.port, connect_timeout=connect_timeout, on_event=on_event)

    if timeout is None:
        with connect(DEFAULT_CONNECT_TIMEOUT) as client:
            return client.call(operation, payload)
    # One deadline for the whole call: what the connect leaves is the reply's.
    deadline = time.monotonic() + timeout
    with connect(timeout) as client:
        return client.call(operation, payload, timeout=max(deadline - time.monotonic(), 0.001))


def _print_event(event: ClientEvent) -> None:
    print(event, file=sys.stderr, flush=True)
