"""``rrp --version``: the reference's release, the spec's, and the protocol version."""

from __future__ import annotations

from importlib import metadata

import pytest

from rrp._cli.main import main


def test_version_names_the_reference_the_spec_and_the_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    expected = f"rrp {metadata.version('rrp')} (rrp-spec {metadata.version('rrp-spec')}, protocol RRP/1)\n"
    assert capsys.readouterr().out == expected
