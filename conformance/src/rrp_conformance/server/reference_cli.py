"""``rrp-conformance reference``: start the reference server (``rrp serve``), grade it, stop it.

This is what ``make conformance`` runs with no variables. The reference is started
as a subprocess on ephemeral ports with small settings (so the run is short), its
``listening udp HOST:PORT`` / ``listening tcp HOST:PORT`` lines are read from its
stdout, and the suite is run with claims matching the settings it was given. The
suite imports the reference only here, to derive the command line and the claims
from the reference's own settings declaration (see :func:`reference_plan`).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrp_spec.addresses import format_address

from ..suite import DEFAULT_REPORT_DIR, UsageError, add_common_arguments, list_checks, options_from_args
from .env import (
    ASSUMED_FROM,
    DEFAULT_ALT_ADDRESS,
    OPTIONAL_CLAIMS,
    Address,
    SecureTarget,
    ServerClaims,
    ServerEnv,
    TlsTarget,
    parse_listening_address,
)
from .suite import SERVER_CHECKS, grade_server

#: Seconds to wait for the reference to print its listening lines.
STARTUP_TIMEOUT = 10.0
_LISTENING = re.compile(r"^listening (udp|tcp|sudp|tls) (\S+)\s*$")


#: The reference server's settings for a graded run, where they differ from its defaults: short timeouts so the
#: run is short, and room for the slowloris check's 100 stalled connections plus the fresh client.
REFERENCE_OVERRIDES: dict[str, float] = {
    "request_deadline": 1.0,
    "idle_timeout": 2.0,
    "send_timeout": 2.0,
    "max_connections": 128,
    "max_connections_per_source": 16,
    "dedup_entries": 4096,  # a cache the dedup-flood check can overflow in a fraction of a second
    # A budget the memory-budget check fills with a few full-size requests held open (8 of the default payload
    # limit), quickly enough for a loaded machine within the short request deadline: the default budget would take
    # more connections than this run's limit, and as many full payloads read by the reference within that deadline.
    "memory_budget": 8 << 20,
}
#: Where the reference listens: loopback only. UDP listens on one port of two loopback addresses, the one graded
#: and the suite's alternate address, so the source-address check (UDP-SRV-6) can send to a second address of
#: the server without the server listening on every address of the machine.
LOOPBACK = "127.0.0.1"
#: How many free ports to try for the two UDP sockets before grading without the alternate address.
_PORT_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ReferencePlan:
    """How the reference is started, and so what the suite is told it claims."""

    #: The command line that starts ``rrp serve``.
    command: list[str]
    #: The claims, read from the very settings object the command line was derived from.
    claims: ServerClaims
    #: The listening lines to wait for, one per profile started.
    profiles: tuple[str, ...] = ("udp", "tcp")


def reference_plan() -> ReferencePlan:
    """The reference's command line and claims, both derived from its own settings declaration.

    This is the only place the suite imports the reference (``rrp``), and only when this subcommand runs:
    grading someone else's server needs nothing but ``rrp_spec``. Importing it here, rather than typing
    ``rrp serve``'s flag names and defaults into the suite, means a renamed flag or a changed default
    cannot leave the suite claiming settings the reference does not have.
    """
    try:
        from rrp import ServerSettings
        from rrp._cli.serve import setting_arguments
    except ImportError:
        raise UsageError(
            "the reference server (Python package 'rrp') is not installed: install its wheel beside this one "
            "(pip install rrp-conformance[reference]), or run 'make venv' in a checkout"
        ) from None
    settings = ServerSettings(**REFERENCE_OVERRIDES)  # type: ignore[arg-type]
    claimed = [*ASSUMED_FROM, *OPTIONAL_CLAIMS]  # every setting, claimed
    claims = ServerClaims(**{name: getattr(settings, name) for name in claimed})
    # The same interpreter as the import above, so the server run is the code the claims were read from.
    command = [sys.executable, "-m", "rrp", "serve", *listen_arguments(), *setting_arguments(settings)]
    return ReferencePlan(command, claims)


def listen_arguments() -> list[str]:
    """``rrp serve``'s address flags: TCP on a free loopback port, UDP on one free port of two loopback addresses.

    The port is found by binding it on both addresses and letting go; if another program takes it in between,
    the reference fails to start with a clear message, and the run can simply be repeated. Where the alternate
    address cannot be bound (not every system routes all of 127/8 to loopback), UDP listens on 127.0.0.1 alone
    and the source-address check skips, saying why.
    """
    udp = [LOOPBACK]
    port = 0
    for _ in range(_PORT_ATTEMPTS):
        found = _port_free_on(LOOPBACK, DEFAULT_ALT_ADDRESS)
        if found is not None:
            udp, port = [LOOPBACK, DEFAULT_ALT_ADDRESS], found
            break
    arguments = [item for host in udp for item in ("--udp", format_address((host, port)))]
    return [*arguments, "--tcp", format_address((LOOPBACK, 0))]


def _port_free_on(first: str, second: str) -> int | None:
    """A UDP port free on both addresses right now, or ``None`` (the second address cannot be bound, or a clash)."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as one,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as two,
    ):
        one.bind((first, 0))
        port = int(one.getsockname()[1])
        try:
            two.bind((second, port))
        except OSError:
            return None
        return port


def _read_listening(process: subprocess.Popen[bytes], timeout: float, count: int) -> dict[str, Address]:
    """Read stdout until ``count`` listening lines arrived; ``UsageError`` if the reference dies or stays silent."""
    assert process.stdout is not None
    found: dict[str, Address] = {}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while len(found) < count:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise UsageError(f"the reference server printed no listening lines within {timeout:g} s")
            line = process.stdout.readline().decode(errors="replace")
            if not line:
                raise UsageError(f"the reference server exited with status {process.wait()} before listening")
            match = _LISTENING.match(line)
            if match:  # the first socket of each transport is the graded one (UDP's second is the alternate)
                found.setdefault(match.group(1), parse_listening_address(match.group(2)))
    return found


def add_parser(subparsers: Any) -> None:
    """Register ``reference``."""
    parser = subparsers.add_parser(
        "reference",
        help="start the reference server (rrp serve), grade it and stop it",
        description="Start `rrp serve` on ephemeral loopback ports with small settings, grade it, stop it.",
    )
    add_common_arguments(parser)
    parser.set_defaults(run=run)


#: The key ID the reference's RRP/1-S port is graded with.
REFERENCE_KEY_ID = 1
#: The name on the reference's throwaway TLS certificate.
TLS_SERVER_NAME = "localhost"


@dataclass(frozen=True, slots=True)
class SecureProfiles:
    """The secure profiles a reference run serves: the flags that start them, and what the suite holds for them."""

    #: ``rrp serve`` flags.
    arguments: list[str]
    #: The RRP/1-S master secret of :data:`REFERENCE_KEY_ID`.
    secret: bytes
    #: The CA that issued the TLS certificate, for the suite to verify it with (``None``: TLS not served).
    ca_file: Path | None

    @classmethod
    def in_directory(cls, directory: Path) -> SecureProfiles:
        """Fresh keys and a certificate for one run, written under ``directory`` (throwaway, never reused).

        TLS is served when trustme (the ``secure`` extra) is installed to make its certificate.
        """
        secret = secrets.token_bytes(32)
        key_file = directory / "keys.txt"
        key_file.write_text(f"{REFERENCE_KEY_ID} {secret.hex()}\n")
        key_file.chmod(0o600)
        arguments = ["--secure-udp", "127.0.0.1:0", "--key-file", str(key_file)]
        try:
            import trustme
        except ImportError:
            return cls(arguments, secret, None)
        ca = trustme.CA()
        chain, key, ca_file = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
        leaf = ca.issue_cert(TLS_SERVER_NAME, "127.0.0.1")
        for index, blob in enumerate(leaf.cert_chain_pems):
            blob.write_to_path(str(chain), append=index > 0)
        leaf.private_key_pem.write_to_path(str(key))
        ca.cert_pem.write_to_path(str(ca_file))
        arguments += ["--tls", "127.0.0.1:0", "--tls-cert", str(chain), "--tls-key", str(key)]
        return cls(arguments, secret, ca_file)

    @property
    def profiles(self) -> tuple[str, ...]:
        """The listening lines these flags add."""
        return ("sudp", "tls") if self.ca_file is not None else ("sudp",)

    def secure_target(self, listening: dict[str, Address]) -> SecureTarget:
        """The RRP/1-S target, once the reference has said where it listens."""
        return SecureTarget.with_secret(listening["sudp"], REFERENCE_KEY_ID, self.secret)

    def tls_target(self, listening: dict[str, Address]) -> TlsTarget | None:
        """The TLS target, verified with the run's CA, once the reference has said where it listens."""
        if self.ca_file is None:
            return None
        return TlsTarget(listening["tls"], str(self.ca_file), TLS_SERVER_NAME)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Start, grade and stop the reference server."""
    if args.list:
        return list_checks("server", list(SERVER_CHECKS), options_from_args(args).selection)
    with tempfile.TemporaryDirectory(prefix="rrp-reference-") as directory:
        return _run(args, SecureProfiles.in_directory(Path(directory)))


def _run(args: argparse.Namespace, secure: SecureProfiles) -> int:
    plan = reference_plan()
    command = [*plan.command, *secure.arguments]
    report_dir = args.report_dir or DEFAULT_REPORT_DIR
    report_dir.mkdir(parents=True, exist_ok=True)
    log_path = report_dir / "reference-server.log"
    print("starting:", " ".join(command), f"(its log: {log_path})", flush=True)
    # Unbuffered: a Python program writing to a pipe would otherwise hold its listening lines back.
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            # bufsize=0: select() on the pipe and readline() must agree on what has arrived.
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            bufsize=0,
            start_new_session=True,
            env=environment,
        )
    try:
        listening = _read_listening(process, STARTUP_TIMEOUT, count=len(plan.profiles) + len(secure.profiles))
        env = ServerEnv(
            listening["udp"],
            listening["tcp"],
            plan.claims,
            DEFAULT_ALT_ADDRESS,
            secure=secure.secure_target(listening),
            tls=secure.tls_target(listening),
        )
        report = grade_server(env, options_from_args(args))
        if process.poll() is not None:
            print(f"the reference server exited during the run with status {process.returncode}", file=sys.stderr)
        return int(report.exit_code)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
