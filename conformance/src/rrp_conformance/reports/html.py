"""``report.html``: the whole run in one self-contained page, in the spirit of Autobahn|Testsuite's reports.

A colour-coded index of every check by area and of every graded requirement, then each
check as an expandable block holding its findings and its annotated wire log. The page
loads nothing: its style and its few lines of script are inline, so it opens from disk,
from a CI artifact or from an e-mail. Requirement IDs link to the published spec site.
"""

from __future__ import annotations

import html
from importlib.resources import files

from ..coverage import Coverage
from ..outcomes import CheckResult, ExitCode, Outcome
from ..wirelog import Direction, WireEvent, render_event
from .links import html_link
from .model import RunReport, target_rows

#: Events of one check's wire log shown in the page (the rest are counted); results.json keeps them all.
MAX_EVENTS = 400
#: Opens the check a link points at (a closed <details> would hide its own target).
_SCRIPT = """
function openTarget() {
  const id = decodeURIComponent(location.hash.slice(1));
  const target = id && document.getElementById(id);
  if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
}
window.addEventListener("hashchange", openTarget);
window.addEventListener("DOMContentLoaded", openTarget);
"""
_BANNER = {
    ExitCode.OK: ("ok", "no MUST failed"),
    ExitCode.FAILED: ("failed", "at least one MUST failed"),
    ExitCode.UNREACHABLE: ("unreachable", "a transport asked for was not graded"),
    ExitCode.INTERRUPTED: ("interrupted", "interrupted by Ctrl-C: this report is partial"),
}


def _e(text: object) -> str:
    return html.escape(str(text))


def check_anchor(name: str) -> str:
    """The id of a check's block: ``check-`` + its name (slashes are valid in ids and fragments)."""
    return f"check-{name}"


def _badge(result: CheckResult) -> str:
    expected = result.expected_failure and result.outcome in (Outcome.FAIL, Outcome.NON_STRICT)
    label = result.outcome.value + (" (expected)" if expected else "")
    return f'<span class="o o-{result.outcome.value}{" expected" if expected else ""}">{_e(label)}</span>'


def _outcome_badge(outcome: Outcome | None) -> str:
    if outcome is None:
        return '<span class="muted">not run</span>'
    return f'<span class="o o-{outcome.value}">{outcome.value}</span>'


def _wire_log(events: tuple[WireEvent, ...]) -> str:
    if not events:
        return '<p class="muted">No traffic.</p>'
    parts = []
    for event in events[:MAX_EVENTS]:
        css = "verdict" if event.direction is Direction.EVENT and event.channel == "verdict" else event.direction.value
        parts.append(f'<span class="{css}">{_e(chr(10).join(render_event(event)))}</span>')
    more = len(events) - MAX_EVENTS
    tail = f"\n... {more} more events (all of them are in results.json)" if more > 0 else ""
    return '<pre class="wire">' + "\n".join(parts) + _e(tail) + "</pre>"


def _check_block(result: CheckResult, packets: str) -> str:
    reqs = ", ".join(html_link(r) for r in result.requirements)
    body = [f"<p>{_e(result.title)} Covers {reqs}. Transport {_e(result.transport)}.</p>"]
    if packets:
        body.append(f"<p><strong>Packets:</strong> {_e(packets)} (Wireshark, with the RRP dissector).</p>")
    if result.skip_reason:
        body.append(f"<p><strong>Skipped:</strong> {_e(result.skip_reason)}</p>")
    if result.failures:
        rows = "".join(
            f"<tr><td>{html_link(f.requirement)}</td><td>{f.level.value}</td><td>{_e(f.expected)}</td>"
            f"<td>{_e(f.observed)}</td></tr>"
            for f in result.failures
        )
        body.append(
            '<div class="wrap"><table><tr><th>requirement</th><th>level</th><th>expected</th><th>observed</th></tr>'
            f"{rows}</table></div>"
        )
    items = [m.render() for m in result.measurements] + list(result.notes)
    if items:
        body.append("<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>")
    body.append(_wire_log(result.wire_log))
    summary = (
        f"{_badge(result)} <code>{_e(result.name)}</code> "
        f'<span class="muted">{_e(", ".join(result.requirements))} · {result.duration:.2f} s</span>'
    )
    return (
        f'<details class="check b-{result.outcome.value}" id="{_e(check_anchor(result.name))}">'
        f"<summary>{summary}</summary><div>{''.join(body)}</div></details>"
    )


def _tile(result: CheckResult) -> str:
    return (
        f'<a class="tile o-{result.outcome.value}" href="#{_e(check_anchor(result.name))}" '
        f'title="{_e(result.outcome.value)}: {_e(result.title)}">{_e(result.name)}</a>'
    )


def _summary_table(report: RunReport) -> str:
    outcomes = list(Outcome)
    head = "".join(f'<th><span class="o o-{o.value}">{o.value}</span></th>' for o in outcomes)
    rows = []
    for area in report.areas():
        counts = report.counts(tuple(r for r in report.results if r.area == area))
        rows.append(f"<tr><td>{_e(area)}</td>" + "".join(f"<td>{counts[o]}</td>" for o in outcomes) + "</tr>")
    total = report.counts()
    rows.append("<tr><th>total</th>" + "".join(f"<th>{total[o]}</th>" for o in outcomes) + "</tr>")
    return f'<div class="wrap"><table><tr><th>area</th>{head}</tr>{"".join(rows)}</table></div>'


def _requirement_index(report: RunReport) -> str:
    rows = []
    for row in report.coverage:
        req = row.requirement
        if row.coverage is Coverage.NOT_OBSERVABLE:
            checks = f'<span class="muted">not observable: {_e(req.not_observable)}</span>'
        else:
            checks = " ".join(f'<a href="#{_e(check_anchor(n))}"><code>{_e(n)}</code></a>' for n in row.checks)
        rows.append(
            f"<tr><td>{html_link(req.id)}</td><td>{req.level.value}</td><td>{_outcome_badge(row.verdict)}</td>"
            f"<td>{checks or '<strong>none</strong>'}</td></tr>"
        )
    return (
        '<div class="wrap"><table><tr><th>requirement</th><th>level</th><th>verdict</th><th>checks</th></tr>'
        + "".join(rows)
        + "</table></div>"
    )


def render_html(report: RunReport) -> str:
    """The whole ``report.html`` text."""
    css = files(__package__).joinpath("report.css").read_text()
    kind, meaning = _BANNER[report.exit_code]
    title = f"{report.versions.protocol_name} conformance report: {report.suite}"
    target = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in target_rows(report.target))
    notices = [f'<div class="banner {kind}">exit status {int(report.exit_code)}: {_e(meaning)}</div>']
    notices += [
        f'<div class="banner unreachable">{_e(t.upper())} not graded: {_e(why)}</div>'
        for t, why in report.unreachable.items()
    ]
    areas = []
    index = []
    for area in report.areas():
        results = [r for r in report.results if r.area == area]
        tiles = "".join(_tile(r) for r in results)
        index.append(
            f'<tr><td><a href="#area-{_e(area)}">{_e(area)}</a></td><td><div class="tiles">{tiles}</div></td></tr>'
        )
        areas.append(
            f'<h3 id="area-{_e(area)}">{_e(area)}</h3>'
            + "".join(_check_block(r, report.packets(r.name)) for r in results)
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{css}</style>
<script>{_SCRIPT}</script>
</head><body>
<h1>{_e(title)}</h1>
<p class="muted">Graded by {_e(report.versions.line())}. Started {_e(report.started)}, took {report.duration:.1f} s,
timeout scale {report.timeout_scale:g}, {"strict" if report.strict else "not strict"}.</p>
{"".join(notices)}
<div class="wrap"><table>{target}</table></div>
<h2 id="summary">Summary</h2>
{_summary_table(report)}
<h2 id="index">Checks by area</h2>
<p class="muted">Each tile is one check, coloured by its outcome; click it for its findings and wire log.</p>
<div class="wrap"><table>{"".join(index)}</table></div>
<h2 id="requirements">Requirements</h2>
{_requirement_index(report)}
<h2 id="checks">Every check</h2>
{"".join(areas)}
</body></html>
"""
