"""The requirement catalogue as the site shows it: normative lists on the spec page, the anchored catalogue table."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from rrp_spec import REQUIREMENTS, Level, Requirement
from rrp_spec.requirements import AREAS

from .markdown import PageContext, cell, requirement_anchor, requirement_link, table

#: Section titles of the catalogue's areas (the ID without its number), in the order the catalogue presents them.
#: Section titles of the catalogue's areas, from the spec.
AREA_TITLES: dict[str, str] = AREAS


def areas() -> list[str]:
    """The catalogue's areas in first-appearance order; ``KeyError`` when one has no section title here."""
    seen: list[str] = []
    for r in REQUIREMENTS:
        if r.area not in AREA_TITLES:
            raise KeyError(f"requirement area {r.area!r} has no title in rrp_spec.requirements.AREAS")
        if r.area not in seen:
            seen.append(r.area)
    return seen


def in_area(area: str) -> list[Requirement]:
    """The requirements of ``area``, in catalogue order; ``KeyError`` for an area with none."""
    found = [r for r in REQUIREMENTS if r.area == area]
    if not found:
        raise KeyError(f"no requirement in area {area!r}")
    return found


def requirement_list(area: str, ctx: PageContext) -> str:
    """The normative statements of one area, each led by its linked ID."""
    return "\n".join(f"- **{requirement_link(r.id, ctx)}** {r.text}" for r in in_area(area))


def _id_cell(r: Requirement) -> str:
    anchor = requirement_anchor(r.id)
    # A raw HTML anchor: the row is the target of links from every other page and from reports.
    return f'<a id="{anchor}" class="rrp-anchor" href="#{anchor}">{html.escape(r.id)}</a>'


def _level_cell(level: Level) -> str:
    return f'<span class="rrp-level rrp-level-{level.value.lower()}">{level.value}</span>'


def catalogue_tables(coverage: Mapping[str, Sequence[str]] | None) -> str:
    """The whole catalogue, one table per area under its own heading.

    ``coverage`` maps requirement IDs to the conformance checks that cover them;
    ``None`` leaves the column out (no check registry to read it from).
    """
    sections = []
    for area in areas():
        headers = ["ID", "Level", "Side", "Transport", "Requirement", "Prevents"]
        if coverage is not None:
            headers.append("Conformance checks")
        rows = []
        for r in in_area(area):
            text = cell(r.text)
            if r.not_observable:
                text += f"<br><small>*Not observable from outside:* {cell(r.not_observable)}</small>"
            row = [_id_cell(r), _level_cell(r.level), r.side.value, r.transport.value, text, cell(r.prevents)]
            if coverage is not None:
                checks = coverage.get(r.id, ())
                listed = "<br>".join(f"<code>{_breakable(c)}</code>" for c in checks)
                if checks:
                    row.append(f'<span class="rrp-checks">{listed}</span>')
                else:
                    row.append("none: not observable from outside" if r.not_observable else "**none**")
            rows.append(row)
        anchor = f"area-{area.lower()}"
        catalogue = f'<div class="rrp-catalogue" markdown>\n\n{table(headers, rows)}\n\n</div>'
        sections.append(f"## {AREA_TITLES[area]} ({area}) {{#{anchor}}}\n\n{catalogue}")
    return "\n\n".join(sections)


def _breakable(name: str) -> str:
    """A check name that wraps only after a slash (or at a space), never inside a part: ``tcp/`` ``slow-drip``.

    The parts are unbreakable spans rather than text with non-breaking hyphens, so that a name copied from
    the page is still the name ``--select`` takes.
    """
    parts = name.split("/")
    spans = [f"{html.escape(part)}/" for part in parts[:-1]] + [html.escape(parts[-1])]
    return "<wbr>".join(f'<span class="rrp-nobreak">{span}</span>' for span in spans)


def catalogue_summary() -> str:
    """Counts per area and level, each area linked to its table."""
    rows = []
    for area in areas():
        reqs = in_area(area)
        counts = [str(sum(1 for r in reqs if r.level is level)) for level in Level]
        rows.append([f"[{area}](#area-{area.lower()})", AREA_TITLES[area], *counts, str(len(reqs))])
    totals = [str(sum(1 for r in REQUIREMENTS if r.level is level)) for level in Level]
    rows.append(["**All**", "", *totals, f"**{len(REQUIREMENTS)}**"])
    return table(["Area", "Binds", *(level.value for level in Level), "Total"], rows)
