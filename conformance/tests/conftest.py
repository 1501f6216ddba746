"""Report validators every conformance test can use: results.json against its published JSON Schema, and
junit.xml against the structure Jenkins' and GitLab's JUnit parsers document, read with junitparser.

Fixtures rather than a helper module: tests are imported with ``--import-mode=importlib``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from rrp_conformance.reports import load_schema

#: What the JUnit schema of Jenkins' xUnit plugin (junit-10.xsd, the one GitLab's docs point to as well)
#: allows: element -> (required attributes, allowed attributes, allowed children). Restated from its
#: documentation as rules, not copied.
JUNIT_RULES: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": (set(), {"name", "time", "tests", "failures", "errors"}, {"testsuite"}),
    "testsuite": (
        {"name", "tests", "failures", "errors"},
        {
            "name",
            "tests",
            "failures",
            "errors",
            "group",
            "time",
            "skipped",
            "timestamp",
            "hostname",
            "id",
            "package",
            "file",
            "log",
            "url",
        },
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, {"name", "value"}, set()),
    "testcase": (
        {"name"},
        {"name", "time", "classname", "group"},
        {"skipped", "error", "failure", "system-out", "system-err"},
    ),
    "failure": (set(), {"type", "message"}, set()),
    "error": (set(), {"type", "message"}, set()),
    "skipped": (set(), {"type", "message"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}
#: The schema's time type: a decimal number of seconds.
_TIME = re.compile(r"^[0-9]+(\.[0-9]*)?$")


def _check_element(element: ET.Element, problems: list[str]) -> None:
    rules = JUNIT_RULES.get(element.tag)
    if rules is None:
        problems.append(f"<{element.tag}> is not a JUnit element")
        return
    required, allowed, children = rules
    problems += [f"<{element.tag}> lacks {a}" for a in sorted(required - set(element.attrib))]
    problems += [
        f"<{element.tag}> has {a}, which the schema does not allow" for a in sorted(set(element.attrib) - allowed)
    ]
    if "time" in element.attrib and not _TIME.match(element.attrib["time"]):
        problems.append(f"<{element.tag}> time {element.attrib['time']!r} is not a number of seconds")
    for count in ("tests", "failures", "errors", "skipped"):
        if count in element.attrib and not element.attrib[count].isdigit():
            problems.append(f"<{element.tag}> {count} {element.attrib[count]!r} is not a count")
    for child in element:
        if child.tag not in children:
            problems.append(f"<{child.tag}> may not appear inside <{element.tag}>")
        _check_element(child, problems)


def junit_problems(text: str) -> list[str]:
    """Every way ``text`` breaks the documented JUnit structure, totals included; empty when it validates."""
    root = ET.fromstring(text)
    problems: list[str] = []
    if root.tag != "testsuites":
        problems.append(f"the root is <{root.tag}>, not <testsuites>")
    _check_element(root, problems)
    suites = list(root.iter("testsuite"))
    for suite in suites:
        cases = suite.findall("testcase")
        actual = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        for key, value in actual.items():
            if suite.get(key, str(value)) != str(value):
                problems.append(f"testsuite {suite.get('name')} says {key}={suite.get(key)}, holds {value}")
    for key in ("tests", "failures", "errors"):
        total = sum(int(s.get(key, "0")) for s in suites)
        if root.get(key) != str(total):
            problems.append(f"<testsuites> says {key}={root.get(key)}, its testsuites add up to {total}")
    return problems


@pytest.fixture
def validate_results() -> Callable[[dict[str, Any]], None]:
    """Validate a results.json document against the published schema (raises ``ValidationError``)."""
    validator = jsonschema.Draft202012Validator(
        load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )

    def validate(document: dict[str, Any]) -> None:
        validator.validate(document)

    return validate


@pytest.fixture
def read_junit() -> Callable[[str], JUnitXml]:
    """Check a junit.xml text against the documented structure, then parse it with junitparser."""

    def read(text: str) -> JUnitXml:
        assert junit_problems(text) == []
        return JUnitXml.fromstring(text)

    return read


def case_results(xml: JUnitXml) -> dict[str, tuple[str, str | None]]:
    """testcase name -> (the junitparser result class, its type attribute), ``("pass", None)`` for a pass."""
    found: dict[str, tuple[str, str | None]] = {}
    for suite in xml:
        for case in suite:
            results = [r for r in case.result if isinstance(r, Failure | Error | Skipped)]
            found[case.name] = (type(results[0]).__name__, results[0].type) if results else ("pass", None)
    return found


@pytest.fixture
def junit_cases() -> Callable[[JUnitXml], dict[str, tuple[str, str | None]]]:
    """:func:`case_results` as a fixture."""
    return case_results
