"""``rrp-conformance`` itself: ``--version``, and a crash of the suite is never mistaken for a verdict."""

from __future__ import annotations

import argparse
from importlib import metadata

import pytest

from rrp_conformance import cli
from rrp_conformance.outcomes import ExitCode
from rrp_conformance.server import cli as server_cli


def test_version_names_the_suite_the_spec_and_the_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    suite, spec = metadata.version("rrp-conformance"), metadata.version("rrp-spec")
    assert capsys.readouterr().out == f"rrp-conformance {suite} (rrp-spec {spec}, protocol RRP/1)\n"


def test_a_crash_inside_the_suite_exits_70_never_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
        raise FileNotFoundError("rrp-v1.json")

    monkeypatch.setattr(server_cli, "run", crash)  # what `server` runs, as a bug in any check would
    status = cli.main(["server", "--udp", "127.0.0.1:7373"])
    assert status == ExitCode.INTERNAL_ERROR
    assert int(status) == 70
    err = capsys.readouterr().err
    assert "FileNotFoundError: rrp-v1.json" in err  # the traceback, for the bug report
    assert "internal error (exit status 70): this is a bug in the suite, not a verdict on the target" in err
