"""``junit.xml``: one testcase per check, named by its requirement IDs, one testsuite per area.

FAIL is a ``<failure>``; NON-STRICT is a ``<failure>`` under ``--strict`` and
otherwise a pass with the finding in ``<system-out>``; SKIPPED and expected failures
are ``<skipped>``. Each testcase's ``<system-out>`` holds its wire log.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..outcomes import CheckResult, Outcome
from ..wirelog import render_log
from .model import RunReport


def _testcase(parent: ET.Element, result: CheckResult) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        name=f"{' '.join(result.requirements)}: {result.name}",
        classname=f"rrp.{result.area}",
        time=f"{result.duration:.3f}",
    )
    findings = "\n".join(f"{f.requirement}: expected {f.expected}; observed {f.observed}" for f in result.failures)
    if result.expected_failure and result.outcome is Outcome.FAIL:
        ET.SubElement(case, "skipped", message=f"expected failure: {findings}")
    elif result.outcome is Outcome.FAIL:
        failure = ET.SubElement(case, "failure", message=findings.splitlines()[0] if findings else "FAIL", type="FAIL")
        failure.text = findings
    elif result.outcome is Outcome.SKIPPED:
        ET.SubElement(case, "skipped", message=result.skip_reason)
    out = [f"outcome: {result.outcome.value}"]
    if result.outcome is Outcome.NON_STRICT:
        out.append(findings)
    out += [m.render() for m in result.measurements] + list(result.notes)
    if result.wire_log:
        out.append(render_log(result.wire_log))
    ET.SubElement(case, "system-out").text = "\n".join(out)


def render_junit(report: RunReport) -> str:
    """The whole ``junit.xml`` text."""
    root = ET.Element("testsuites", name=f"rrp-conformance {report.suite}", time=f"{report.duration:.3f}")
    for area in report.areas():
        results = [r for r in report.results if r.area == area]
        counts = report.counts(tuple(results))
        failures = sum(1 for r in results if r.outcome is Outcome.FAIL and not r.expected_failure)
        skipped = counts[Outcome.SKIPPED] + sum(1 for r in results if r.outcome is Outcome.FAIL and r.expected_failure)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{report.suite}.{area}",
            tests=str(len(results)),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
            time=f"{sum(r.duration for r in results):.3f}",
            timestamp=report.started,
        )
        for result in results:
            _testcase(suite, result)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
