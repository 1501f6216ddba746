"""The front door: what the suite assumes, stated on every report, and where the docs and tools say reports go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrp_conformance.cli import main
from rrp_conformance.suite import ASSUMPTION_POLICY, CLIENT_REPORT_DIR, DEFAULT_REPORT_DIR

REPO = Path(__file__).resolve().parents[2]


def test_the_docs_and_the_makefile_name_the_report_directories_the_tools_write() -> None:
    conformance_page = (REPO / "docs" / "pages" / "conformance.md").read_text()
    readme = (REPO / "conformance" / "README.md").read_text()
    for text in (conformance_page, readme):
        assert f"`{DEFAULT_REPORT_DIR}/`" in text and f"`{CLIENT_REPORT_DIR}/`" in text
    for line in (REPO / "Makefile").read_text().splitlines():
        words = line.split()
        if "rrp-conformance" not in line or "--report-dir" not in words or "reference-conformance" in line:
            continue  # make docs keeps the site's reference run apart on purpose
        chosen = Path(words[words.index("--report-dir") + 1])
        assert chosen == (CLIENT_REPORT_DIR if " client " in line else DEFAULT_REPORT_DIR), line


def test_every_report_starts_with_the_assumption_policy_and_names_each_assumed_setting(tmp_path: Path) -> None:
    """A target that claims only its idle timeout: every other setting is listed as assumed, with why."""
    argv = ["server", "--tcp", "127.0.0.1:9", "--idle-timeout", "3", "--select", "tcp/pipelined"]
    main([*argv, "--report-dir", str(tmp_path)])  # nothing listens there: exit 3, but the reports are written
    target = json.loads((tmp_path / "results.json").read_text())["target"]
    assert target["unclaimed_settings"] == ASSUMPTION_POLICY
    assert target["claims"]["idle_timeout_s"] == 3 and target["claims"]["request_deadline_s"] == 10
    assumed = " ".join(target["assumed"])
    assert "request_deadline: the spec's maximum, TCP-SRV-5" in assumed and "idle_timeout" not in assumed
    assert "send_timeout: the spec's maximum, TCP-SRV-10" in assumed
    report = (tmp_path / "report.md").read_text()
    assert ASSUMPTION_POLICY in report


@pytest.mark.parametrize("suite", ["server", "client"])
def test_each_suite_says_its_default_report_directory_in_its_usage(
    suite: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([suite, "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert f"default {DEFAULT_REPORT_DIR if suite == 'server' else CLIENT_REPORT_DIR}/" in usage


#: Requirements that set a time (a deadline, a timeout, a window, a schedule): every check of one is audited.
TIMED = {"UDP-SRV-8", "TCP-SRV-5", "TCP-SRV-6", "TCP-SRV-10", "TCP-SRV-15", "UDP-CLI-4", "UDP-CLI-6", "TCP-CLI-2"}


def test_every_timing_check_is_in_the_timing_audit_and_every_row_is_a_check() -> None:
    from rrp_conformance.catalogue import SUITES
    from rrp_conformance.timing_audit import AUDIT, BoundKind

    checks = {(suite, check.name): check for suite, registry in SUITES.items() for check in registry}
    rows = {(row.suite, row.check): row for row in AUDIT}
    timed = {key for key, check in checks.items() if check.requirements[0] in TIMED}
    assert timed <= set(rows), f"timing checks missing from the audit: {sorted(timed - set(rows))}"
    for row in AUDIT:
        assert row.requirement in checks[row.suite, row.check].requirements, row.check
        if row.kind is BoundKind.MINIMUM:
            assert "against the target" in row.margin or "never scaled" in row.margin, row.check
