"""The Conformance page's timing audit, rendered from the rows the conformance checks declare beside themselves."""

from __future__ import annotations

from .markdown import PageContext, cell, code, requirement_link, table


def timing_audit(ctx: PageContext) -> str:
    """One row per timing check: its requirement, the spec's bound, where it probes, and how its margin errs."""
    from rrp_conformance.catalogue import SUITES  # declaring the checks declares their audit rows
    from rrp_conformance.timing_audit import AUDIT

    checks = {(suite, check.name) for suite, registry in SUITES.items() for check in registry}
    rows = []
    for r in sorted(AUDIT, key=lambda r: (r.suite != "server", r.requirement)):
        if (r.suite, r.check) not in checks:
            raise KeyError(f"the timing audit names {r.suite} check {r.check}, which does not exist")
        link = requirement_link(r.requirement, ctx)
        name = f"{r.suite}: {code(r.check)}"
        rows.append([name, link, r.kind.value, cell(r.spec_bound), cell(r.probe), cell(r.margin)])
    return table(["check", "requirement", "bound", "the spec sets", "the check probes", "its margin errs"], rows)
