"""The Wireshark page: the dissector's fields and expert infos, and tshark's own decoding of a real run.

The tables come from the generator (``rrp_wireshark``), so they list exactly what
the downloadable dissector shows. The decoded exchange is tshark's output over the
capture that ``make docs`` records while grading the reference implementation,
produced when the site is built. Without that capture (a build that graded nothing)
or without tshark the page says so in a warning box; in CI (``CI=true``), where
tshark is installed, a missing tshark fails the build instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rrp_wireshark import EXPERT_RULES, SECURE_EXPERT_RULES, dissector_fields, render_dissector, secure_fields
from rrp_wireshark.tshark import find_tshark, run_tshark

from .conformance_pages import REFERENCE_RESULTS
from .markdown import PageContext, cell, code, requirement_link, table

#: The dissector's name in the site's downloads.
DISSECTOR_DOWNLOAD = "rrp.lua"


class DecodingUnavailable(Exception):
    """tshark or the reference run's capture is missing; the message says which."""


class TsharkMissing(DecodingUnavailable):
    """tshark is not installed: a failure in CI, a marked gap elsewhere."""


def fields_table(*, secure: bool = False) -> str:
    """Every display-filter field of the dissector (``secure``: of its RRP/1-S part) and what it shows."""
    fields = secure_fields() if secure else dissector_fields()
    return table(["Filter field", "Shows"], [[code(f.abbreviation), cell(f.description)] for f in fields])


def experts_table(ctx: PageContext, *, secure: bool = False) -> str:
    """Every expert info (``secure``: of the RRP/1-S part), its severity and the requirements it names."""
    rows = [
        [
            code(rule.abbreviation),
            rule.severity.value.capitalize(),
            cell(rule.summary),
            ", ".join(requirement_link(rid, ctx) for rid in rule.requirements),
        ]
        for rule in (SECURE_EXPERT_RULES if secure else EXPERT_RULES)
    ]
    return table(["Expert info", "Severity", "Means", "Requirements"], rows)


def _required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("RRP_REQUIRE_TSHARK") == "1"


def _decode(check: str, results_path: Path, dissector: Path) -> str:
    tshark = find_tshark()
    if tshark is None:
        raise TsharkMissing("tshark is not installed on the machine that built this site")
    if not results_path.is_file():
        raise DecodingUnavailable(f"the reference run's {results_path.name} was not found (make docs writes it)")
    results: dict[str, Any] = json.loads(results_path.read_text())
    capture = results_path.parent / str(results.get("capture", ""))
    frames: list[int] = next((c.get("frames", []) for c in results["checks"] if c["name"] == check), [])
    if not results.get("capture") or not capture.is_file() or not frames:
        raise DecodingUnavailable(f"the reference run's capture has no packets of {check}")
    # results.json's target (schema rrp-conformance/2) names each address: {"host": ..., "port": ...}.
    ports = {transport: str(results["target"][transport]["port"]) for transport in ("udp", "tcp")}
    arguments = ["-d", f"udp.port=={ports['udp']},rrp", "-d", f"tcp.port=={ports['tcp']},rrp"]
    selected = ["-Y", f"frame.number >= {frames[0]} && frame.number <= {frames[-1]}"]
    summary = run_tshark(tshark, dissector, capture, [*arguments, *selected])
    details = run_tshark(tshark, dissector, capture, [*arguments, *selected, "-O", "rrp"])
    return "\n".join(
        [
            f"`tshark -2 -X lua_script:rrp.lua -r capture.pcapng -d udp.port==PORT,rrp -d tcp.port==PORT,rrp` "
            f"over the packets of check `{check}` (frames {frames[0]}-{frames[-1]}), the packet list:",
            "",
            "```text",
            summary.rstrip(),
            "```",
            "",
            "and the same packets with the RRP layer expanded (`-O rrp`):",
            "",
            "```text",
            _without_blank_headers(details).rstrip(),
            "```",
        ]
    )


def _without_blank_headers(text: str) -> str:
    """tshark's ``-O`` output with the empty ``Packet comments`` headings it prints for collapsed comments."""
    return "\n".join(line for line in text.splitlines() if line != "Packet comments")


def decoded_exchange(check: str, results_path: Path | None = None) -> str:
    """tshark's decoding of one check of the reference run, run now; a warning box when it cannot run."""
    results_path = results_path or REFERENCE_RESULTS
    try:
        with tempfile.TemporaryDirectory() as directory:
            dissector = Path(directory) / DISSECTOR_DOWNLOAD
            dissector.write_text(render_dissector())
            return _decode(check, results_path, dissector)
    except DecodingUnavailable as missing:
        if isinstance(missing, TsharkMissing) and _required():
            raise RuntimeError(f"the Wireshark page needs tshark's output in CI, but {missing}") from missing
        return (
            '!!! warning "Not decoded in this build"\n'
            f"    The decoded exchange of `{check}` is missing because {missing}. A site built by CI (or by "
            "`make docs` with tshark installed) shows tshark's own output here."
        )
