"""``junit.xml``: one testcase per check, named by its requirement IDs, one testsuite per area.

The layout is the one Jenkins' JUnit/xUnit plugins and GitLab's test report parser
read: a ``<testsuites>`` root carrying the run's totals (tests, failures, errors, time), ``<testsuite>`` elements with
``name``/``tests``/``failures``/``errors``/``skipped``, ``<properties>`` only on a
testsuite, and inside a ``<testcase>`` only ``<failure>``, ``<error>``, ``<skipped>``,
``<system-out>`` and ``<system-err>``.

How outcomes map:

- FAIL is a ``<failure type="FAIL">``.
- NON-STRICT (only SHOULDs broken) is a ``<failure type="NON-STRICT">``, also without
  ``--strict``: a dashboard must not show green where the target broke a SHOULD, and
  both dashboards show a failure's type and message, where a property is not shown
  per testcase at all (the schema allows properties on testsuites only). The exit
  status still ignores NON-STRICT unless ``--strict``; ``--expect-fail`` turns a
  known one into a skip.
- SKIPPED, and failures marked with ``--expect-fail``, are ``<skipped>``.
- A transport that did not pass the first sanity probe (unreachable, or not an RRP
  server), and a run stopped by Ctrl-C, are each one ``<error>`` testcase in the
  testsuite ``<suite>.run``: a CI job that graded nothing must not look green.

Wire logs go into ``<system-out>`` of checks that did not pass (FAIL, NON-STRICT,
expected failures); ``all_logs`` puts them on every check.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..outcomes import CheckResult, Outcome
from ..wirelog import render_log
from .model import RunReport, target_rows

#: The ``type`` attribute of each ``<failure>``.
FAILURE_TYPES = {Outcome.FAIL: "FAIL", Outcome.NON_STRICT: "NON-STRICT"}
#: The area name of the testsuite holding run-level errors (unreachable transports, an interrupted run).
RUN_AREA = "run"


def _findings(result: CheckResult) -> str:
    return "\n".join(
        f"{f.requirement} ({f.level.value}): expected {f.expected}; observed {f.observed}" for f in result.failures
    )


def _did_not_pass(result: CheckResult) -> bool:
    return result.outcome in FAILURE_TYPES


def _testcase(parent: ET.Element, result: CheckResult, packets: str, *, all_logs: bool) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        name=f"{' '.join(result.requirements)}: {result.name}",
        classname=f"rrp.{result.area}",
        time=f"{result.duration:.3f}",
    )
    findings = _findings(result)
    first = findings.splitlines()[0] if findings else result.outcome.value
    if result.expected_failure and _did_not_pass(result):
        ET.SubElement(case, "skipped", message=f"expected failure ({result.outcome.value}): {first}")
    elif _did_not_pass(result):
        failure = ET.SubElement(case, "failure", message=first, type=FAILURE_TYPES[result.outcome])
        failure.text = findings
    elif result.outcome is Outcome.SKIPPED:
        ET.SubElement(case, "skipped", message=result.skip_reason)
    out = [f"outcome: {result.outcome.value}", result.title]
    out += [m.render() for m in result.measurements] + list(result.notes)
    if packets and (all_logs or _did_not_pass(result)):
        out.append(f"packets: {packets}")
    if result.wire_log and (all_logs or _did_not_pass(result)):
        out += ["", "wire log:", render_log(result.wire_log)]
    ET.SubElement(case, "system-out").text = "\n".join(out)


def _run_errors(report: RunReport) -> list[tuple[str, str]]:
    """(testcase name, message) for every run-level problem: unreachable transports, an interrupted run."""
    errors = [(f"{transport} reachable", why) for transport, why in report.unreachable.items()]
    if report.interrupted:
        errors.append(("run complete", "the run was stopped by Ctrl-C: later checks did not run"))
    return errors


def _properties(parent: ET.Element, report: RunReport) -> None:
    properties = ET.SubElement(parent, "properties")
    rows = [
        ("rrp-conformance version", report.versions.suite),
        ("rrp-spec version", report.versions.spec),
        ("protocol", report.versions.protocol_name),
        ("strict", str(report.strict).lower()),
        ("timeout scale", f"{report.timeout_scale:g}"),
        ("interrupted", str(report.interrupted).lower()),
        ("exit status", str(int(report.exit_code))),
        *((f"target {label}", value) for label, value in target_rows(report.target)),
    ]
    for name, value in rows:
        ET.SubElement(properties, "property", name=name, value=value)


def render_junit(report: RunReport, *, all_logs: bool = False) -> str:
    """The whole ``junit.xml`` text."""
    # The root takes only the totals the schema gives it (tests, failures, errors; skips are per testsuite).
    totals = {"tests": 0, "failures": 0, "errors": 0}
    root = ET.Element(
        "testsuites", name=f"rrp-conformance {report.suite} ({report.versions.line()})", time=f"{report.duration:.3f}"
    )
    groups: list[tuple[str, list[CheckResult]]] = [
        (area, [r for r in report.results if r.area == area]) for area in report.areas()
    ]
    errors = _run_errors(report)
    if errors:
        groups.insert(0, (RUN_AREA, []))
    for area, results in groups:
        counts = {
            "tests": len(results) + (len(errors) if area == RUN_AREA else 0),
            "failures": sum(1 for r in results if _did_not_pass(r) and not r.expected_failure),
            "errors": len(errors) if area == RUN_AREA else 0,
            "skipped": sum(
                1 for r in results if r.outcome is Outcome.SKIPPED or (r.expected_failure and _did_not_pass(r))
            ),
        }
        attributes = {"name": f"{report.suite}.{area}", **{key: str(value) for key, value in counts.items()}}
        attributes |= {"time": f"{sum(r.duration for r in results):.3f}", "timestamp": report.started}
        suite = ET.SubElement(root, "testsuite", attributes)
        _properties(suite, report)
        if area == RUN_AREA:
            for name, message in errors:
                case = ET.SubElement(suite, "testcase", name=name, classname=f"rrp.{RUN_AREA}", time="0.000")
                ET.SubElement(case, "error", message=message, type="NOT GRADED").text = message
        for result in results:
            _testcase(suite, result, report.packets(result.name), all_logs=all_logs)
        for key in totals:
            totals[key] += counts[key]
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
