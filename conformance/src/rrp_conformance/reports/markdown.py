"""``report.md``: the summary by area, every failure with expected vs observed and its wire log, and coverage.

Every requirement ID links to its row in the catalogue on the published spec site.
"""

from __future__ import annotations

from ..coverage import Coverage
from ..outcomes import CheckResult, ExitCode, Outcome
from ..wirelog import render_log
from .links import markdown_link
from .model import RunReport, target_rows

_EXIT_MEANING = {
    ExitCode.OK: "no MUST failed",
    ExitCode.FAILED: "at least one MUST failed",
    ExitCode.UNREACHABLE: "a transport asked for was not graded: unreachable, or not an RRP server",
    ExitCode.INTERRUPTED: "the run was stopped by Ctrl-C; this report is partial",
}


def _links(requirements: tuple[str, ...] | list[str]) -> str:
    return ", ".join(markdown_link(r) for r in requirements)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _summary(report: RunReport) -> list[str]:
    outcomes = list(Outcome)
    lines = ["| area | " + " | ".join(o.value for o in outcomes) + " |", "|---" * (len(outcomes) + 1) + "|"]
    for area in report.areas():
        counts = report.counts(tuple(r for r in report.results if r.area == area))
        lines.append(f"| {area} | " + " | ".join(str(counts[o]) for o in outcomes) + " |")
    total = report.counts()
    lines.append("| **total** | " + " | ".join(f"**{total[o]}**" for o in outcomes) + " |")
    return lines


def _failure_section(result: CheckResult, packets: str) -> list[str]:
    marker = " (expected failure)" if result.expected_failure else ""
    lines = [
        f"### {result.outcome.value}{marker}: `{result.name}`",
        "",
        f"{result.title} Covers {_links(result.requirements)}.",
        "",
        "| requirement | level | expected | observed |",
        "|---|---|---|---|",
    ]
    for f in result.failures:
        lines.append(
            f"| {markdown_link(f.requirement)} | {f.level.value} | {_cell(f.expected)} | {_cell(f.observed)} |"
        )
    lines.append("")
    for note in result.notes:
        lines.append(f"- {note}")
    for m in result.measurements:
        lines.append(f"- {m.render()}")
    if packets:
        lines += [
            "",
            f"Packets: {packets} (open it in Wireshark with the RRP dissector; the first one names this check).",
        ]
    lines += ["", "Wire log:", "", "```text", render_log(result.wire_log) or "(no traffic)", "```", ""]
    return lines


def render_markdown(report: RunReport) -> str:
    """The whole ``report.md``."""
    lines = [f"# {report.versions.protocol_name} conformance report: {report.suite}", ""]
    if report.interrupted:
        lines += ["**INTERRUPTED:** the run was stopped by Ctrl-C; checks after that point did not run.", ""]
    lines += [f"- graded by {report.versions.line()}"]
    lines += [f"- {label}: `{value}`" for label, value in target_rows(report.target)]
    lines += [
        f"- started {report.started}, took {report.duration:.1f} s, timeout scale {report.timeout_scale:g}, "
        f"{'strict' if report.strict else 'not strict'}",
        f"- exit status {int(report.exit_code)}: {_EXIT_MEANING.get(report.exit_code, '')}",
        "",
    ]
    for transport, why in report.unreachable.items():
        lines.append(f"**{transport} not graded:** {why}")
        lines.append("")
    lines += ["## Summary", "", *_summary(report), ""]
    bad = [r for r in report.results if r.outcome in (Outcome.FAIL, Outcome.NON_STRICT)]
    lines += ["## Failures", ""]
    if not bad:
        lines += ["None.", ""]
    for result in bad:
        lines += _failure_section(result, report.packets(result.name))
    measured = [r for r in report.results if r.measurements]
    if measured:
        lines += ["## Measurements", "", "| check | measurement |", "|---|---|"]
        lines += [f"| `{r.name}` | {_cell('; '.join(m.render() for m in r.measurements))} |" for r in measured]
        lines.append("")
    lines += ["## Every check", "", "| check | requirements | outcome | time | remark |", "|---|---|---|---|---|"]
    for r in report.results:
        remark = r.skip_reason or "; ".join(r.notes)
        outcome = r.outcome.value + (" (expected)" if r.expected_failure and r.outcome is Outcome.FAIL else "")
        lines.append(f"| `{r.name}` | {_links(r.requirements)} | {outcome} | {r.duration:.2f} s | {_cell(remark)} |")
    lines += ["", "## Requirement coverage", "", "| requirement | level | coverage | checks | verdict |"]
    lines.append("|---|---|---|---|---|")
    for row in report.coverage:
        req = row.requirement
        if row.coverage is Coverage.NOT_OBSERVABLE:
            how = f"not observable: {req.not_observable}"
        else:
            how = ", ".join(f"`{n}`" for n in row.checks) or "**none**"
        verdict = row.verdict.value if row.verdict else "-"
        lines.append(
            f"| {markdown_link(req.id)} | {req.level.value} | {row.coverage.value} | {_cell(how)} | {verdict} |"
        )
    return "\n".join(lines) + "\n"
