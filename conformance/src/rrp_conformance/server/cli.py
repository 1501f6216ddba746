"""``rrp-conformance server``: grade a running server by its addresses and the settings it claims."""

from __future__ import annotations

import argparse
from typing import Any

from rrp_spec import MAX_REQUEST_DEADLINE, MAX_SEND_TIMEOUT, MAX_UDP_PAYLOAD
from rrp_spec.secure_wire import KeyFileError, read_key_file

from ..suite import (
    ASSUMPTION_POLICY,
    UsageError,
    add_common_arguments,
    list_checks,
    options_from_args,
    positive_float,
    positive_int,
)
from .env import DEFAULT_ALT_ADDRESS, Address, SecureTarget, ServerClaims, ServerEnv, TlsTarget, parse_address
from .suite import SERVER_CHECKS, grade_server


def address(text: str) -> Address:
    """argparse type for HOST:PORT."""
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_claim_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that state the target's settings; what an absent one is assumed to be is :data:`ASSUMPTION_POLICY`."""
    d = ServerClaims()
    group = parser.add_argument_group(
        "the target's claimed settings (the suite verifies them)", f"Unclaimed, {ASSUMPTION_POLICY}."
    )
    group.add_argument(
        "--request-deadline",
        type=positive_float,
        default=None,
        metavar="S",
        help=f"whole-request deadline over TCP (at most, and unclaimed assumed, {MAX_REQUEST_DEADLINE:g})",
    )
    group.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help=f"idle timeout between TCP requests (unclaimed: {d.idle_timeout:g})",
    )
    group.add_argument(
        "--send-timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help=f"how long a blocked TCP write may last (at most, and unclaimed assumed, {MAX_SEND_TIMEOUT:g})",
    )
    group.add_argument(
        "--max-payload",
        type=positive_int,
        default=None,
        metavar="N",
        help="payload limit for both transports (shorthand for the two flags below)",
    )
    group.add_argument(
        "--udp-max-payload",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"UDP payload limit (unclaimed: {d.udp_max_payload})",
    )
    group.add_argument(
        "--tcp-max-payload",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"TCP payload limit (unclaimed: {d.tcp_max_payload})",
    )
    group.add_argument(
        "--max-connections",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"concurrent TCP connection limit (unclaimed: {d.max_connections})",
    )
    group.add_argument(
        "--max-connections-per-source",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"per-source TCP connection limit (unclaimed: {d.max_connections_per_source})",
    )
    group.add_argument(
        "--dedup-entries",
        type=positive_int,
        default=None,
        metavar="N",
        help="entries the UDP duplicate-reply cache holds (unclaimed: the cache-flood check is skipped)",
    )
    group.add_argument(
        "--memory-budget",
        type=positive_int,
        default=None,
        metavar="BYTES",
        help="request payloads being collected plus replies not yet sent that all TCP connections together may "
        "hold, TCP-SRV-14 (unclaimed: the memory-budget check is skipped)",
    )


def claims_from_args(args: argparse.Namespace) -> ServerClaims:
    """The claims the flags state, the rest assumed; :class:`UsageError` for impossible ones."""
    udp_max = args.udp_max_payload or (min(args.max_payload, MAX_UDP_PAYLOAD) if args.max_payload else None)
    tcp_max = args.tcp_max_payload or args.max_payload
    if udp_max is not None and udp_max > MAX_UDP_PAYLOAD:
        raise UsageError(f"--udp-max-payload {udp_max} is more than one datagram can carry ({MAX_UDP_PAYLOAD})")
    if args.request_deadline is not None and args.request_deadline > MAX_REQUEST_DEADLINE:
        raise UsageError(
            f"--request-deadline {args.request_deadline:g} breaks TCP-SRV-5 (at most {MAX_REQUEST_DEADLINE:g} s)"
        )
    if args.send_timeout is not None and args.send_timeout > MAX_SEND_TIMEOUT:
        raise UsageError(f"--send-timeout {args.send_timeout:g} breaks TCP-SRV-10 (at most {MAX_SEND_TIMEOUT:g} s)")
    given = {
        "request_deadline": args.request_deadline,
        "idle_timeout": args.idle_timeout,
        "send_timeout": args.send_timeout,
        "udp_max_payload": udp_max,
        "tcp_max_payload": tcp_max,
        "max_connections": args.max_connections,
        "max_connections_per_source": args.max_connections_per_source,
    }
    claimed = {name: value for name, value in given.items() if value is not None}
    optional = {"dedup_entries": args.dedup_entries, "memory_budget": args.memory_budget}
    return ServerClaims(**claimed, **optional, claimed=frozenset(claimed))


def add_parser(subparsers: Any) -> None:
    """Register ``server``."""
    parser = subparsers.add_parser(
        "server",
        help="grade a running RRP server",
        description="Grade a running RRP/1 server over UDP and/or TCP; an omitted transport's checks are SKIPPED.",
    )
    parser.add_argument("--udp", type=address, metavar="HOST:PORT", help="the server's UDP address")
    parser.add_argument("--tcp", type=address, metavar="HOST:PORT", help="the server's TCP address")
    parser.add_argument(
        "--alt-address",
        default=DEFAULT_ALT_ADDRESS,
        metavar="ADDR",
        help=f"a second local address of a wildcard-bound target, for the reply-source check and "
        f"as extra loopback sources (default {DEFAULT_ALT_ADDRESS})",
    )
    secure = parser.add_argument_group("the secure profiles (their checks are SKIPPED when not given)")
    secure.add_argument("--secure-udp", type=address, metavar="HOST:PORT", help="the server's RRP/1-S UDP address")
    secure.add_argument("--psk-id", type=positive_int, metavar="N", help="the key ID the suite seals with")
    secure.add_argument("--psk-file", metavar="FILE", help="a key file ('KEY_ID SECRET_HEX' lines) holding --psk-id")
    secure.add_argument("--tls", type=address, metavar="HOST:PORT", help="the server's RRP/1-over-TLS address")
    secure.add_argument(
        "--tls-ca", metavar="FILE", help="verify the TLS certificate with this CA (default: unverified)"
    )
    secure.add_argument("--tls-server-name", metavar="NAME", help="the name its certificate carries (and SNI)")
    add_claim_arguments(parser)
    add_common_arguments(parser)
    parser.set_defaults(run=run)


def secure_targets_from(args: argparse.Namespace) -> tuple[SecureTarget | None, TlsTarget | None]:
    """The secure profiles the flags name; ``UsageError`` with one sentence when they are incomplete."""
    secure = None
    if args.secure_udp is not None:
        if args.psk_id is None or args.psk_file is None:
            raise UsageError("--secure-udp needs --psk-id N and --psk-file FILE (the key the suite seals with)")
        try:
            keys = read_key_file(args.psk_file)
        except (OSError, KeyFileError) as error:
            raise UsageError(f"--psk-file: {getattr(error, 'strerror', None) or error}") from None
        if args.psk_id not in keys:
            raise UsageError(f"--psk-file {args.psk_file} has no key ID {args.psk_id}")
        try:
            secure = SecureTarget.with_secret(args.secure_udp, args.psk_id, keys[args.psk_id])
        except ImportError:
            needs = "grading RRP/1-S needs the cryptography package: pip install 'rrp-conformance[secure]'"
            raise UsageError(needs) from None
    elif args.psk_id is not None or args.psk_file is not None:
        raise UsageError("--psk-id and --psk-file go with --secure-udp HOST:PORT")
    tls = TlsTarget(args.tls, args.tls_ca, args.tls_server_name) if args.tls is not None else None
    return secure, tls


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Grade the server the arguments name."""
    if args.list:
        return list_checks("server", list(SERVER_CHECKS), options_from_args(args).selection)
    if args.udp is None and args.tcp is None and args.secure_udp is None and args.tls is None:
        parser.error("give --udp HOST:PORT, --tcp HOST:PORT, --secure-udp HOST:PORT or --tls HOST:PORT")
    try:
        secure, tls = secure_targets_from(args)
    except UsageError as error:
        parser.error(str(error))
    env = ServerEnv(args.udp, args.tcp, claims_from_args(args), args.alt_address, secure=secure, tls=tls)
    return int(grade_server(env, options_from_args(args)).exit_code)
