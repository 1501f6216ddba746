"""`rrp-conformance reference` starts the reference with a command line and claims derived from its own settings."""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import subprocess
import sys
from dataclasses import fields

from rrp import ServerSettings
from rrp._cli import main as cli_main
from rrp._cli.serve import settings_from
from rrp_conformance.server.env import ASSUMED_FROM, DEFAULT_ALT_ADDRESS, OPTIONAL_CLAIMS, ServerClaims
from rrp_conformance.server.reference_cli import REFERENCE_OVERRIDES, reference_plan
from rrp_spec.addresses import parse_address


def _parsed_settings(command: list[str]) -> ServerSettings:
    """The settings `rrp serve` would run with, parsed by its own parser from the plan's command line."""
    assert command[1:4] == ["-m", "rrp", "serve"]
    args = cli_main.build_parser().parse_args(command[3:])
    assert isinstance(args, argparse.Namespace)
    settings, problems = settings_from(args)
    assert settings is not None, problems
    return settings


def test_the_reference_command_line_sets_every_setting_the_suite_claims() -> None:
    """Every claim is a setting of the reference, and the server started by the command line has the claimed value."""
    plan = reference_plan()
    settings = _parsed_settings(plan.command)
    declared = {item.name for item in fields(ServerSettings)}
    for name in [*ASSUMED_FROM, *OPTIONAL_CLAIMS]:  # every setting a target can claim
        assert name in declared, f"the suite claims {name}, which the reference has no setting for"
        assert getattr(settings, name) == getattr(plan.claims, name), name
    assert {*ASSUMED_FROM, *OPTIONAL_CLAIMS} == {f.name for f in fields(ServerClaims)} - {"claimed"}
    for name, value in REFERENCE_OVERRIDES.items():
        assert getattr(settings, name) == value


def test_grading_other_servers_does_not_import_the_reference() -> None:
    """The suite depends on rrp_spec only: loading its command line, every subcommand included, imports no rrp."""
    code = "import sys, rrp_conformance.cli; sys.exit(any(m.split('.')[0] == 'rrp' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


def test_the_reference_listens_on_loopback_only() -> None:
    """No wildcard: UDP on one port of 127.0.0.1 and the suite's alternate loopback address, TCP on 127.0.0.1."""
    command = reference_plan().command
    listening = [
        (flag, parse_address(value)) for flag, value in itertools.pairwise(command) if flag in ("--udp", "--tcp")
    ]
    assert all(ipaddress.ip_address(host).is_loopback for _, (host, _) in listening), listening
    udp = [address for flag, address in listening if flag == "--udp"]
    assert [host for host, _ in udp] == ["127.0.0.1", DEFAULT_ALT_ADDRESS]
    assert udp[0][1] == udp[1][1] != 0  # one port on both, so the alternate address reaches the same server


def test_without_the_reference_installed_reference_says_so_in_one_sentence() -> None:
    """`rrp-conformance reference` in a Python where `rrp` cannot be imported: a usage error naming the fix."""
    code = (
        "import sys; sys.modules['rrp'] = None\n"
        "from rrp_conformance.suite import UsageError\n"
        "from rrp_conformance.server.reference_cli import reference_plan\n"
        "try:\n    reference_plan()\nexcept UsageError as error:\n    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert "the reference server (Python package 'rrp') is not installed" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1
