"""The reports of a run, read back the way their users read them: junit.xml with junitparser against the structure
CI parsers document, results.json against its published JSON Schema, report.md's links, report.html, ``compare``.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from junitparser import JUnitXml

from rrp_conformance.cli import main
from rrp_conformance.coverage import coverage_rows, requirements_for
from rrp_conformance.outcomes import CheckResult, ExitCode, Failure, Measurement, Outcome
from rrp_conformance.reports import (
    RunReport,
    load_schema,
    render_html,
    render_json,
    render_junit,
    render_markdown,
    write_reports,
)
from rrp_conformance.reports.links import SPEC_SITE, requirement_url
from rrp_conformance.server.suite import GRADED_SIDES
from rrp_conformance.versions import current_versions
from rrp_conformance.wirelog import WireLog
from rrp_spec import VERSION, Op, pack_request

Validate = Callable[[dict[str, Any]], None]
ReadJunit = Callable[[str], JUnitXml]
Cases = Callable[[JUnitXml], dict[str, tuple[str, str | None]]]

TARGET = {
    "udp": {"host": "127.0.0.1", "port": 7373},
    "tcp": None,
    "secure_udp": {"host": "127.0.0.1", "port": 7374, "key_id": 1},
    "tls": None,
    "alt_address": "127.0.0.2",
    "claims": {
        "request_deadline_s": 2.0,
        "idle_timeout_s": 10.0,
        "send_timeout_s": 10.0,
        "udp_max_payload_bytes": 1200,
        "tcp_max_payload_bytes": 65536,
        "max_connections": 128,
        "max_connections_per_source": 16,
    },
}


def _log(marker: bytes) -> tuple[Any, ...]:
    log = WireLog()
    log.sent("udp 127.0.0.1:5 -> 127.0.0.1:7373", pack_request(Op.ECHO, 7, marker))
    return log.events


def _results() -> tuple[CheckResult, ...]:
    return (
        CheckResult("udp/pass", "Passes.", "udp", "udp", ("SRV-9",), Outcome.PASS, wire_log=_log(b"PASSLOG")),
        CheckResult(
            "udp/fail",
            "Fails.",
            "udp",
            "udp",
            ("SRV-1",),
            Outcome.FAIL,
            (Failure("SRV-1", "no reply to a reply", "a reply"),),
            wire_log=_log(b"FAILLOG"),
        ),
        CheckResult(
            "tcp/should",
            "Breaks a SHOULD.",
            "tcp",
            "tcp",
            ("TCP-SRV-12",),
            Outcome.NON_STRICT,
            (Failure("TCP-SRV-12", "BUSY", "served"),),
            wire_log=_log(b"SHOULDLOG"),
        ),
        CheckResult("tcp/skip", "Skips.", "tcp", "tcp", ("TCP-SRV-6",), Outcome.SKIPPED, skip_reason="no TCP"),
        CheckResult(
            "udp/known",
            "A known failure.",
            "udp",
            "udp",
            ("UDP-SRV-7",),
            Outcome.FAIL,
            (Failure("UDP-SRV-7", "one reply", "two"),),
            expected_failure=True,
        ),
        CheckResult(
            "udp/info",
            "Measures.",
            "udp",
            "udp",
            ("UDP-SRV-5",),
            Outcome.INFO,
            measurements=(Measurement("x", 1, "s"),),
        ),
    )


def _report(**changes: Any) -> RunReport:
    results = changes.pop("results", _results())
    covered: dict[str, list[str]] = {}
    for r in results:
        for rid in r.requirements:
            covered.setdefault(rid, []).append(r.name)
    fields: dict[str, Any] = {
        "suite": "server",
        "target": TARGET,
        "started": "2026-01-01T00:00:00+00:00",
        "duration": 1.5,
        "strict": False,
        "timeout_scale": 1.0,
        "results": results,
        "coverage": tuple(coverage_rows(requirements_for(GRADED_SIDES), covered, results)),
        "unreachable": {},
        "exit_code": ExitCode.FAILED,
    }
    return RunReport(**(fields | changes))


def test_junit_maps_every_outcome_and_carries_totals(read_junit: ReadJunit, junit_cases: Cases) -> None:
    xml = read_junit(render_junit(_report()))
    cases = junit_cases(xml)
    assert cases["SRV-9: udp/pass"] == ("pass", None)
    assert cases["SRV-1: udp/fail"] == ("Failure", "FAIL")
    assert cases["TCP-SRV-12: tcp/should"] == ("Failure", "NON-STRICT"), "a broken SHOULD must not look green"
    assert cases["TCP-SRV-6: tcp/skip"][0] == "Skipped"
    assert cases["UDP-SRV-7: udp/known"][0] == "Skipped"
    assert cases["UDP-SRV-5: udp/info"] == ("pass", None)
    assert (xml.tests, xml.failures, xml.errors) == (6, 2, 0)


def test_junit_holds_wire_logs_of_non_passing_checks_only_unless_asked(read_junit: ReadJunit) -> None:
    def outputs(text: str) -> dict[str, str]:
        return {case.name: case.system_out or "" for suite in read_junit(text) for case in suite}

    default = outputs(render_junit(_report()))
    assert "|FAILLOG|" in default["SRV-1: udp/fail"] and "|SHOULDLOG|" in default["TCP-SRV-12: tcp/should"]
    assert "PASSLOG" not in default["SRV-9: udp/pass"]
    assert "|PASSLOG|" in outputs(render_junit(_report(), all_logs=True))["SRV-9: udp/pass"]


def test_junit_states_the_versions_and_target_as_properties(read_junit: ReadJunit) -> None:
    suite = next(iter(read_junit(render_junit(_report()))))
    properties = {p.name: p.value for p in suite.properties()}  # type: ignore[no-untyped-call]
    versions = current_versions()
    assert properties["rrp-conformance version"] == versions.suite != "unknown"
    assert properties["rrp-spec version"] == versions.spec != "unknown"
    assert properties["protocol"] == f"RRP/{VERSION}"
    assert properties["target udp"] == "127.0.0.1:7373"


def test_an_unreachable_transport_and_an_interrupted_run_are_junit_errors(
    read_junit: ReadJunit, junit_cases: Cases
) -> None:
    report = _report(unreachable={"tcp": "cannot connect over TCP: refused"}, interrupted=True)
    xml = read_junit(render_junit(report))
    cases = junit_cases(xml)
    assert cases["tcp reachable"] == ("Error", "NOT GRADED")
    assert cases["run complete"] == ("Error", "NOT GRADED")
    assert xml.errors == 2


def test_results_json_validates_and_its_target_is_machine_readable(validate_results: Validate) -> None:
    doc = json.loads(render_json(_report()))
    validate_results(doc)
    assert doc["target"]["udp"] == {"host": "127.0.0.1", "port": 7373} and doc["target"]["tcp"] is None
    assert doc["target"]["claims"]["request_deadline_s"] == 2.0
    assert doc["versions"] == {"rrp_conformance": current_versions().suite, "rrp_spec": current_versions().spec,
                               "protocol": VERSION}  # fmt: skip
    assert doc["interrupted"] is False


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("target", "udp"), "127.0.0.1:7373"),  # a display label, not names and numbers
        (("checks", 0, "outcome"), "GREEN"),
        (("checks", 0, "requirements"), []),
        (("exit_status",), 7),
        (("versions",), {"rrp_conformance": "1"}),
        (("checks", 3, "skip_reason"), ""),  # a SKIPPED check must say why
    ],
)
def test_the_schema_rejects_a_wrong_report(path: tuple[Any, ...], value: Any) -> None:
    doc = json.loads(render_json(_report()))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(load_schema()).validate(doc)


def test_the_schema_names_every_outcome_the_suite_has() -> None:
    assert load_schema()["$defs"]["outcome"]["enum"] == [o.value for o in Outcome]
    written = [c for c in ExitCode if c not in (ExitCode.USAGE, ExitCode.INTERNAL_ERROR)]  # neither writes a report
    assert sorted(load_schema()["properties"]["exit_status"]["enum"]) == sorted(int(c) for c in written)


def test_report_md_links_every_requirement_id_to_the_site() -> None:
    markdown = render_markdown(_report())
    assert f"[SRV-1]({requirement_url('SRV-1')})" in markdown
    assert requirement_url("UDP-SRV-5") == f"{SPEC_SITE}requirements.html#udp-srv-5"
    linked = set(re.findall(r"\[([A-Z-]+-\d+)\]\(", markdown))
    mentioned = set(re.findall(r"(?<![\w#/-])([A-Z]+(?:-[A-Z]+)*-\d+)(?![\w-])", markdown))
    assert mentioned <= linked, f"requirement IDs without a link: {sorted(mentioned - linked)}"
    assert current_versions().line() in markdown


class _Page(HTMLParser):
    """What a browser would fetch, and the ids and links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.ids: set[str] = set()
        self.fragments: list[str] = []
        self.details: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "img", "iframe") and attributes.get("src"):
            self.fetched.append(str(attributes["src"]))
        if tag == "link":
            self.fetched.append(str(attributes.get("href")))
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        href = attributes.get("href") or ""
        if tag == "a" and href.startswith("#"):
            self.fragments.append(href[1:])
        if tag == "details":
            self.details[str(attributes["id"])] = str(attributes.get("class"))


def test_report_html_is_self_contained_and_indexes_every_check() -> None:
    text = render_html(_report())
    page = _Page()
    page.feed(text)
    assert page.fetched == [], "the page must load nothing"
    assert "@import" not in text and "url(" not in text
    assert set(page.fragments) <= page.ids, "every index link lands on a block of this page"
    assert page.details["check-tcp/should"] == "check b-NON-STRICT"
    assert {f"check-{r.name}" for r in _results()} <= set(page.fragments)
    assert "|FAILLOG|" in text and requirement_url("TCP-SRV-12").replace("&", "&amp;") in text


def test_write_reports_writes_all_four(tmp_path: Path, validate_results: Validate, read_junit: ReadJunit) -> None:
    paths = write_reports(_report(), tmp_path)
    assert sorted(p.name for p in paths) == ["junit.xml", "report.html", "report.md", "results.json"]
    validate_results(json.loads((tmp_path / "results.json").read_text()))
    read_junit((tmp_path / "junit.xml").read_text())


def _write_run(directory: Path, outcomes: dict[str, Outcome]) -> Path:
    results = tuple(
        CheckResult(name, "t", "udp", "udp", ("SRV-1",), outcome, skip_reason="x" if outcome is Outcome.SKIPPED else "")
        for name, outcome in outcomes.items()
    )
    write_reports(_report(results=results), directory)
    return directory / "results.json"


def test_compare_shows_implementations_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write_run(tmp_path / "impl-a", {"udp/one": Outcome.PASS, "udp/two": Outcome.FAIL})
    b = _write_run(tmp_path / "impl-b", {"udp/one": Outcome.PASS, "udp/two": Outcome.PASS, "udp/new": Outcome.INFO})
    page = tmp_path / "out" / "compare.html"
    assert main(["compare", str(a), str(b), "--html", str(page)]) == ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["check", "impl-a", "impl-b"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:] if line and not line.startswith("-")}
    assert rows["udp/two"] == ["FAIL", "PASS"] and rows["udp/new"] == ["-", "INFO"]
    assert rows["exit"] == ["status", "1", "1"]
    html = page.read_text()
    assert '<a href="../impl-a/report.html#check-udp/two">' in html
    assert main(["compare", str(a), str(b), "--differences"]) == ExitCode.OK
    differing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in differing[2:4]] == ["udp/two", "udp/new"] and differing[4].startswith("-")


def test_compare_refuses_a_file_that_is_not_a_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    assert main(["compare", str(bogus)]) == ExitCode.USAGE
    assert "not an rrp-conformance results.json" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "missing.json")]) == ExitCode.USAGE


def test_list_prints_the_selected_checks_without_a_target(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("--list opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    assert main(["server", "--list", "--select", "tcp", "--exclude", "TCP-SRV-5"]) == ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines[:-1]]
    assert names and all(name.startswith("tcp/") for name in names)
    assert not any("TCP-SRV-5" in line.split()[2].split(",") for line in lines[:-1])
    assert re.fullmatch(rf"{len(names)} of \d+ server checks", lines[-1])
    assert main(["client", "--list", "--select", "udp"]) == ExitCode.OK
    assert main(["server", "--list", "--select", "NOPE-" + "1"]) == ExitCode.USAGE


def test_the_schema_names_every_transport_a_check_has() -> None:
    from rrp_conformance.catalogue import SUITES

    transports = {check.transport for registry in SUITES.values() for check in registry}
    assert transports <= set(load_schema()["$defs"]["check"]["properties"]["transport"]["enum"])
