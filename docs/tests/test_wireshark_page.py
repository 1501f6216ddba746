"""The Wireshark page: its tables come from the generator, its decoded exchange is tshark's, its download is current."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from rrp_conformance.cli import main as conformance
from rrp_conformance.outcomes import ExitCode
from rrp_docs.built_site import BuiltSite
from rrp_docs.markdown import PageContext
from rrp_docs.wireshark_pages import DISSECTOR_DOWNLOAD, decoded_exchange, experts_table, fields_table
from rrp_wireshark import EXPERT_RULES, dissector_fields, render_dissector
from rrp_wireshark.tshark import find_tshark

CTX = PageContext("wireshark.md")
#: Set in CI, where tshark is installed: there the decoded exchange must be tshark's, never the warning box.
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("RRP_REQUIRE_TSHARK") == "1"
CHECKS = ("udp/retransmission", "tcp/pipelined")


def test_tables_list_every_field_and_expert_with_its_requirements() -> None:
    fields = fields_table()
    assert all(f"<code>{f.abbreviation}</code>" in fields for f in dissector_fields())
    experts = experts_table(CTX)
    for rule in EXPERT_RULES:
        assert f"<code>{rule.abbreviation}</code>" in experts
        assert all(f"[{rid}](requirements.md#{rid.lower()}" in experts for rid in rule.requirements)


def test_a_build_without_a_capture_says_so_instead_of_inventing_output(tmp_path: Path) -> None:
    text = decoded_exchange("udp/retransmission", results_path=tmp_path / "results.json")
    assert text.startswith('!!! warning "Not decoded in this build"')
    assert "udp/retransmission" in text


@pytest.mark.skipif(shutil.which("rrp") is None and not Path(sys.executable).with_name("rrp").exists(), reason="no rrp")
def test_the_decoded_exchange_is_tshark_output_over_a_real_run(tmp_path: Path) -> None:
    if find_tshark() is None:
        if REQUIRED:
            pytest.fail("tshark is required in CI (Debian: apt-get install tshark) but is not on PATH")
        pytest.skip("no tshark on PATH")
    selected = ["--select", *CHECKS, "--timeout-scale", "2", "--report-dir", str(tmp_path)]
    assert conformance(["reference", *selected]) == ExitCode.OK
    retransmission = decoded_exchange("udp/retransmission", results_path=tmp_path / "results.json")
    assert "Request INCREMENT" in retransmission and "Reply INCREMENT OK" in retransmission
    assert "[Retransmission of: " in retransmission and "[Request in: " in retransmission
    assert "[Time: " in retransmission and "Counter: " in retransmission
    pipelined = decoded_exchange("tcp/pipelined", results_path=tmp_path / "results.json")
    assert pipelined.count("; Request ECHO") == 2, "three requests in one segment, on one line"


def test_the_site_offers_the_dissector_as_generated_now(site: BuiltSite) -> None:
    assert (site.root / "downloads" / DISSECTOR_DOWNLOAD).read_text() == render_dissector()
    assert site.path("wireshark").is_file()
