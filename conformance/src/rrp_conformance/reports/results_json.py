"""``results.json``: the machine-readable result of a run, schema ``rrp-conformance/2``.

Its JSON Schema is ``results.schema.json`` in this package (:data:`SCHEMA_FILE`, read
with :func:`load_schema`); every report the tests write is validated against it.
Within a schema version fields are only ever added; version 2 made ``target``
machine-readable (names and numbers: ``{"udp": {"host": "127.0.0.1", "port": 7000},
"claims": {"idle_timeout_s": 2.0, ...}}``, ``null`` for a transport not graded) and
added ``versions`` and ``interrupted``. Top level::

    schema        "rrp-conformance/2"
    versions      {rrp_conformance: string, rrp_spec: string, protocol: int}
    suite         "server" | "client"
    target        object                  what was graded and the settings it claims (per suite, see the schema)
    started       ISO 8601 UTC string
    duration_s    number
    strict        bool
    timeout_scale number
    interrupted   bool                    true when Ctrl-C stopped the run (exit_status 130): checks are missing
    exit_status   int                     0 ok, 1 a MUST failed, 3 not graded, 130 interrupted (see ExitCode)
    unreachable   {transport: reason}
    counts        {"PASS"|"FAIL"|"NON-STRICT"|"SKIPPED"|"INFO": int}
    capture       string                  the pcapng beside the reports ("" when none was written)
    checks        [check]
    coverage      [{requirement, level, side, transport, coverage, checks: [name], verdict: outcome|null,
                    not_observable: string|null}]

Each check::

    name, title, area, transport   strings
    requirements                   [requirement ID]
    outcome                        "PASS" | "FAIL" | "NON-STRICT" | "SKIPPED" | "INFO"
    expected_failure               bool (marked with --expect-fail; never counted in exit_status)
    skip_reason                    string ("" unless SKIPPED)
    failures                       [{requirement, level, expected, observed}]
    measurements                   [{name, value, unit, note}]
    notes                          [string]
    duration_s                     number
    wire_log                       [{t, direction: "sent"|"received"|"event", channel, length, hex, note}]
                                   (hex holds at most the first 256 bytes of each event)
    frames                         [int]: the check's frame numbers in the run's pcapng (top-level ``capture``)
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from ..outcomes import CheckResult
from .model import RunReport

#: The value of the ``schema`` field.
SCHEMA = "rrp-conformance/2"
#: The JSON Schema of ``results.json``, shipped inside the package.
SCHEMA_FILE = "results.schema.json"


def load_schema() -> dict[str, Any]:
    """The JSON Schema every ``results.json`` of this suite version validates against."""
    schema: dict[str, Any] = json.loads(files(__package__).joinpath(SCHEMA_FILE).read_text())
    return schema


def _check(result: CheckResult, frames: tuple[int, ...]) -> dict[str, Any]:
    return {
        "name": result.name,
        "title": result.title,
        "area": result.area,
        "transport": result.transport,
        "requirements": list(result.requirements),
        "outcome": result.outcome.value,
        "expected_failure": result.expected_failure,
        "skip_reason": result.skip_reason,
        "failures": [
            {"requirement": f.requirement, "level": f.level.value, "expected": f.expected, "observed": f.observed}
            for f in result.failures
        ],
        "measurements": [
            {"name": m.name, "value": m.value, "unit": m.unit, "note": m.note} for m in result.measurements
        ],
        "notes": list(result.notes),
        "duration_s": round(result.duration, 6),
        "wire_log": [
            {
                "t": round(e.time, 6),
                "direction": e.direction.value,
                "channel": e.channel,
                "length": e.length,
                "hex": e.data.hex(),
                "note": e.note,
            }
            for e in result.wire_log
        ],
        "frames": list(frames),
    }


def to_json(report: RunReport) -> dict[str, Any]:
    """The ``results.json`` document as a dict."""
    return {
        "schema": SCHEMA,
        "versions": {
            "rrp_conformance": report.versions.suite,
            "rrp_spec": report.versions.spec,
            "protocol": report.versions.protocol,
        },
        "suite": report.suite,
        "target": dict(report.target),
        "started": report.started,
        "duration_s": round(report.duration, 3),
        "strict": report.strict,
        "timeout_scale": report.timeout_scale,
        "interrupted": report.interrupted,
        "exit_status": int(report.exit_code),
        "unreachable": dict(report.unreachable),
        "counts": {o.value: n for o, n in report.counts().items()},
        "capture": report.capture,
        "checks": [_check(r, report.frames.get(r.name, ())) for r in report.results],
        "coverage": [
            {
                "requirement": row.requirement.id,
                "level": row.requirement.level.value,
                "side": row.requirement.side.value,
                "transport": row.requirement.transport.value,
                "coverage": row.coverage.value,
                "checks": list(row.checks),
                "verdict": row.verdict.value if row.verdict else None,
                "not_observable": row.requirement.not_observable,
            }
            for row in report.coverage
        ],
    }


def render_json(report: RunReport) -> str:
    """The whole ``results.json`` text."""
    return json.dumps(to_json(report), indent=1) + "\n"
